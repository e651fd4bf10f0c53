"""The group bootstrap: each resample's statistic is scikit-learn's on the resampled episodes, the figures do not
depend on the block size, and memory is bounded by the block, not by the number of groups."""

from __future__ import annotations

import tracemalloc

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from builder.benchmark import bootstrap
from builder.benchmark.bootstrap import (accuracy_and_f1_intervals, auc_interval, resampled_accuracy_and_f1,
                                      resampled_auc)


def resampled_indices(groups: np.ndarray, seed: int, resamples: int) -> list[np.ndarray]:
    """The episodes of each resample, spelled out from the documented draw alone (not with the module's helpers):
    resample r draws as many groups as there are, uniformly with replacement, as row r of one seeded stream
    (`default_rng(seed).integers(0, groups, (resamples, groups))`, groups numbered in sorted order), and takes
    every episode of each drawn group, as often as it was drawn."""
    names = sorted(set(groups.tolist()))
    members = {number: np.flatnonzero(groups == name) for number, name in enumerate(names)}
    draws = np.random.default_rng(seed).integers(0, len(names), size=(resamples, len(names)))
    return [np.concatenate([members[int(g)] for g in row]) for row in draws]


def test_each_resample_is_scikit_learn_on_the_resampled_episodes():
    rng = np.random.default_rng(7)
    groups = rng.integers(0, 9, 60).astype(str)
    labels = rng.integers(0, 3, 60)
    predictions = np.where(rng.random(60) < 0.6, labels, rng.integers(0, 3, 60))
    scores = rng.integers(0, 5, 60).astype(float)  # few values: ties are counted half
    positive = rng.random(60) < 0.4
    accuracy, macro = resampled_accuracy_and_f1(labels, predictions, groups, seed=3, resamples=40)
    auc = resampled_auc(scores, positive, groups, seed=3, resamples=40)
    for r, chosen in enumerate(resampled_indices(groups, 3, 40)):
        assert accuracy[r] == accuracy_score(labels[chosen], predictions[chosen])
        assert np.isclose(macro[r], f1_score(labels[chosen], predictions[chosen], average="macro", zero_division=0))
        if positive[chosen].all() or not positive[chosen].any():
            assert np.isnan(auc[r])
        else:
            assert np.isclose(auc[r], roc_auc_score(positive[chosen], scores[chosen]))


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 80), st.integers(1, 30), st.integers(1, 5000), st.integers(0, 2**16))
def test_the_intervals_do_not_depend_on_the_block_size(episodes, group_count, cells, seed):
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, group_count, episodes)
    labels, predictions = rng.integers(0, 2, episodes), rng.integers(0, 2, episodes)
    scores, positive = rng.integers(0, 20, episodes).astype(float), rng.random(episodes) < 0.5
    def bounds() -> np.ndarray:
        accuracy, macro = accuracy_and_f1_intervals(labels, predictions, groups, seed)
        return np.array([*accuracy, *macro, *auc_interval(scores, positive, groups, seed)])

    whole = bounds()
    original = bootstrap.BLOCK_CELLS
    try:
        bootstrap.BLOCK_CELLS = cells
        blocked = bounds()
    finally:
        bootstrap.BLOCK_CELLS = original
    assert np.array_equal(blocked, whole, equal_nan=True)


def test_memory_is_bounded_by_the_block_not_the_groups():
    """50,000 groups and 5,000 distinct scores: all resamples at once would hold 1,000 x 50,000 multiplicities
    (400 MB) and [groups, values] tables of 2 GB."""
    rng = np.random.default_rng(0)
    episodes = 50_000
    groups = rng.permutation(episodes)
    scores = rng.integers(0, 5_000, episodes).astype(float)
    positive = rng.random(episodes) < 0.5
    tracemalloc.start()
    try:
        low, high = auc_interval(scores, positive, groups, seed=0)
        accuracy_and_f1_intervals(positive.astype(int), (scores > 2_500).astype(int), groups, seed=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 0.45 < low < 0.5 < high < 0.55  # the scores are noise
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.1f} MiB"
