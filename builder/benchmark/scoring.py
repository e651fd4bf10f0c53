"""The one scoring protocol every figure of the dataset is read through: which episodes score a target, how
predictions are scored, and what a result may be said to show.

Real coordination sets are small (Who&When holds 184 runs; a human-labelled pairwise set of about 1,000 pairs
covers about 170 prompts), and a fixed 10% test split of such a set holds a dozen prompt groups: every interval
is then about +-0.2 wide and no comparison can be read. So a target is scored by one of three protocols:

- `test_split`: fit on train + validation, score on test. Only when the test split holds at least
  TEST_SPLIT_MIN_EPISODES labelled episodes in TEST_SPLIT_MIN_GROUPS prompt groups. For independent episodes the
  95% interval of an accuracy near 0.5 is then at most +-0.08 wide (1.96 * sqrt(0.25 / 150)); measured on the
  2,400 arena battles of the development data, whose test split holds 224 episodes in 28 prompt groups (179 of
  them decisive), the group bootstrap gave +-0.06 (decisive) and +-0.08 (side): narrow enough to separate a model
  from a baseline ten points below it. A set of 1,000 pairs over 170 prompts (15 test groups, +-0.18) is below.
- `cross_fitted`: below that, grouped K-fold cross-fitting over every split: each prompt group falls in one of
  FOLDS folds by a stable hash of the group (`fold_of`); every fold is predicted by what was fitted on the
  others, and the pooled out-of-fold predictions are scored, with intervals from the same group bootstrap. Every
  labelled episode is then scored once, so a set of 200 episodes reads as 200, not as its 20 test episodes.
- `not_scored`: fewer than MIN_EPISODES labelled episodes or MIN_GROUPS prompt groups, or a class present in
  fewer than 2 groups. At 30 episodes the interval is already about +-0.18 wide; below that a score says
  nothing, so no table, sentence or figure shows one.

Nothing fitted on an episode's own outcome goes into its prediction: a fold's models never see the fold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from builder.benchmark.bootstrap import accuracy_and_f1_intervals
from builder.splits import split_position

FOLDS = 5
MIN_EPISODES = 30
MIN_GROUPS = 10
TEST_SPLIT_MIN_EPISODES = 150
TEST_SPLIT_MIN_GROUPS = 25
FOLD_SALT = b"multi-llm-coord folds v1\0"  # not the splits' salt: every split is spread over the folds

TEST_SPLIT, CROSS_FITTED, NOT_SCORED = "test_split", "cross_fitted", "not_scored"
PROTOCOL_TEXT = {
    TEST_SPLIT: "fitted on train + validation, scored on the test split",
    CROSS_FITTED: f"grouped {FOLDS}-fold cross-fitting over all splits (folds by prompt group), pooled out-of-fold "
                  "predictions",
}


def scoring_threads():
    """The block in which every fit of a scoring runs (the build's analyses, `evaluate`): BLAS on one thread. A fit
    is then the same arithmetic on any machine, so `evaluate` reproduces the card's figures wherever it runs, and
    it is faster: the probe's fits are small (a few thousand rows), and OpenBLAS's second thread cost more than it
    gave (2,400 arena battles on 2 CPUs: the probe took 6.8 s on two threads, 2.5 s on one); beside another
    computation (the rank curve's trainings) it spun at its barrier (17.5 s). Process-wide: one block, entered once,
    around every thread that fits."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


@dataclass(frozen=True)
class Protocol:
    """How one target is scored: its name and why."""

    name: str
    reason: str

    @property
    def scored(self) -> bool:
        return self.name != NOT_SCORED

    def describe(self) -> dict:
        return {"protocol": self.name, "protocol_reason": self.reason}


def fold_of(groups, folds: int = FOLDS) -> np.ndarray:
    """The fold (0..folds-1) of each episode, by a stable hash of its prompt group: the same in the build, in
    `evaluate` and on any copy of the data, whatever order the episodes are read in."""
    return np.array([min(int(split_position(str(group), FOLD_SALT) * folds), folds - 1) for group in groups],
                    dtype=np.int64)


def choose_protocol(labels, groups, in_test) -> Protocol:
    """The protocol for one target: `labels` (None where an episode has none), its `groups` and whether it is in
    the test split, one entry per episode."""
    labels = np.asarray(labels, dtype=object)
    groups = np.asarray(groups, dtype=object)
    in_test = np.asarray(in_test, dtype=bool)
    known = np.array([label is not None for label in labels], dtype=bool)
    test = known & in_test
    fit_classes = {str(label) for label in labels[known & ~in_test]}
    test_episodes, test_groups = int(test.sum()), len(set(groups[test].tolist()))
    if test_episodes >= TEST_SPLIT_MIN_EPISODES and test_groups >= TEST_SPLIT_MIN_GROUPS and len(fit_classes) >= 2:
        return Protocol(TEST_SPLIT, f"the test split holds {test_episodes} labelled episodes in {test_groups} prompt "
                                    "groups")
    episodes, group_count = int(known.sum()), len(set(groups[known].tolist()))
    size = (f"{episodes} labelled episodes in {group_count} prompt groups, {test_groups} of them in the test split "
            f"(a fixed test split needs {TEST_SPLIT_MIN_EPISODES} episodes in {TEST_SPLIT_MIN_GROUPS} groups)")
    if episodes < MIN_EPISODES or group_count < MIN_GROUPS:
        return Protocol(NOT_SCORED, f"{episodes} labelled episodes in {group_count} prompt groups (scoring needs "
                                    f"{MIN_EPISODES} in {MIN_GROUPS})")
    classes = {str(label) for label in labels[known]}
    groups_per_class = {c: len({g for label, g in zip(labels[known], groups[known]) if str(label) == c})
                        for c in classes}
    if len(classes) < 2:
        return Protocol(NOT_SCORED, f"only one outcome class ({next(iter(classes), None)!r}) among the "
                                    f"{episodes} labelled episodes")
    if min(groups_per_class.values()) < 2:
        return Protocol(NOT_SCORED, f"{episodes} labelled episodes, but a class occurs in fewer than 2 prompt groups "
                                    f"(the rarest occurs in {min(groups_per_class.values())} prompt group(s): "
                                    f"{dict(sorted(groups_per_class.items()))})")
    return Protocol(CROSS_FITTED, size)


def fold_parts(folds: np.ndarray, known: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit positions, predicted positions) of each fold among the `known` episodes (all by default): the fold is
    predicted by what the other folds fit; a fold with nothing to predict, or nothing to fit on, is left out."""
    known = np.ones(len(folds), bool) if known is None else np.asarray(known, dtype=bool)
    parts = [(np.flatnonzero(known & (folds != fold)), np.flatnonzero(known & (folds == fold)))
             for fold in range(int(folds.max()) + 1 if len(folds) else 0)]
    return [(fit, held) for fit, held in parts if len(fit) and len(held)]


def fit_parts(protocol: Protocol, known: np.ndarray, in_test: np.ndarray,
              folds: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit positions, predicted positions) pairs among the `known` episodes: one pair for the test split, one per
    fold when cross-fitted (every known episode predicted exactly once)."""
    known = np.asarray(known, dtype=bool)
    if protocol.name == TEST_SPLIT:
        return [(np.flatnonzero(known & ~in_test), np.flatnonzero(known & in_test))]
    if protocol.name == CROSS_FITTED:
        return fold_parts(folds, known)
    return []


def prediction_scores(y: np.ndarray, predictions: np.ndarray, groups: np.ndarray, seed: int) -> dict:
    """Accuracy and macro-F1 of `predictions`, each with its 95% interval over resampled groups: every score the
    dataset reports goes through this function."""
    from sklearn.metrics import f1_score

    y, predictions = np.asarray(y).astype(str), np.asarray(predictions).astype(str)
    accuracy_ci, f1_ci = accuracy_and_f1_intervals(y, predictions, np.asarray(groups), seed)
    return {"accuracy": round(float((predictions == y).astype(np.float64).mean()), 4), "accuracy_ci95": accuracy_ci,
            "macro_f1": round(float(f1_score(y, predictions, average="macro", zero_division=0)), 4),
            "macro_f1_ci95": f1_ci}


def reading(target: str, scores: dict, subject: str, baselines: tuple[str, ...], protocol: dict,
            label: str | None = None, notes: tuple[str, ...] = ()) -> str:
    """What a target's scores say, one sentence, from the intervals (never a fixed claim): `subject` (a row of
    `scores`, named `label` in the sentence, itself by default) against the majority class and the best of
    `baselines`, then the caller's `notes` (clauses). Every writer of a reading uses it."""
    if protocol.get("protocol") == NOT_SCORED:
        return f"{target}: not scored ({protocol['protocol_reason']})."
    majority = scores["majority_class"]["accuracy"]
    state = scores[subject]
    low, high = state["accuracy_ci95"]
    text = (f"{target} ({protocol['protocol'].replace('_', ' ')}): {label or subject} scores {state['accuracy']} "
            f"[{low}, {high}], "
            + ("above" if low > majority else "not above") + f" the majority class ({majority})")
    present = {name: scores[name] for name in baselines if name in scores and name != "majority_class"}
    if present:
        best = max(present, key=lambda name: present[name]["accuracy"])
        bar = present[best]
        relation = ("its interval clears the baseline's" if low > bar["accuracy_ci95"][1]
                    else "the baseline's interval clears it" if bar["accuracy_ci95"][0] > high
                    else "the intervals overlap")
        text += f"; best baseline {best} {bar['accuracy']} {bar['accuracy_ci95']} ({relation})"
    return "; ".join((text, *notes)) + "."
