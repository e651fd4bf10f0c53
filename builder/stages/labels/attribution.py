"""Failure attribution measured against human judgement: how well the builder's own turn events point at the
agent and the step that a person held responsible for a run's failure (Who&When's annotations, kept in each
episode's `annotations`), beside baselines.

The prediction is the episode's own label, `labels.failure_agent` / `labels.failure_turn_index`, from whichever
labeler made the labels; neither reads the outcome or the annotation. The offline labeler's rule
(builder/stages/labels/offline.py, failure_attribution): the first turn with a failure event (FAILURE_EVENTS; a
tool_error points at the agent whose code the tool ran, the last earlier turn that is not a tool result), else
the last turn that is not a tool result, and its speaker. The judge answers one all-at-once prompt per episode
(the whole log, as in the Who&When paper's all-at-once method).
Baselines, on the same episodes: random (its expected accuracy: 1 / agents, 1 / agent turns), the first step
and its speaker, the last step that is not a tool result and its speaker, and the most active agent (most
turns; as a step, its first turn).
Accuracy is given per split with a 95% percentile bootstrap over question groups. Who&When's two layouts are
the splits: Algorithm-Generated (AG2 teams) is the only one any tuning may use, Hand-Crafted (Magentic-One) is
held out. The rule and its thresholds (builder/stages/labels/offline.py) were fixed before the first
measurement and have not been tuned since. A weak figure is reported as it is.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from builder.stages.bootstrap import RESAMPLES, mean_interval
from builder.stages.labels.offline import FAILURE_EVENTS

METHODS = ("labels", "random", "first_step", "last_step", "most_active_agent")
TUNED_ON = "who_and_when:algorithm_generated"  # the only split the event thresholds and rule were chosen on


def attribution_row(episode: dict) -> dict | None:
    """What the evaluation needs of one annotated episode (a few hundred bytes), or None without annotation."""
    annotations = episode["annotations"]
    if annotations["mistake_agent"] is None:
        return None
    turns = episode["turns"]
    return {"split": episode["task"], "group": episode["metadata"]["question_id"] or episode["episode_id"],
            "agents": [a["agent_id"] for a in episode["agents"]],
            "speakers": [t["responses"][0]["agent_id"] for t in turns],
            "tools": [t["responses"][0]["kind"] == "tool_result" for t in turns],
            "labeled_agent": episode["labels"]["failure_agent"], "labeled_turn": episode["labels"]["failure_turn_index"],
            "labeler": episode["labels"]["labeler"]["name"],
            "agent": annotations["mistake_agent"], "turn": annotations["mistake_turn_index"]}


def predictions(row: dict) -> dict[str, tuple[float, float]]:
    """{method: (agent hit, step hit)}: 1/0, or the expected accuracy of a random guess."""
    speakers, tools = row["speakers"], row["tools"]
    answered = [t for t, tool in enumerate(tools) if not tool] or list(range(len(speakers)))
    step_of = {"first_step": 0, "last_step": answered[-1]}
    busiest = Counter(speakers).most_common(1)[0][0]
    step_of["most_active_agent"] = speakers.index(busiest)
    hits = {method: (float(speakers[step] == row["agent"]), float(step == row["turn"]))
            for method, step in step_of.items()}
    hits["most_active_agent"] = (float(busiest == row["agent"]), hits["most_active_agent"][1])
    hits["random"] = (1 / len(row["agents"]), 1 / len(speakers))
    # a label that is missing (a judge that gave none) names no agent and no turn: a miss
    hits["labels"] = (float(row["labeled_agent"] == row["agent"]),
                      float(row["labeled_turn"] is not None and row["labeled_turn"] == row["turn"]))
    return hits


def attribution_report(rows: list[dict], seed: int = 0) -> dict:
    """Agent-level and step-level accuracy of every method, per split, with 95% intervals over question groups."""
    result = {"method": "accuracy; 95% percentile bootstrap over question groups "
                        f"({RESAMPLES} resamples); random: its expected accuracy",
              "labelers": sorted({r["labeler"] for r in rows}), "failure_events": list(FAILURE_EVENTS), "splits": {}}
    for split in sorted({r["split"] for r in rows}):
        chosen = [r for r in rows if r["split"] == split]
        groups = np.array([str(r["group"]) for r in chosen])
        hits = [predictions(r) for r in chosen]
        table = {}
        for method in METHODS:
            agent = np.array([h[method][0] for h in hits])
            step = np.array([h[method][1] for h in hits])
            table[method] = {"agent_accuracy": round(float(agent.mean()), 4),
                             "agent_accuracy_ci95": mean_interval(agent, groups, seed),
                             "step_accuracy": round(float(step.mean()), 4),
                             "step_accuracy_ci95": mean_interval(step, groups, seed)}
        result["splits"][split] = {"role": "tuned on" if split == TUNED_ON else "held out",
                                   "episodes": len(chosen), "groups": len(set(groups.tolist())),
                                   "step_in_a_turn": sum(r["turn"] is not None for r in chosen), "methods": table}
    return result
