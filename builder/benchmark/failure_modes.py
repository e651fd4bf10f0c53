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

from builder.benchmark.baselines import FAILURE_MODE_BASELINES
from builder.benchmark.probe import fitted_scores, length_features
from builder.benchmark.scoring import (CROSS_FITTED, MIN_EPISODES, MIN_GROUPS, PROTOCOL_TEXT, TEST_SPLIT,
                                       choose_protocol, fit_parts, fold_of, prediction_scores, reading)
from builder.sources.mast import FAILURE_MODES
from builder.splits import group_of

SUBJECT = "coordinator_state"
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


def one_hot(values: list[str]) -> np.ndarray:
    names = sorted(set(values))
    rows = np.zeros((len(values), len(names)))
    rows[np.arange(len(values)), [names.index(value) for value in values]] = 1
    return rows


def baseline_features(rows: list[dict]) -> dict[str, np.ndarray]:
    length = np.stack([row["length"] for row in rows])
    system = one_hot([row["system"] for row in rows])
    benchmark = one_hot([row["benchmark"] for row in rows])
    return {"majority_class": np.zeros((len(rows), 1)), "length": length, "system_name": system,
            "benchmark_name": benchmark, "system_benchmark_and_length": np.hstack([system, benchmark, length]),
            SUBJECT: np.stack([row["state"] for row in rows])}


def failure_mode_report(rows: list[dict], seed: int = 0, vectors: dict[str, np.ndarray] | None = None,
                        predictions: dict[str, dict] | None = None) -> dict:
    """{"annotators", "systems", "targets": {code: result}}: each code's protocol and scores (as the benchmark
    table's), or why it is not scored. `vectors` and `predictions` are a user's, by episode id."""
    rows = sorted(rows, key=lambda row: row["split"] != "test")  # the fitting part first, as the benchmark's
    in_test = np.array([row["split"] == "test" for row in rows], dtype=bool)
    groups = np.array([row["group"] for row in rows], dtype=object)
    folds = fold_of(groups)
    features = baseline_features(rows)
    if vectors is not None:
        features["your_vectors"] = np.stack([vectors[row["episode_id"]] for row in rows]).astype(np.float64)
    targets = {}
    for code in FAILURE_MODES:
        labels = np.array([row["labels"][code] for row in rows], dtype=object)
        protocol = choose_protocol(labels, groups, in_test)
        if not protocol.scored:
            targets[code] = protocol.describe()
            continue
        known = np.array([label is not None for label in labels], dtype=bool)
        y = np.array([str(label) for label in labels], dtype=object)
        parts = fit_parts(protocol, known, in_test, folds)
        scored = np.sort(np.concatenate([held for _, held in parts]))
        scores = fitted_scores(features, target_name(code), y, parts, groups, seed)
        if predictions is not None:
            theirs = np.array([str((predictions.get(rows[i]["episode_id"]) or {}).get(target_name(code)))
                               for i in scored], dtype=object)
            scores["your_predictions"] = prediction_scores(y[scored], theirs, groups[scored], seed)
        targets[code] = {**protocol.describe(), "protocol_text": PROTOCOL_TEXT[protocol.name],
                         "scored_episodes": int(len(scored)), "scored_groups": int(len(set(groups[scored]))),
                         "flagged": int((y[scored] == FLAGGED).sum()),
                         "folds": len(parts) if protocol.name == CROSS_FITTED else None,
                         "fit_episodes": int(known[~in_test].sum()) if protocol.name == TEST_SPLIT else None,
                         "results": scores}
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
