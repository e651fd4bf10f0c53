"""MALLM records read as they are: real records from mallm-demo (builder/sources/sample/debate/mallm-demo, with
their origin and licence beside them), asserted field by field against what the files say; the string-valued
export; every malformed field a counted rejection."""

from __future__ import annotations

import copy
import json

import pytest

from builder.episode import topology_from_reads
from builder.rejections import Rejection
from builder.sources.loaders import iter_file, sample_dir
from builder.sources.mallm import mallm_row_to_episode, multichoice_correct
from conftest import FixedCounter

REAL = sample_dir() / "debate" / "mallm-demo"


def real_record(name: str) -> dict:
    rows = list(iter_file(REAL / name))
    assert len(rows) == 1 and rows[0][0].line == 1  # one indented object per file: one row
    return rows[0][1]


def normalise(record: dict) -> dict:
    return mallm_row_to_episode(record, "object.json", 100_000)


def test_a_real_record_field_by_field():
    record = real_record("object_1.json")
    episode = normalise(record)
    personas = record["personas"]
    assert [a["agent_id"] for a in episode["agents"]] == [p["agentId"] for p in personas]
    assert [a["model"] for a in episode["agents"]] == [p["model"] for p in personas] == ["meta-llama/Llama-3.1-70B-Instruct"] * 3
    assert [a["persona"] for a in episode["agents"]] == [p["persona"] for p in personas]
    assert episode["task"] == "mmlu_pro" and record["dataset"] == "data/datasets/mmlu_pro.json"
    assert episode["metadata"]["question_id"] == record["datasetId"]
    assert len(episode["turns"]) == record["turns"] == 7
    assert episode["turns"][0]["prompt"] == record["instruction"] + "\n\n" + record["input"][0]
    assert all(t["prompt"] is None for t in episode["turns"][1:])
    by_id = {m["message_id"]: m for m in record["globalMemory"]}
    for message in record["globalMemory"]:
        turn = episode["turns"][message["turn"] - 1]
        reply = next(r for r in turn["responses"] if r["agent_id"] == message["agent_id"])
        assert reply["content"] == message["message"] and reply["extracted_answer"] == message["solution"]
        assert reply["read_from"] == [{"turn_index": by_id[i]["turn"] - 1, "agent_id": by_id[i]["agent_id"]}
                                      for i in message["memory_ids"]]
        agreements = [m["agreement"] for m in record["globalMemory"] if m["turn"] == message["turn"]]
        assert turn["consensus"] == sum(agreements) / len(agreements)
    outcome = episode["outcome"]
    assert outcome["final_answer"] == record["finalAnswer"] == "The solution is E) 24 seconds."
    assert outcome["ground_truth"] == record["references"][0] == "E"
    assert outcome["final_correct"] is True and outcome["correct_by"] == "mallm_multichoice"
    assert outcome["decision_success"] is record["decisionSuccess"] is True
    assert episode["topology"] == "full_mesh" and episode["input_tokens_basis"] == "recorded_reads"


def test_decision_success_is_not_correctness():
    record = real_record("object_4.json")
    episode = normalise(record)
    assert record["decisionSuccess"] is True and record["finalAnswer"] == "D" and record["references"] == ["G"]
    assert episode["outcome"]["decision_success"] is True and episode["outcome"]["final_correct"] is False


def test_memory_paradigm_agents_speak_in_sequence_and_are_counted_so():
    """Turn 1: the first agent read nothing, the second the first, the third both: their inputs differ."""
    episode = FixedCounter().process(normalise(real_record("object_1.json")))
    first = episode["turns"][0]
    question = first["prompt_tokens"]
    outputs = [r["output_tokens"] for r in first["responses"]]
    assert [len(r["read_from"]) for r in first["responses"]] == [0, 1, 2]
    assert [r["input_tokens"] for r in first["responses"]] == [question, question + outputs[0],
                                                               question + outputs[0] + outputs[1]]
    second = episode["turns"][1]["responses"][0]  # the first agent in turn 2 read all of turn 1, its own answer too
    assert second["input_tokens"] == question + sum(outputs)


def test_a_string_valued_export_reads_the_same():
    record = real_record("object_1.json")
    stringly = copy.deepcopy(record)
    for message in stringly["globalMemory"]:
        message.update(turn=str(message["turn"]), message_id=str(message["message_id"]),
                       agreement=str(message["agreement"]), memory_ids=json.dumps(message["memory_ids"]))
    assert normalise(stringly) == normalise(record)


def test_the_schedulers_json_array_layout_is_read(tmp_path):
    records = [real_record("object_1.json"), real_record("object_4.json")]
    path = tmp_path / "mallm_output.json"
    path.write_text(json.dumps(records))
    episodes = [normalise(row) for _, row in iter_file(path)]
    assert [e["outcome"]["final_correct"] for e in episodes] == [True, False]


def test_messages_are_ordered_by_their_numeric_ids():
    record = real_record("object_1.json")
    shuffled = copy.deepcopy(record)
    shuffled["globalMemory"].reverse()  # message 10 would sort before 2 as text
    assert normalise(shuffled) == normalise(record)


def break_message(record: dict, **changes) -> dict:
    broken = copy.deepcopy(record)
    broken["globalMemory"][4].update(changes)
    return broken


@pytest.mark.parametrize("change, reason", [
    (lambda r: {**r, "metadata": "llama"}, "invalid_type"),
    (lambda r: {**r, "personas": "three"}, "invalid_type"),
    (lambda r: {**r, "personas": [{"model": "m"}]}, "invalid_type"),
    (lambda r: {**r, "references": [{"a": 1}]}, "invalid_type"),
    (lambda r: {**r, "dataset": 7}, "invalid_type"),
    (lambda r: {**r, "finalAnswer": 7}, "non_string_content"),
    (lambda r: {**r, "decisionSuccess": "yes"}, "invalid_type"),
    (lambda r: break_message(r, memory_ids=[999]), "invalid_value"),
    (lambda r: break_message(r, memory_ids=[20]), "invalid_value"),
    (lambda r: break_message(r, memory_ids="[0, "), "invalid_type"),
    (lambda r: break_message(r, memory_ids=["zero"]), "invalid_type"),
    (lambda r: break_message(r, message_id=3), "invalid_value"),
    (lambda r: break_message(r, turn="two"), "invalid_type"),
    (lambda r: break_message(r, agreement="false"), "invalid_type"),
    (lambda r: break_message(r, solution=["E"]), "non_string_content"),
    (lambda r: break_message(r, message="\ud800"), "invalid_utf8"),
    (lambda r: break_message(r, persona={"name": "x"}), "non_string_content"),
    (lambda r: break_message(r, memory_ids=None), "missing_field"),
])
def test_malformed_fields_are_counted_rejections(change, reason):
    with pytest.raises(Rejection) as caught:
        normalise(change(real_record("object_1.json")))
    assert caught.value.reason == reason


def test_an_agent_missing_from_a_turn_is_a_rejection():
    record = real_record("object_1.json")
    record["globalMemory"] = [m for m in record["globalMemory"] if not (m["turn"] == 3 and m["message_id"] == 8)]
    with pytest.raises(Rejection) as caught:
        normalise(record)
    assert caught.value.reason == "agent_count_changed"


def test_without_memory_ids_the_paradigm_decides_and_models_fall_back_to_metadata():
    record = real_record("object_1.json")
    for message in record["globalMemory"]:
        del message["memory_ids"]
    record.update(paradigm="relay", metadata={"model": "some-model"}, personas=record["personas"][:2])
    episode = normalise(record)
    assert episode["topology"] == "sparse" and episode["input_tokens_basis"] == "content_only"
    assert [a["model"] for a in episode["agents"]] == ["meta-llama/Llama-3.1-70B-Instruct"] * 2 + ["some-model"]
    assert episode["agents"][2]["persona"] == record["globalMemory"][2]["persona"]
    assert all(r["read_from"] is None for t in episode["turns"] for r in t["responses"])


def test_free_text_references_leave_correctness_unknown():
    record = {**real_record("object_1.json"), "references": ["24 seconds"]}
    outcome = normalise(record)["outcome"]
    assert outcome["final_correct"] is None and outcome["correct_by"] is None and outcome["ground_truth"] == "24 seconds"


@pytest.mark.parametrize("answer, reference, correct", [
    ("The solution is E) 24 seconds.", "E", True),
    ("Final Solution: B, because ...", "B) No", True),
    ("final solution : c", "C", False),  # the letter must be a capital, as in MALLM's pattern
    ("D", "G", False),
    ("The solution is E.", "E", False),  # MALLM's backup pattern needs ")", "]", ":" or the end after the letter
    ("no letter here", "A", False),
])
def test_multichoice_metric_is_mallms(answer, reference, correct):
    assert multichoice_correct(answer, [reference]) is correct


def reads(pattern: dict[int, list[int]], agents: int = 3) -> tuple[list[str], list[dict]]:
    ids = [f"a{i}" for i in range(agents)]
    responses = [{"agent_id": ids[i], "read_from": [{"turn_index": 0, "agent_id": ids[j]} for j in pattern.get(i, [])]}
                 for i in range(agents)]
    return ids, [{"responses": responses}]


@pytest.mark.parametrize("pattern, topology", [
    ({}, "independent"),
    ({0: [1, 2], 1: [0, 2], 2: [0, 1]}, "full_mesh"),
    ({0: [1, 2], 1: [0], 2: [0]}, "centralized"),
    ({0: [2], 1: [0], 2: [1]}, "relay"),
    ({0: [1], 1: [2]}, "recorded"),
])
def test_topology_follows_the_recorded_reads(pattern, topology):
    assert topology_from_reads(*reads(pattern)) == topology


def test_a_ring_of_four_reading_both_neighbours_is_sparse():
    assert topology_from_reads(*reads({0: [3, 1], 1: [0, 2], 2: [1, 3], 3: [2, 0]}, agents=4)) == "sparse"
