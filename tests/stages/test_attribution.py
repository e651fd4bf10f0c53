"""Failure attribution against human annotations: the prediction rule and the baselines on hand-made rows, the
report's intervals, and that the labels that make the prediction never read the annotation."""

from __future__ import annotations

import json
import shutil

import pytest
from datasets import load_dataset

from builder.pipeline import build
from builder.sources.loaders import sample_dir
from builder.stages.labels.attribution import attribution_report, predictions
from conftest import make_row, quiet_config, write_jsonl


def row(events, agent="b", turn=1, tools=None, speakers=("a", "b", "terminal", "a")):
    return {"split": "who_and_when:algorithm_generated", "group": "q", "agents": ["a", "b", "terminal"],
            "speakers": list(speakers), "tools": tools or [s == "terminal" for s in speakers],
            "events": events, "agent": agent, "turn": turn}


def test_the_first_failure_event_names_the_step_and_its_speaker():
    hits = predictions(row([[], ["repetition"], [], ["off_task"]]))
    assert hits["offline_events"] == (1.0, 1.0)


def test_a_tool_error_points_at_the_agent_whose_code_ran():
    hits = predictions(row([[], [], ["tool_error"], []], agent="b", turn=1))
    assert hits["offline_events"] == (1.0, 1.0)  # turn 2 is the terminal's; turn 1 is b's code


def test_without_events_the_last_answer_is_predicted_and_baselines_are_what_they_say():
    hits = predictions(row([[], [], [], []], agent="a", turn=3))
    assert hits["offline_events"] == (1.0, 1.0) == hits["last_step"]
    assert hits["first_step"] == (1.0, 0.0)  # a spoke first, at turn 0
    assert hits["most_active_agent"] == (1.0, 0.0)  # a spoke twice; its first turn is 0
    assert hits["random"] == (1 / 3, 1 / 4)


def test_the_report_gives_intervals_per_split_and_names_the_held_out_one():
    rows = [row([[], ["repetition"], [], []]) | {"group": f"q{i}"} for i in range(6)]
    rows += [row([[], [], [], []]) | {"split": "who_and_when:hand_crafted", "group": f"h{i}"} for i in range(4)]
    report = attribution_report(rows)
    tuned, held = report["splits"]["who_and_when:algorithm_generated"], report["splits"]["who_and_when:hand_crafted"]
    assert tuned["role"] == "tuned on" and held["role"] == "held out"
    assert tuned["methods"]["offline_events"]["agent_accuracy"] == 1.0
    assert tuned["methods"]["offline_events"]["agent_accuracy_ci95"] == [1.0, 1.0]
    low, high = held["methods"]["random"]["step_accuracy_ci95"]
    assert low == high == 0.25


def test_labels_and_events_do_not_read_the_human_annotation(tmp_path):
    """Moving every annotation to another agent and step changes the report's accuracy, never a label or event."""
    original = tmp_path / "original"
    shutil.copytree(sample_dir() / "teams" / "who-and-when", original / "who-and-when")
    moved = tmp_path / "moved"
    shutil.copytree(original, moved)
    for path in moved.rglob("*.json"):
        record = json.loads(path.read_text())
        speakers = [m.get("name") or m["role"] for m in record["history"]]
        record["mistake_step"] = str(len(speakers) - 1 - int(record["mistake_step"]))
        record["mistake_agent"] = "someone else"
        path.write_text(json.dumps(record))
    arena = write_jsonl(tmp_path / "arena.jsonl", [make_row(question_id=f"t-{i}") for i in range(3)])
    seen = []
    for folder in (original, moved):
        out = tmp_path / f"out-{folder.name}"
        report = build(quiet_config(source=arena, team_sources=(str(folder),), output_dir=out, rank=2))
        full = load_dataset(str(out), "agents-full", split="train")
        seen.append(({e["episode_id"]: (e["labels"], [t["coordination_events"] for t in e["turns"]]) for e in full},
                     report["agents"]["n_agent"]["human_attribution"]))
    assert seen[0][0] == seen[1][0]
    assert seen[0][1] != seen[1][1]


@pytest.mark.parametrize("split", ["who_and_when:algorithm_generated", "who_and_when:hand_crafted"])
def test_the_sample_build_reports_both_splits(sample_build, split):
    _, report = sample_build
    result = report["agents"]["n_agent"]["human_attribution"]["splits"][split]
    assert result["episodes"] == {"who_and_when:algorithm_generated": 4, "who_and_when:hand_crafted": 2}[split]
    assert set(result["methods"]) == {"offline_events", "random", "first_step", "last_step", "most_active_agent"}
