"""MAST's failure modes as benchmark targets: for each of the 14 final codes, does a trace show the mode, predicted
from what the row stores, on the one protocol (builder.benchmark.scoring) and beside trivial baselines.

Rows: every episode whose annotations hold a verdict on a final MAST code (builder/sources/mast.py): the majority of
the annotators who gave one (three people in the human rounds, one LLM judge in the full dataset; an earlier
taxonomy's mode counts toward the final code MAST's paper maps it to, flagged when any mode mapped to it is).
Label: `flagged` or `not_flagged`; an episode without a verdict on a code is left out of that code.
Baselines (builder.benchmark.baselines): the majority per mode, the system that ran the trace, the benchmark its task
came from, the agents' output length, and those three together. MAST's modes cluster by system (a system's design
fails in its own ways), so the system's name is the bar to clear, and the reading says so when nothing clears it.
Subject: `coordinator_state`, the stored state of the last turn (untrained), which the failure modes never reach
(no failure mode enters a row's turns, events or states). A user's vectors or predictions (`evaluate`) are scored on
the same folds.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from builder.benchmark.baselines import FAILURE_MODE_BASELINES, SUBJECT
from builder.benchmark.probe import length_features, model_identity, scored_target, users_classes
from builder.benchmark.scoring import MIN_EPISODES, MIN_GROUPS, fold_of, reading
from builder.sources.mast import FAILURE_MODES
from builder.splits import group_of

FLAGGED, NOT_FLAGGED = "flagged", "not_flagged"
TARGET_PREFIX = "failure_mode_"  # a target's name: failure_mode_1.1 (also the column of a user's predictions)


def target_name(code: str) -> str:
    return TARGET_PREFIX + code


def failure_mode_row(episode: dict, split: str) -> dict | None:
    """What the benchmark needs of one episode with a verdict on a final MAST code, or None."""
    annotations = episode.get("annotations") or {}
    verdicts: dict[str, bool] = {}
    for mode in annotations.get("failure_modes") or []:
        if mode["taxonomy"].startswith("mast_") and mode["code"] is not None and mode["majority"] is not None:
            verdicts[mode["code"]] = verdicts.get(mode["code"], False) or bool(mode["majority"])
    if not verdicts:
        return None
    _, system, benchmark = episode["task"].split(":", 2)
    return {"episode_id": episode["episode_id"], "group": group_of(episode), "split": split,
            "annotator": annotations["annotator"], "system": system, "benchmark": benchmark,
            "length": length_features([episode], sided=False)[0],
            "state": np.asarray(episode["turns"][-1]["latent_h"], np.float64),
            "labels": {code: None if code not in verdicts else FLAGGED if verdicts[code] else NOT_FLAGGED
                       for code in FAILURE_MODES}}


def baseline_features(rows: list[dict]) -> dict[str, np.ndarray]:
    length = np.stack([row["length"] for row in rows])
    system = model_identity([[row["system"]] for row in rows], sided=False)  # a one-hot of one name a row
    benchmark = model_identity([[row["benchmark"]] for row in rows], sided=False)
    return {"majority_class": np.zeros((len(rows), 1)), "length": length, "system_name": system,
            "benchmark_name": benchmark, "system_benchmark_and_length": np.hstack([system, benchmark, length]),
            SUBJECT: np.stack([row["state"] for row in rows])}


def failure_mode_report(rows: list[dict], seed: int = 0, vectors: dict[str, np.ndarray] | None = None,
                        predictions: dict[str, dict] | None = None) -> dict:
    """{"annotators", "systems", "targets": {code: result}}: each code's protocol and scores (as the benchmark
    table's), or why it is not scored. `vectors` and `predictions` are a user's, by episode id."""
    in_test = np.array([row["split"] == "test" for row in rows], dtype=bool)
    groups = np.array([row["group"] for row in rows], dtype=object)
    folds = fold_of(groups)
    features = baseline_features(rows)
    if vectors is not None:
        features["your_vectors"] = np.stack([vectors[row["episode_id"]] for row in rows]).astype(np.float64)
    targets = {}
    for code in FAILURE_MODES:
        labels = np.array([row["labels"][code] for row in rows], dtype=object)
        targets[code], scored = scored_target(target_name(code), labels, groups, in_test, folds, features, seed,
                                              users_classes(predictions, rows, target_name(code)))
        if "results" in targets[code]:
            targets[code]["flagged"] = int((labels[scored] == FLAGGED).sum())
            targets[code]["reading"] = mode_reading(code, targets[code])
    return {"episodes": len(rows), "annotators": _counts(row["annotator"] for row in rows),
            "systems": _counts(row["system"] for row in rows), "baselines": list(FAILURE_MODE_BASELINES),
            "minimum": {"episodes": MIN_EPISODES, "groups": MIN_GROUPS}, "targets": targets}


def mode_reading(code: str, result: dict) -> str:
    """One sentence: the stored state against the majority and the best baseline, and whether the system's name
    alone does at least as well as the state (it usually does: the modes cluster by system)."""
    scores = result["results"]
    notes = ()
    system, state = scores["system_name"], scores[SUBJECT]
    if system["accuracy_ci95"][0] > state["accuracy_ci95"][1]:
        notes = ((f"the system's name alone ({system['accuracy']}) clears the state: which system ran the trace "
                  "predicts this mode better than the state"),)
    elif system["accuracy"] >= state["accuracy"]:
        notes = (f"the system's name alone scores {system['accuracy']}, at least as much as the state",)
    return reading(f"{code} {FAILURE_MODES[code][0]}", scores, SUBJECT, FAILURE_MODE_BASELINES, result, notes=notes)


def failure_mode_lines(report: dict) -> list[str]:
    """The table for the terminal (the card's): one line a feature set, per code, under how it was scored."""
    annotators = ", ".join(f"{n} {who}" for who, n in report["annotators"].items())
    lines = [f"{report['episodes']} traces with a verdict ({annotators})"]
    for code, result in report["targets"].items():
        head = f"{code} {FAILURE_MODES[code][0]}"
        if "results" not in result:
            lines.append(f"{head}: not scored ({result['protocol_reason']})")
            continue
        lines.append(f"{head}: {result['protocol_text']}; accuracy (95% CI over {result['scored_groups']} prompt "
                     f"groups), macro-F1, on {result['scored_episodes']} traces ({result['flagged']} flagged)")
        for name, score in result["results"].items():
            lines.append(f"  {name:<28}{score['accuracy']:>7}  {score['accuracy_ci95']}  {score['macro_f1']:>7}")
        lines.append(f"  reading: {result['reading']}")
    return lines


def _counts(values) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))
