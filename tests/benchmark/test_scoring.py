"""The one scoring protocol: which episodes score a target (test split, grouped cross-fitting, or not at all),
folds by a stable hash of the prompt group, and the one reading sentence."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.benchmark.scoring import (CROSS_FITTED, MIN_EPISODES, MIN_GROUPS, NOT_SCORED, TEST_SPLIT,
                                    TEST_SPLIT_MIN_EPISODES, TEST_SPLIT_MIN_GROUPS, choose_protocol, fit_parts, fold_of,
                                    reading)


def labelled(episodes: int, groups: int, test_share: float = 0.1):
    group = [f"g{i % groups}" for i in range(episodes)]
    labels = ["a" if i % 3 else "b" for i in range(episodes)]
    in_test = [int(g[1:]) < groups * test_share for g in group]
    return labels, group, in_test


def test_a_large_test_split_is_used_a_small_set_is_cross_fitted_and_a_tiny_one_not_scored():
    big = choose_protocol(*labelled(10 * TEST_SPLIT_MIN_EPISODES, 10 * TEST_SPLIT_MIN_GROUPS))
    assert big.name == TEST_SPLIT
    # Who&When's size: 184 runs over 120 groups leave a dozen test groups, far too few for a fixed split
    small = choose_protocol(*labelled(184, 120))
    assert small.name == CROSS_FITTED and "fixed test split needs" in small.reason
    assert choose_protocol(*labelled(MIN_EPISODES - 1, MIN_GROUPS)).name == NOT_SCORED
    assert choose_protocol(*labelled(MIN_EPISODES, MIN_GROUPS - 1)).name == NOT_SCORED
    assert choose_protocol(*labelled(MIN_EPISODES, MIN_GROUPS)).name == CROSS_FITTED
    one_class = choose_protocol(["a"] * 40, [f"g{i}" for i in range(40)], [False] * 40)
    assert one_class.name == NOT_SCORED and "only one outcome class" in one_class.reason
    rare = choose_protocol(["a"] * 39 + ["b"], [f"g{i}" for i in range(40)], [False] * 40)
    assert rare.name == NOT_SCORED and "fewer than 2 prompt groups" in rare.reason
    unlabelled = choose_protocol([None] * 40, [f"g{i}" for i in range(40)], [False] * 40)
    assert unlabelled.name == NOT_SCORED and unlabelled.reason.startswith("0 labelled episodes")


def test_folds_are_a_pinned_function_of_the_group_alone():
    groups = [f"question {i}" for i in range(200)]
    folds = fold_of(groups)
    assert folds.tolist() == fold_of(groups[::-1]).tolist()[::-1]  # not the order the episodes come in
    assert set(folds.tolist()) == {0, 1, 2, 3, 4} and min(np.bincount(folds)) > 20
    assert fold_of(["some prompt group", "q"]).tolist() == [3, 2]  # changing it changes every published score


@settings(max_examples=60, deadline=None)
@given(group_sizes=st.lists(st.integers(1, 5), min_size=MIN_GROUPS, max_size=40), unlabelled=st.sets(st.integers(0, 150)))
def test_cross_fitting_predicts_every_labelled_episode_once_and_never_from_its_own_group(group_sizes, unlabelled):
    groups = np.array([f"g{g}" for g, size in enumerate(group_sizes) for _ in range(size)], dtype=object)
    known = np.array([i not in unlabelled for i in range(len(groups))])
    labels = [("a" if i % 2 else "b") if known[i] else None for i in range(len(groups))]
    in_test = np.zeros(len(groups), bool)
    protocol = choose_protocol(labels, groups, in_test)
    parts = fit_parts(protocol, known, in_test, fold_of(groups))
    if protocol.name == NOT_SCORED:
        assert parts == []
        return
    predicted = np.concatenate([held for _, held in parts])
    assert sorted(predicted.tolist()) == np.flatnonzero(known).tolist()
    for fit, held in parts:
        assert not set(groups[fit].tolist()) & set(groups[held].tolist())
        assert known[fit].all()


def test_the_reading_says_not_scored_or_compares_intervals():
    assert reading("side", {}, "state", (), {"protocol": NOT_SCORED, "protocol_reason": "9 episodes"}) == \
        "side: not scored (9 episodes)."
    scores = {"majority_class": {"accuracy": 0.5, "accuracy_ci95": [0.4, 0.6]},
              "state": {"accuracy": 0.8, "accuracy_ci95": [0.7, 0.9]},
              "length": {"accuracy": 0.6, "accuracy_ci95": [0.5, 0.65]}}
    text = reading("side", scores, "state", ("majority_class", "length"), {"protocol": CROSS_FITTED})
    assert text == ("side (cross fitted): state scores 0.8 [0.7, 0.9], above the majority class (0.5); best baseline "
                    "length 0.6 [0.5, 0.65] (its interval clears the baseline's).")
