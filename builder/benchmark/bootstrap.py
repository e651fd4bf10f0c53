"""Percentile bootstrap over groups, vectorised: resampling whole groups (prompts, questions) with
replacement is the same as giving each group a multinomial multiplicity, so every statistic below is
computed for a block of resamples at once from per-group sums (1,000 resamples of 4,000 episodes in
milliseconds, where calling scikit-learn once per resample took seconds per score).

Memory is bounded by the block, not by the number of groups: the multiplicities come in blocks of resamples
of about BLOCK_CELLS numbers (a 140k-row release has ~100k prompt groups: all 1,000 resamples at once would be
800 MB, and the AUC's [groups, score values] tables more). Every sum is of whole counts, exact in float64, so
the intervals do not depend on the block size."""

from __future__ import annotations

from typing import Iterator

import numpy as np

RESAMPLES = 1_000
BLOCK_CELLS = 1 << 20  # numbers in one block of multiplicities (8 MiB)


def group_index(groups: np.ndarray) -> tuple[np.ndarray, int]:
    """(episode -> group number, how many groups)."""
    _, index = np.unique(groups, return_inverse=True)
    return index, int(index.max()) + 1 if len(index) else 0


def multiplicity_blocks(count: int, seed: int, resamples: int = RESAMPLES, width: int = 0) -> Iterator[np.ndarray]:
    """Blocks of [resamples in the block, `count` groups]: how often each group is drawn. The draws are one
    seeded stream, whatever the block size; `width` is any other table width a block is multiplied into (it
    bounds the block as well)."""
    rows = max(1, min(resamples, BLOCK_CELLS // max(count, width, 1)))
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, rows):
        draws = rng.integers(0, count, size=(min(rows, resamples - start), count))
        yield np.stack([np.bincount(drawn, minlength=count) for drawn in draws]).astype(np.float64)


def percentile_interval(values: np.ndarray) -> list[float]:
    values = values[np.isfinite(values)]
    return [round(float(np.percentile(values, q)), 4) for q in (2.5, 97.5)] if len(values) else [float("nan")] * 2


def resampled_accuracy_and_f1(labels: np.ndarray, predictions: np.ndarray, groups: np.ndarray, seed: int,
                              resamples: int = RESAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and macro-F1 of each resample (macro-F1: the mean over the classes present in a resample's
    labels or predictions, 0 for a class never predicted correctly, as scikit-learn with zero_division=0)."""
    index, count = group_index(groups)
    per_group = lambda column: np.bincount(index, weights=column.astype(np.float64), minlength=count)  # noqa: E731
    episodes, correct = per_group(np.ones(len(labels))), per_group(labels == predictions)
    classes = [(per_group((labels == c) & (predictions == c)), per_group(labels == c) + per_group(predictions == c))
               for c in np.unique(np.concatenate([labels, predictions]))]
    accuracy, macro = [], []
    for weights in multiplicity_blocks(count, seed, resamples):
        accuracy.append((weights @ correct) / (weights @ episodes))
        f1s = []
        for true_positives, supports in classes:
            true_positive, support = weights @ true_positives, weights @ supports
            present = support > 0
            f1s.append((np.where(present, 2 * true_positive / np.where(present, support, 1), 0.0), present))
        macro.append(sum(f for f, _ in f1s) / np.maximum(sum(p.astype(int) for _, p in f1s), 1))
    return np.concatenate(accuracy), np.concatenate(macro)


def accuracy_and_f1_intervals(labels: np.ndarray, predictions: np.ndarray, groups: np.ndarray,
                              seed: int) -> tuple[list[float], list[float]]:
    """95% intervals of accuracy and macro-F1 over RESAMPLES group resamples."""
    accuracy, macro = resampled_accuracy_and_f1(labels, predictions, groups, seed)
    return percentile_interval(accuracy), percentile_interval(macro)


def resampled_auc(scores: np.ndarray, positive: np.ndarray, groups: np.ndarray, seed: int,
                  resamples: int = RESAMPLES) -> np.ndarray:
    """The AUC (Mann-Whitney, ties counted half) of each resample; NaN where a resample holds one class only."""
    from scipy.sparse import csr_matrix

    values, value_index = np.unique(scores, return_inverse=True)
    index, count = group_index(groups)
    # [groups, distinct score values], sparse (one cell per episode at most): how many positives / negatives of
    # each group have each score value
    table = lambda chosen: csr_matrix((np.ones(int(chosen.sum())), (index[chosen], value_index[chosen])),  # noqa: E731
                                      shape=(count, len(values)))
    pos, neg = table(positive), table(~positive)
    auc = []
    for weights in multiplicity_blocks(count, seed, resamples, width=len(values)):
        pos_w, neg_w = (pos.T @ weights.T).T, (neg.T @ weights.T).T   # [resamples, values]
        below = np.cumsum(neg_w, axis=1) - neg_w                       # negatives with a lower score
        pairs = pos_w.sum(axis=1) * neg_w.sum(axis=1)
        wins = (pos_w * (below + 0.5 * neg_w)).sum(axis=1)
        auc.append(np.where(pairs > 0, wins / np.where(pairs > 0, pairs, 1), np.nan))
    return np.concatenate(auc)


def auc_interval(scores: np.ndarray, positive: np.ndarray, groups: np.ndarray, seed: int) -> list[float]:
    """95% interval of the AUC under RESAMPLES group resamples; resamples holding one class are skipped."""
    return percentile_interval(resampled_auc(scores, positive, groups, seed))


def mean_interval(values: np.ndarray, groups: np.ndarray, seed: int, resamples: int = RESAMPLES) -> list[float]:
    """95% interval of the mean of per-episode `values` (0/1 hits, or an expected accuracy such as 1/k) under
    RESAMPLES group resamples."""
    index, count = group_index(groups)
    if not count:
        return [float("nan")] * 2
    sums = np.bincount(index, weights=np.asarray(values, dtype=np.float64), minlength=count)
    sizes = np.bincount(index, minlength=count).astype(np.float64)
    means = [(weights @ sums) / (weights @ sizes) for weights in multiplicity_blocks(count, seed, resamples)]
    return percentile_interval(np.concatenate(means))
