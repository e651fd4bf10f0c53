"""Failure attribution against human annotations: the prediction rule and the baselines on hand-made rows, the
report's intervals, and that the labels that make the prediction never read the annotation."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from datasets import load_dataset

from builder.benchmark.attribution import attribution_report, attribution_row, frequent_agents, predictions
from builder.pipeline import build
from builder.sources.loaders import sample_dir
from builder.stages.labels.offline import failure_attribution
from conftest import make_row, quiet_config, write_jsonl


def turns_of(speakers, kinds=None):
    kinds = kinds or ["tool_result" if s == "terminal" else "message" for s in speakers]
    return [{"responses": [{"agent_id": s, "kind": k}]} for s, k in zip(speakers, kinds)]


def offline(events, speakers=("a", "b", "terminal", "a")):
    return failure_attribution({"turns": turns_of(speakers)}, events)


def test_the_first_failure_event_names_the_turn_and_its_speaker():
    assert offline([[], ["repetition"], [], ["off_task"]]) == {"failure_agent": "b", "failure_turn_index": 1}


def test_a_tool_error_points_at_the_agent_whose_code_ran():
    assert offline([[], [], ["tool_error"], []]) == {"failure_agent": "b", "failure_turn_index": 1}


def test_without_events_the_last_answer_is_named_and_rounds_of_several_answers_get_none():
    assert offline([[], [], [], []]) == {"failure_agent": "a", "failure_turn_index": 3}
    debate = {"turns": [{"responses": [{"agent_id": "a"}, {"agent_id": "b"}]}]}
    assert failure_attribution(debate, [["refusal"]]) == {"failure_agent": None, "failure_turn_index": None}


def row(labeled=("b", 1), agent="b", turn=1, speakers=("a", "b", "terminal", "a"), rule=("a", 3)):
    return {"episode_id": "e", "split": "who_and_when:algorithm_generated", "group": "q",
            "agents": ["a", "b", "terminal"], "speakers": list(speakers), "tools": [s == "terminal" for s in speakers],
            "labeled_agent": labeled[0], "labeled_turn": labeled[1], "labeler": "offline_rules", "agent": agent,
            "turn": turn, "rule_agent": rule[0], "rule_turn": rule[1]}


def test_the_labels_and_the_baselines_are_scored_as_they_say():
    hits = predictions(row(labeled=("a", 3), agent="a", turn=3), frequent="b")
    assert hits["labels"] == (1.0, 1.0, 1.0) == hits["last_step"]
    assert hits["first_step"] == (1.0, 0.0, 0.0)  # a spoke first, at turn 0: three turns off
    assert hits["most_active_agent"] == (1.0, 0.0, 0.0)  # a spoke twice; its first turn is 0
    assert hits["frequent_agent"] == (0.0, 0.0, 0.0)  # b's first turn is 1: two turns off
    assert hits["random"] == (1 / 3, 1 / 4, 2 / 4)  # turns 2 and 3 are within one of turn 3
    assert predictions(row(labeled=(None, None)))["labels"] == (0.0, 0.0, 0.0)  # a missing label is a miss


def test_agents_match_by_normalised_name_and_steps_exactly_or_within_one():
    hits = predictions(row(labeled=(" A ", 2), agent="a", turn=3))
    assert hits["labels"] == (1.0, 0.0, 1.0)  # " A " is a; turn 2 is not 3, but within one of it
    # exact indexes, not Who&When's substring match ("1" in "12")
    assert predictions(row(labeled=("a", 1), agent="a", turn=12))["labels"][1] == 0.0


def test_the_frequent_agent_is_fitted_on_the_other_folds_only():
    """Each run's constant comes from the runs of the other folds: a run alone in its fold with an agent no
    other run has is never predicted its own agent."""
    rows = [row(agent="a") | {"group": f"g{i}"} for i in range(12)] + [row(agent="c") | {"group": "lonely"}]
    found = frequent_agents(rows)
    assert found[-1] == "a" and set(found[:-1]) == {"a"}


def test_the_report_gives_intervals_per_split_and_names_the_held_out_one():
    rows = [row() | {"group": f"q{i}", "episode_id": f"q{i}"} for i in range(36)]
    rows += [row() | {"split": "who_and_when:hand_crafted", "group": f"h{i}", "episode_id": f"h{i}"} for i in range(30)]
    report = attribution_report(rows)
    tuned, held = report["splits"]["who_and_when:algorithm_generated"], report["splits"]["who_and_when:hand_crafted"]
    assert tuned["role"] == "tuned on" and held["role"] == "held out"
    assert tuned["methods"]["labels"]["agent_accuracy"] == 1.0 and report["labelers"] == ["offline_rules"]
    assert tuned["methods"]["labels"]["agent_accuracy_ci95"] == [1.0, 1.0]
    low, high = held["methods"]["random"]["step_accuracy_ci95"]
    assert low == high == 0.25
    # the best trivial baseline is chosen on the tuning split; the rule (a, 3: always wrong here) does not beat it
    assert report["baseline_chosen_on_tuning"] == "frequent_agent" and held["rule_beats_chosen_baseline"] is False
    assert tuned["methods"]["offline_rule"]["agent_accuracy"] == 0.0


def test_a_split_below_the_minimum_is_not_scored():
    report = attribution_report([row() | {"group": f"q{i}"} for i in range(6)])
    split = report["splits"]["who_and_when:algorithm_generated"]
    assert split["protocol"] == "not_scored" and "methods" not in split and "6 annotated runs" in split["protocol_reason"]


def test_a_constant_agent_prediction_scores_that_agents_share_exactly():
    """As `evaluate --predictions` does: a user's (agent, step) per run, matched by normalised name and exact step."""
    rows = [row(agent="b" if i < 21 else "a", turn=1 if i < 7 else 3) | {"group": f"q{i}", "episode_id": f"e{i}"}
            for i in range(40)]
    theirs = {f"e{i}": (" B ", "1") for i in range(40)}
    scores = attribution_report(rows, theirs=theirs)["splits"]["who_and_when:algorithm_generated"]["methods"]
    assert scores["your_predictions"]["agent_accuracy"] == 21 / 40
    assert scores["your_predictions"]["step_accuracy"] == 7 / 40
    assert "your_predictions" not in attribution_report(rows)["splits"]["who_and_when:algorithm_generated"]["methods"]


def test_the_offline_labeler_gives_no_failure_labels_but_the_rule_is_measured(sample_build):
    """The rule does not beat a constant on held-out runs, so its labels are null; the table still scores it."""
    folder, report = sample_build
    full = load_dataset(str(folder), "agents-full", split="all")
    assert all(e["labels"]["failure_agent"] is None and e["labels"]["failure_turn_index"] is None for e in full)
    attribution = report["families"]["agents"]["n_agent"]["human_attribution"]
    assert "no failure_agent" in attribution["offline_labels"]
    assert "no failure_agent" in " ".join((folder / "README.md").read_text().split())


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
        report = build(quiet_config(source=arena, family_sources={"agents": (str(folder),)}, output_dir=out, rank=2))
        full = load_dataset(str(out), "agents-full", split="all")
        seen.append(({e["episode_id"]: (e["labels"], [t["coordination_events"] for t in e["turns"]]) for e in full},
                     [predictions(attribution_row(e)) for e in full if attribution_row(e)]))
        assert report["families"]["agents"]["n_agent"]["human_attribution"]["splits"]
    assert seen[0][0] == seen[1][0]
    assert seen[0][1] != seen[1][1]


@pytest.mark.parametrize("split", ["who_and_when:algorithm_generated", "who_and_when:hand_crafted"])
def test_the_sample_build_reports_both_splits_as_too_small_to_score(sample_build, split):
    _, report = sample_build
    result = report["families"]["agents"]["n_agent"]["human_attribution"]["splits"][split]
    assert result["episodes"] == {"who_and_when:algorithm_generated": 4, "who_and_when:hand_crafted": 2}[split]
    assert result["protocol"] == "not_scored" and "methods" not in result


def test_the_judge_attributes_failures_with_one_prompt_per_episode(tmp_path, monkeypatch):
    """--labeler judge against the local OpenAI-compatible server: one request per agent-team episode holding the
    whole log (never the annotation), its answer stored as the labels' attribution and scored."""
    from openai_server import FakeJudgeServer

    monkeypatch.setenv("JUDGE_TEST_KEY", "test-key")
    arena = write_jsonl(tmp_path / "arena.jsonl", [make_row(question_id=f"j-{i}") for i in range(3)])
    with FakeJudgeServer() as server:
        report = build(quiet_config(source=arena, family_sources={"debate": ("none",), "agents": ("sample",)},
                                    output_dir=tmp_path / "out", rank=2, labeler="judge",
                                    judge_base_url=server.base_url, judge_model="fake", judge_api_key_env="JUDGE_TEST_KEY",
                                    embedding_cache=False))
        shown = [json.loads(re.search(r"<episode>\n(.*)\n</episode>", r["messages"][-1]["content"], re.S).group(1))
                 for r in server.requests]
    one_speaker = [e for e in shown if all(len(t["responses"]) == 1 for t in e["turns"])]
    assert all("mistake_agent" not in json.dumps(r) and "mistake_reason" not in json.dumps(r) for r in server.requests)
    full = load_dataset(str(tmp_path / "out"), "agents-full", split="all")
    for episode in full:
        labels = episode["labels"]
        speakers = [t["responses"][0]["agent_id"] for t in episode["turns"]]
        kinds = [t["responses"][0]["kind"] for t in episode["turns"]]
        last = max(i for i, k in enumerate(kinds) if k != "tool_result")
        assert labels["labeler"]["name"] == "llm_judge"
        assert (labels["failure_agent"], labels["failure_turn_index"]) == (speakers[last], last)  # the fake's answer
    attribution = report["families"]["agents"]["n_agent"]["human_attribution"]
    assert attribution["labelers"] == ["llm_judge"] and len(one_speaker) == len(full) == 6  # one prompt each
    for episode in full:  # the fake blames the last answer: it scores as last_step does
        hits = predictions(attribution_row(episode))
        assert hits["labels"] == hits["last_step"]
