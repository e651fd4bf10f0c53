"""The probe: how much coordination-outcome information does the low-rank coordinator state keep?

Stratified k-fold cross-validation (scikit-learn) of a standardised logistic regression that predicts an
outcome from (a) the final coordinator state h_T (rank numbers), (b) the same recurrence run on the
full-dimensional turn observations (what the state would be without the projection), and (c) the
majority class. Reported per target: accuracy and macro-F1, mean and standard deviation over folds.

Targets of pairwise (arena) episodes: `winner` (the four verdicts) and `decisive` (a model won vs a
tie). The turn observation is symmetric in the agents, so the state can tell how the answers relate (a
tie, both bad) but not which side wrote which; `decisive` is the target that symmetry permits, `winner`
shows the cost of it. N-agent episodes: `final_correct` (was the group's final answer right) and, for
answer sets, `best_score_at_least_9` (did the best answer reach a judge score of 9).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np

from builder.files import JsonFileCache

MIN_EPISODES = 10
PROBE_VERSION = "probe_v1"  # change when the classifier or the scoring changes: cached scores are keyed by it


SCORE_FIELDS = ("accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std")


def _valid_scores(value) -> bool:
    return (isinstance(value, dict) and set(value) == set(SCORE_FIELDS)
            and all(isinstance(value[f], (int, float)) and 0 <= value[f] <= 1 for f in SCORE_FIELDS))


class ScoreCache(JsonFileCache):
    """Cross-validation scores on disk, keyed by a hash of the exact features, labels and settings.

    The full-dimensional baseline does not change with the rank or the projection method, and it is the
    expensive part of the probe (a logistic regression on ~1,150 features per fold), so a rebuild with
    other latent options reuses its scores instead of refitting. An entry that is not a complete set of
    scores in [0, 1] is a miss: the probe recomputes it.
    """

    def __init__(self, root: Path | None):
        super().__init__(Path(root) / "probe" if root else None, check=_valid_scores)

    @staticmethod
    def key(x: np.ndarray, y: np.ndarray, k: int, seed: int, model: str) -> str:
        digest = hashlib.sha256(f"{PROBE_VERSION}|{model}|{k}|{seed}|{x.shape}|{x.dtype}".encode())
        digest.update(np.ascontiguousarray(x).tobytes())
        digest.update("\n".join(map(str, y)).encode())
        return digest.hexdigest()


def probe_target(features: dict[str, np.ndarray], labels: list[str], *, folds: int = 5, seed: int = 0,
                 cache: ScoreCache | None = None) -> dict:
    """Cross-validated scores of each feature set and the majority class, or why the probe was skipped."""
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_validate
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cache = cache or ScoreCache(None)
    counts = Counter(labels)
    if len(labels) < MIN_EPISODES:
        return {"skipped": f"{len(labels)} episodes; the probe needs at least {MIN_EPISODES}"}
    if len(counts) < 2:
        return {"skipped": f"only one outcome class ({next(iter(counts))!r})"}
    k = min(folds, min(counts.values()))
    if k < 2:
        return {"skipped": f"the rarest class has {min(counts.values())} episode; stratified folds need 2 per class"}
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    y = np.asarray(labels)
    models = {name: (make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)), x)
              for name, x in features.items()}
    models["majority_class"] = (DummyClassifier(strategy="most_frequent"), next(iter(features.values())))
    results = {}
    for name, (model, x) in models.items():
        key = cache.key(x, y, k, seed, "majority" if name == "majority_class" else "logistic")
        cached = cache.get(key)
        if cached is not None:
            results[name] = cached
            continue
        scores = cross_validate(model, x, y, cv=splitter, scoring=("accuracy", "f1_macro"))
        results[name] = {
            "accuracy_mean": round(float(scores["test_accuracy"].mean()), 4),
            "accuracy_std": round(float(scores["test_accuracy"].std()), 4),
            "macro_f1_mean": round(float(scores["test_f1_macro"].mean()), 4),
            "macro_f1_std": round(float(scores["test_f1_macro"].std()), 4),
        }
        cache.put(key, results[name])
    return {"episodes": len(labels), "folds": k, "classes": dict(sorted(counts.items())), "results": results}


def decisive(winner: str) -> str:
    return "decisive" if winner in ("model_a", "model_b") else "tie"


def pairwise_targets(episodes: list[dict]) -> dict[str, list[str | None]]:
    winners = [e["winner"] for e in episodes]
    return {"winner": winners, "decisive": [decisive(w) if w is not None else None for w in winners]}


TOP_SCORE = 9  # answer sets: did the best answer reach a judge score of 9 or more (of 10)?


def debate_targets(episodes: list[dict]) -> dict[str, list[str | None]]:
    """N-agent episodes: was the group's final answer correct (debates), did its best answer reach the top
    judge scores (answer sets); None where the source gives neither."""
    correct = [e["outcome"]["final_correct"] for e in episodes]
    best = [e["outcome"]["best_judge_score"] for e in episodes]
    return {
        "final_correct": [None if c is None else ("correct" if c else "wrong") for c in correct],
        "best_score_at_least_9": [None if b is None else ("yes" if b >= TOP_SCORE else "no") for b in best],
    }


def run_probe(final_states: np.ndarray, full_dimensional_states: np.ndarray, targets: dict[str, list[str | None]], *,
              folds: int = 5, seed: int = 0, cache_dir: Path | None = None) -> dict:
    """Probe every target on the episodes that have a label for it (None = no label)."""
    cache = ScoreCache(cache_dir)

    def probe(labels: list[str | None]) -> dict:
        keep = [i for i, label in enumerate(labels) if label is not None]
        features = {"coordinator_state": final_states[keep], "full_dimensional_state": full_dimensional_states[keep]}
        return probe_target(features, [labels[i] for i in keep], folds=folds, seed=seed, cache=cache)

    return {
        "features": {"coordinator_state": f"final h_T ({final_states.shape[1]} dims)",
                     "full_dimensional_state": f"the same recurrence on the turn observations "
                                               f"({full_dimensional_states.shape[1]} dims)"},
        "classifier": "StandardScaler + LogisticRegression(max_iter=2000), stratified k-fold",
        "targets": {name: probe(labels) for name, labels in targets.items()},
    }
