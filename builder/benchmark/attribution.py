"""Failure attribution measured against human judgement: how well the builder's own turn events point at the
agent and the step that a person held responsible for a run's failure (Who&When's annotations, kept in each
episode's `annotations`), beside baselines.

Predictions: `offline_rule`, the offline rule (builder/stages/labels/offline.py, failure_attribution) applied to
the turn events stored in the row: the first turn with a failure event (FAILURE_EVENTS; a tool_error points at the
agent whose code the tool ran, the last earlier turn that is not a tool result), else the last turn that is not a
tool result, and its speaker; `labels`, the episode's own `labels.failure_agent` / `labels.failure_turn_index`
where a labeler gave them (the judge answers one all-at-once prompt per episode, as in the Who&When paper; the
offline labeler gives none, see RULE_SILENT in offline.py); and a user's own (`your_predictions`, `evaluate
--predictions`). None reads the outcome or the annotation.
Baselines, on the same episodes: random (its expected accuracy: 1 / agents, 1 / agent turns), the first step
and its speaker, the last step that is not a tool result and its speaker, the most active agent (most turns; as
a step, its first turn), and the most frequent mistake agent of the split's other folds (`frequent_agent`: the
runs are cut into FOLDS folds by question group, and each run is scored by the constant of the folds it is not
in, so no run's own annotation picks its prediction; as a step, that agent's first turn).
An agent is hit when its name equals the annotated one after normalising (stripped, case-folded); a step when
its index equals the annotated one exactly (not Who&When's own evaluate.py, where "1" matches "12" as a
substring), and beside it within STEP_TOLERANCE turns.
Accuracy is given per split with a 95% percentile bootstrap over question groups, for a split of at least the
scoring minimum (builder.benchmark.scoring: MIN_EPISODES runs in MIN_GROUPS groups; "not scored" below). Who&When's
two layouts are the splits: Algorithm-Generated (AG2 teams) is the only one any tuning may use, and the best
trivial baseline is chosen there (`baseline_chosen_on_tuning`); Hand-Crafted (Magentic-One) is held out, and each
held-out split says whether the offline rule beats that baseline there (`rule_beats_chosen_baseline`). The rule and its thresholds (builder/stages/labels/offline.py) were fixed before the first
measurement and have not been tuned since. A weak figure is reported as it is.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from multi_llm_coord import EVENTS

from builder.benchmark.bootstrap import RESAMPLES, mean_interval
from builder.benchmark.scoring import MIN_EPISODES, MIN_GROUPS, NOT_SCORED, Protocol, fold_of
from builder.stages.labels.offline import FAILURE_EVENTS, RULE_SILENT, failure_attribution

TRIVIAL = ("random", "first_step", "last_step", "most_active_agent", "frequent_agent")
METHODS = ("offline_rule", "labels", *TRIVIAL, "your_predictions")
STEP_TOLERANCE = 1  # the ± column: a step one turn off (the turn before a failure, or the one after it)
TUNED_ON = "who_and_when:algorithm_generated"  # the only split the event thresholds and rule were chosen on


def attribution_row(episode: dict) -> dict | None:
    """What the evaluation needs of one annotated episode (a few hundred bytes), or None without annotation."""
    annotations = episode.get("annotations") or {}  # a config whose sources annotate nothing may lack them
    if annotations.get("mistake_agent") is None:
        return None
    turns = episode["turns"]
    events = [[name if isinstance(name, str) else EVENTS[name] for name in turn["coordination_events"] or []]
              for turn in turns]
    rule = failure_attribution(episode, events)
    return {"episode_id": episode["episode_id"], "split": episode["task"],
            "group": episode["metadata"]["question_id"] or episode["episode_id"],
            "agents": [a["agent_id"] for a in episode["agents"]],
            "speakers": [t["responses"][0]["agent_id"] for t in turns],
            "tools": [t["responses"][0]["kind"] == "tool_result" for t in turns],
            "labeled_agent": episode["labels"]["failure_agent"], "labeled_turn": episode["labels"]["failure_turn_index"],
            "labeler": episode["labels"]["labeler"]["name"],
            "rule_agent": rule["failure_agent"], "rule_turn": rule["failure_turn_index"],
            "agent": annotations["mistake_agent"], "turn": annotations["mistake_turn_index"]}


def normalised(name: str | None) -> str | None:
    return None if name is None else name.strip().casefold()


def predictions(row: dict, frequent: str | None = None,
                theirs: tuple[str | None, int | None] | None = None) -> dict[str, tuple[float, float, float]]:
    """{method: (agent hit, step hit, step hit within STEP_TOLERANCE)}: 1/0, or the expected accuracy of a random
    guess; `frequent` is the constant agent of `frequent_agent` (the other folds' most frequent mistake agent)."""
    speakers, tools, agent, turn = row["speakers"], row["tools"], normalised(row["agent"]), row["turn"]
    names = [normalised(s) for s in speakers]
    answered = [t for t, tool in enumerate(tools) if not tool] or list(range(len(speakers)))
    busiest = Counter(names).most_common(1)[0][0]
    chosen = {"first_step": (names[0], 0), "last_step": (names[answered[-1]], answered[-1]),
              "most_active_agent": (busiest, names.index(busiest)),
              "frequent_agent": (frequent, names.index(frequent) if frequent in names else None),
              # a label that is missing (a judge that gave none) names no agent and no turn: a miss
              "labels": (normalised(row["labeled_agent"]), row["labeled_turn"]),
              "offline_rule": (normalised(row["rule_agent"]), row["rule_turn"])}
    if theirs is not None:  # a user's step counts only as a whole number (JSON or Parquet may hold it as text)
        step = str(theirs[1]).strip()
        chosen["your_predictions"] = (normalised(None if theirs[0] is None else str(theirs[0])),
                                      int(step) if step.isdigit() else None)
    hits = {method: (float(name is not None and name == agent), *step_hits(step, turn))
            for method, (name, step) in chosen.items()}
    near = sum(1 for t in range(len(speakers)) if turn is not None and abs(t - turn) <= STEP_TOLERANCE)
    hits["random"] = (1 / len(row["agents"]), 1 / len(speakers), near / len(speakers) if turn is not None else 0.0)
    return hits


def step_hits(step: int | None, turn: int | None) -> tuple[float, float]:
    if step is None or turn is None:
        return 0.0, 0.0
    return float(step == turn), float(abs(step - turn) <= STEP_TOLERANCE)


def frequent_agents(rows: list[dict]) -> list[str | None]:
    """For each row, the most frequent (normalised) mistake agent among the rows of the other folds (ties: the
    first name in order), folds by the scoring protocol's stable hash of the question group."""
    folds = fold_of([str(r["group"]) for r in rows]).tolist()
    found = []
    for fold in folds:
        counts = Counter(normalised(r["agent"]) for r, f in zip(rows, folds) if f != fold)
        found.append(min(counts, key=lambda name: (-counts[name], name)) if counts else None)
    return found


def attribution_report(rows: list[dict], seed: int = 0,
                       theirs: dict[str, tuple[str | None, int | None]] | None = None) -> dict:
    """Agent-level and step-level accuracy of every method, per split, with 95% intervals over question groups;
    a split below the scoring minimum is "not scored". `theirs`: a user's {episode_id: (agent, step)}."""
    labelled = any(r["labeled_agent"] is not None for r in rows)
    methods = [m for m in METHODS if (m != "labels" or labelled) and (m != "your_predictions" or theirs is not None)]
    result = {"method": "accuracy; 95% percentile bootstrap over question groups "
                        f"({RESAMPLES} resamples); random: its expected accuracy",
              "labelers": sorted({r["labeler"] for r in rows}), "failure_events": list(FAILURE_EVENTS),
              "offline_labels": RULE_SILENT, "methods": methods, "splits": {}}
    for split in sorted({r["split"] for r in rows}):
        chosen = [r for r in rows if r["split"] == split]
        groups = np.array([str(r["group"]) for r in chosen])
        section = {"role": "tuned on" if split == TUNED_ON else "held out", "episodes": len(chosen),
                   "groups": len(set(groups.tolist())), "step_in_a_turn": sum(r["turn"] is not None for r in chosen)}
        if len(chosen) < MIN_EPISODES or section["groups"] < MIN_GROUPS:
            result["splits"][split] = section | Protocol(
                NOT_SCORED, f"{len(chosen)} annotated runs in {section['groups']} question groups (scoring needs "
                            f"{MIN_EPISODES} in {MIN_GROUPS})").describe()
            continue
        hits = [predictions(r, frequent, (theirs or {}).get(r["episode_id"], (None, None)) if theirs is not None
                            else None) for r, frequent in zip(chosen, frequent_agents(chosen))]
        table = {}
        for method in methods:
            agent = np.array([h[method][0] for h in hits])
            step = np.array([h[method][1] for h in hits])
            near = np.array([h[method][2] for h in hits])
            table[method] = {"agent_accuracy": round(float(agent.mean()), 4),
                             "agent_accuracy_ci95": mean_interval(agent, groups, seed),
                             "step_accuracy": round(float(step.mean()), 4),
                             "step_accuracy_ci95": mean_interval(step, groups, seed),
                             f"step_within_{STEP_TOLERANCE}_accuracy": round(float(near.mean()), 4)}
        result["splits"][split] = section | {"protocol": "all annotated runs of the split; frequent_agent "
                                                         "cross-fitted", "methods": table}
    tuning = result["splits"].get(TUNED_ON, {}).get("methods")
    if tuning:
        best = max(TRIVIAL, key=lambda m: (tuning[m]["agent_accuracy"], -TRIVIAL.index(m)))
        result["baseline_chosen_on_tuning"] = best
        for split, section in result["splits"].items():
            if split != TUNED_ON and "methods" in section:
                rule, bar = section["methods"]["offline_rule"], section["methods"][best]
                section["rule_beats_chosen_baseline"] = bool(
                    rule["agent_accuracy_ci95"][0] > bar["agent_accuracy"]
                    and rule["step_accuracy_ci95"][0] > bar["step_accuracy"])
    return result


def attribution_lines(result: dict) -> list[str]:
    """The attribution table for the terminal (the card's table): one line a method, per split."""
    lines = []
    for split, section in result["splits"].items():
        head = f"{split} ({section['role']}, {section['episodes']} annotated runs)"
        if section.get("protocol") == NOT_SCORED:
            lines.append(f"{head}: not scored ({section['protocol_reason']})")
            continue
        lines.append(f"{head}: agent accuracy [95% CI], exact step accuracy [95% CI], step within ±{STEP_TOLERANCE}")
        for method, scores in section["methods"].items():
            lines.append(f"  {method:<20}{scores['agent_accuracy']:>7} {scores['agent_accuracy_ci95']}  "
                         f"{scores['step_accuracy']:>7} {scores['step_accuracy_ci95']}  "
                         f"{scores[f'step_within_{STEP_TOLERANCE}_accuracy']:>7}")
        if "rule_beats_chosen_baseline" in section:
            lines.append(f"  offline_rule {'beats' if section['rule_beats_chosen_baseline'] else 'does not beat'} "
                         f"{result['baseline_chosen_on_tuning']}, the best trivial baseline of {TUNED_ON}")
    return lines
