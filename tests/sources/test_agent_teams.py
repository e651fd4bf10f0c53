"""Agent-team histories read as they are: real Who&When runs (builder/sources/sample/teams/who-and-when, with their
origin and licence beside them) asserted field by field against the files; plain AG2 transcripts; the human
annotation kept apart; bad input counted."""

from __future__ import annotations

import copy
import json

import pytest

from builder.rejections import Rejection
from builder.sources.agent_teams import iter_team_rows, plan_team_sources, team_row_to_episode
from builder.sources.loaders import sample_dir
from builder.pipeline import build
from builder.validate import validate_folder
from conftest import FixedCounter, quiet_config

SLICE = sample_dir() / "teams" / "who-and-when"


def run(layout: str, name: str) -> dict:
    return json.loads((SLICE / layout / name).read_text(encoding="utf-8"))


def normalise(row: dict, layout: str | None = None) -> dict:
    return team_row_to_episode(row, "run.json", 500_000, layout=layout)


def test_an_ag2_run_field_by_field():
    record = run("Algorithm-Generated", "93.json")
    episode = normalise(record, "algorithm_generated")
    history = record["history"]
    speakers = list(dict.fromkeys(m["name"] for m in history))
    assert [a["agent_id"] for a in episode["agents"]] == speakers
    assert [a["system_prompt"] for a in episode["agents"]] == [record["system_prompt"].get(s) for s in speakers]
    assert len(episode["turns"]) == len(history)  # no user message: every entry is an agent's turn
    for turn, message in zip(episode["turns"], history):
        (reply,) = turn["responses"]
        assert reply["agent_id"] == message["name"] and reply["content"] == message["content"]
        assert reply["kind"] == ("tool_result" if message["name"] == "Computer_terminal" else "message")
    assert episode["turns"][0]["prompt"] == record["question"] and all(t["prompt"] is None for t in episode["turns"][1:])
    annotations = episode["annotations"]
    assert annotations == {"mistake_agent": record["mistake_agent"], "mistake_step": int(record["mistake_step"]),
                           "mistake_turn_index": int(record["mistake_step"]),
                           "mistake_reason": record["mistake_reason"], "annotator": "human",
                           "failure_modes": [], "note": None}  # MAST's fields, empty for Who&When
    assert episode["outcome"]["final_correct"] is record["is_correct"] is False
    assert episode["outcome"]["correct_by"] == "source" and episode["outcome"]["ground_truth"] == record["ground_truth"]
    assert episode["metadata"]["question_id"] == record["question_ID"]
    assert episode["task"] == "who_and_when:algorithm_generated" and episode["topology"] == "full_mesh"


def test_a_magentic_one_run_field_by_field():
    record = run("Hand-Crafted", "6.json")
    episode = normalise(record, "hand_crafted")
    history = record["history"]
    assert history[0]["role"] == "human" and episode["turns"][0]["prompt"] == history[0]["content"]
    assert len(episode["turns"]) == len(history) - 1  # the human's request is a prompt, not a turn
    for turn, message in zip(episode["turns"], history[1:]):
        (reply,) = turn["responses"]
        role = message["role"]
        assert reply["content"] == message["content"] and role.startswith(reply["agent_id"])
        if "(->" in role:
            assert reply["kind"] == "message" and reply["addressee"] == role.split("-> ")[1].rstrip(")")
        elif "(" in role:
            assert reply["kind"] == "thought" and reply["addressee"] is None
    step = int(record["mistake_step"])
    assert episode["annotations"]["mistake_turn_index"] == step - 1
    assert episode["turns"][step - 1]["responses"][0]["agent_id"] == record["mistake_agent"]
    assert episode["outcome"]["final_correct"] is record["is_corrected"] is False
    assert all(a["system_prompt"] is None for a in episode["agents"])  # Magentic-One's are not logged


def test_the_speaker_is_sent_its_system_prompt_and_the_transcript_so_far():
    episode = FixedCounter().process(normalise(run("Algorithm-Generated", "93.json"), "algorithm_generated"))
    system = {a["agent_id"]: len((a["system_prompt"] or "").split()) for a in episode["agents"]}
    transcript = 0
    for turn in episode["turns"]:
        (reply,) = turn["responses"]
        transcript += turn["prompt_tokens"]
        assert reply["input_tokens"] == system[reply["agent_id"]] + transcript
        transcript += reply["output_tokens"]
    per_agent = {a["agent_id"]: a for a in episode["token_totals"]["per_agent"]}
    assert all(per_agent[a]["system_prompt_tokens"] == n for a, n in system.items())


def test_plain_ag2_transcripts_bare_or_wrapped(tmp_path):
    messages = [{"content": "Plan the trip.", "role": "user", "name": "Admin"},
                {"content": "Day 1: museum.", "role": "assistant", "name": "Planner"},
                {"content": "Looks good.", "role": "user", "name": "Critic"}]
    bare = tmp_path / "chat.json"
    bare.write_text(json.dumps(messages))
    wrapped = tmp_path / "chats.jsonl"
    wrapped.write_text(json.dumps({"id": "c1", "task": "A trip", "messages": messages}) + "\n")
    episodes = [normalise_row(row) for _, row, normalise_row in iter_team_rows(plan_team_sources((str(tmp_path),)), 10_000)]
    assert len(episodes) == 2
    for episode in episodes:
        assert [a["agent_id"] for a in episode["agents"]] == ["Admin", "Planner", "Critic"]  # named users are agents
        assert [t["responses"][0]["content"] for t in episode["turns"]] == [m["content"] for m in messages]
        assert episode["task"] == "agent_team" and episode["annotations"]["annotator"] is None


def test_a_nameless_user_message_is_the_next_turns_prompt():
    row = {"messages": [{"role": "user", "content": "Q?"}, {"name": "a", "role": "assistant", "content": "x"},
                        {"name": "b", "role": "assistant", "content": "y"}]}
    episode = normalise(row)
    assert episode["turns"][0]["prompt"] == "Q?" and len(episode["turns"]) == 2


def test_the_layout_of_a_folder_is_recognised():
    files = plan_team_sources(("sample",))
    assert {f.layout for f in files} == {"algorithm_generated", "hand_crafted"}
    assert len(files) == 6


@pytest.mark.parametrize("change, reason", [
    (lambda r: {**r, "history": "none"}, "empty_conversation"),
    (lambda r: {**r, "history": [*r["history"][:1], "text"]}, "invalid_type"),
    (lambda r: {**r, "history": [{**r["history"][0], "content": 7}] + r["history"][1:]}, "non_string_content"),
    (lambda r: {**r, "history": [{**r["history"][0], "content": "\ud800"}] + r["history"][1:]}, "invalid_utf8"),
    (lambda r: {**r, "history": [{**r["history"][0], "name": ["x"]}] + r["history"][1:]}, "invalid_type"),
    (lambda r: {**r, "history": [{"content": "hi"}] + r["history"][1:]}, "missing_field"),
    (lambda r: {**r, "mistake_step": "three"}, "invalid_type"),
    (lambda r: {**r, "mistake_step": "999"}, "invalid_value"),
    (lambda r: {**r, "system_prompt": ["x"]}, "invalid_type"),
    (lambda r: {**r, "is_correct": "no"}, "invalid_type"),
    (lambda r: {**r, "history": [m for m in r["history"] if m["name"] == r["history"][0]["name"]],  # no annotation
                "mistake_agent": None, "mistake_step": None, "mistake_reason": None}, "too_few_agents"),
])
def test_malformed_runs_are_counted_rejections(change, reason):
    with pytest.raises(Rejection) as caught:
        normalise(change(copy.deepcopy(run("Algorithm-Generated", "93.json"))), "algorithm_generated")
    assert caught.value.reason == reason


SAMPLE_RUNS = {"Algorithm-Generated/102.json", "Algorithm-Generated/12.json", "Algorithm-Generated/21.json",
               "Algorithm-Generated/93.json", "Hand-Crafted/48.json", "Hand-Crafted/6.json"}


def test_who_and_when_runs_are_named_with_their_subset():
    """Both subsets number their runs from 1: a bare `6.json` would name two runs."""
    files = plan_team_sources(("sample",))
    assert {f.name for f in files} == SAMPLE_RUNS
    rows = list(iter_team_rows(files, 100_000))
    assert {location.file for location, _, _ in rows} == SAMPLE_RUNS
    assert {normalise(row)["source"] for _, row, normalise in rows} == SAMPLE_RUNS


def one_speaker_run(annotated: bool) -> dict:
    """The committed real Hand-Crafted run 6 cut to its human message and the Orchestrator's own thoughts: the shape
    of Who&When's Hand-Crafted 24, where the Orchestrator answers alone and is the annotated mistake agent."""
    real = json.loads((sample_dir() / "teams" / "who-and-when" / "Hand-Crafted" / "6.json").read_text())
    row = copy.deepcopy(real)
    row["history"] = [m for m in real["history"] if m["role"] == "human" or m["role"] == "Orchestrator (thought)"]
    row["question_ID"] = "one-speaker-" + str(real["question_ID"])  # another run than 6 (ids must stay unique)
    if annotated:
        row.update(mistake_agent="Orchestrator", mistake_step=1, mistake_reason="It never delegated.")
    else:
        row.update(mistake_agent=None, mistake_step=None, mistake_reason=None)
    return row


def test_an_annotated_run_in_which_one_agent_alone_spoke_is_kept_and_an_unannotated_one_is_not():
    kept = team_row_to_episode(one_speaker_run(annotated=True), "Hand-Crafted/24.json", 500_000, "hand_crafted")
    assert [a["agent_id"] for a in kept["agents"]] == ["Orchestrator"]
    assert kept["annotations"]["mistake_agent"] == "Orchestrator" and kept["annotations"]["mistake_turn_index"] == 0
    with pytest.raises(Rejection, match="1 agent"):
        team_row_to_episode(one_speaker_run(annotated=False), "Hand-Crafted/24.json", 500_000, "hand_crafted")


def test_a_build_keeps_the_annotated_one_speaker_run_and_says_so(tmp_path):
    folder = tmp_path / "Who&When" / "Hand-Crafted"
    folder.mkdir(parents=True)
    (folder / "24.json").write_text(json.dumps(one_speaker_run(annotated=True)))
    (folder / "6.json").write_text((sample_dir() / "teams" / "who-and-when" / "Hand-Crafted" / "6.json").read_text())
    out = tmp_path / "out"
    report = build(quiet_config(source="none", family_sources={"debate": ("none",), "agents": (str(tmp_path / "Who&When"),)},
                                output_dir=out, rank=2, trained_ranks="none"))
    section = report["families"]["agents"]
    assert section["episodes_accepted"] == 2 and section["n_agent"]["single_speaker_runs"] == 1
    assert validate_folder(out) == []
    assert "1 run(s) in which one agent alone spoke are kept because a person annotated them" in \
        (out / "README.md").read_text()
