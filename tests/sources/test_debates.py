"""N-agent episodes: Agent-Scaling histories, MALLM records and answer sets in the same schema, token
accounting per topology, N* per round, their own configs and basis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import load_dataset

from builder.pipeline import build
from builder.sources.agent_scaling import agent_scaling_row_to_episode, parse_file_name
from builder.sources.answer_sets import answer_set_row_to_episode
from builder.sources.debates import iter_debate_rows, plan_debate_sources, sample_questions
from builder.rejections import Rejection
from builder.validate import validate_folder
from conftest import quiet_config
from multi_llm_coord import episode_features
from conftest import FixedCounter

BAD_DEBATE_REASONS = {"missing_rounds", "agent_count_changed", "agent_count_mismatch", "too_few_agents",
                      "unknown_topology"}


@pytest.mark.parametrize("name, topology, agents, rounds", [
    ("gsm8k_debate_100__MIXED3_N=3_R=3.jsonl", "full_mesh", 3, 3),
    ("mmlu_pro_debate_50__llama-3-8b_N=4_R=2_SPARSE.jsonl", "sparse", 4, 2),
    ("gsm8k_debate_100__qwen_N=5_R=2_CENTRAL_seed1.jsonl", "centralized", 5, 2),
    ("gsm8k_debate_100__qwen_N=5_R=2_v2.jsonl", "full_mesh", 5, 2),
    ("gsm8k_debate_100__qwen_N=5_R=2_STAR.jsonl", None, 5, 2),
])
def test_file_names_give_task_size_and_topology(name, topology, agents, rounds):
    info = parse_file_name(Path(name))
    assert (info["topology"], info["agents"], info["rounds"]) == (topology, agents, rounds)
    assert info["task"] in ("gsm8k", "mmlu_pro")
    assert (info["unknown_suffix"] == "STAR") == (topology is None)


def debate_episode(topology, outputs, prompt="q q", memory="full_history"):
    agents = len(outputs[0])
    return {
        "topology": topology,
        "memory": memory,
        "agents": [{"agent_id": f"Agent{i}"} for i in range(agents)],
        "turns": [{"prompt": prompt if r == 0 else "",
                   "responses": [{"agent_id": f"Agent{i}", "content": " ".join(["w"] * n)} for i, n in enumerate(row)]}
                  for r, row in enumerate(outputs)],
    }


@pytest.mark.parametrize("topology, expected", [
    # round 1 reads: prompt (2) + own round-0 answer + the round-0 answers of N(i); outputs in round 0: 1, 2, 3, 4
    ("full_mesh", [12, 12, 12, 12]),
    ("sparse", [2 + 1 + 4 + 2, 2 + 2 + 1 + 3, 2 + 3 + 2 + 4, 2 + 4 + 3 + 1]),
    ("centralized", [2 + 1 + 2 + 3 + 4, 2 + 2 + 1, 2 + 3 + 1, 2 + 4 + 1]),
])
def test_input_tokens_follow_the_topology(topology, expected):
    result = FixedCounter().process(debate_episode(topology, [[1, 2, 3, 4], [5, 5, 5, 5], [1, 1, 1, 1]]))
    assert [r["input_tokens"] for r in result["turns"][0]["responses"]] == [2, 2, 2, 2]
    assert [r["input_tokens"] for r in result["turns"][1]["responses"]] == expected
    # round 2 adds what was read after round 1 in the same way (everyone wrote 5)
    per_peer = {"full_mesh": 3, "sparse": 2, "centralized": None}[topology]
    round_two = [r["input_tokens"] for r in result["turns"][2]["responses"]]
    if per_peer is not None:
        assert round_two == [e + 5 + 5 * per_peer for e in expected]
    else:
        assert round_two == [expected[0] + 5 + 15] + [e + 5 + 5 for e in expected[1:]]
    totals = result["token_totals"]
    assert totals["agent_input_tokens"] == sum(r["input_tokens"] for t in result["turns"] for r in t["responses"])


@pytest.mark.parametrize("topology, round_one, round_two", [
    # last_round: the question (2) + own previous answer + N(i)'s previous answers; nothing older.
    ("full_mesh", [12, 12, 12, 12], [22, 22, 22, 22]),
    ("sparse", [9, 8, 11, 10], [17, 17, 17, 17]),
    ("centralized", [12, 5, 6, 7], [22, 12, 12, 12]),
])
def test_agent_scaling_rounds_are_fresh_requests(topology, round_one, round_two):
    result = FixedCounter().process(debate_episode(topology, [[1, 2, 3, 4], [5, 5, 5, 5], [1, 1, 1, 1]],
                                                   memory="last_round"))
    reads = [[r["input_tokens"] for r in t["responses"]] for t in result["turns"]]
    assert reads == [[2, 2, 2, 2], round_one, round_two]


def test_independent_voting_reads_only_the_prompt():
    result = FixedCounter().process(debate_episode("independent", [[3, 9, 1]], prompt="a b c"))
    assert [r["input_tokens"] for r in result["turns"][0]["responses"]] == [3, 3, 3]
    assert result["communication_efficiency"]["coordination_overhead"] == pytest.approx((9 - 1) / (3 + 13))


def history_row(rounds=3, agents=3, answers=None, drop_agent_in_round=None):
    """A history of `rounds` rounds ("0".."rounds-1"): a file named R=2 holds 3 rounds."""
    row = {}
    for r in range(rounds):
        names = [f"gsm8k_10__m{i}__persona{i}__Agent{i + 1}" for i in range(agents)]
        if drop_agent_in_round == r:
            names = names[:-1]
        finals = (answers or [["4"] * agents] * rounds)[r]
        row[str(r)] = {"responses": {n: f"Round {r}: the answer is {finals[i]}." for i, n in enumerate(names)},
                       "final_answers": finals, "final_answer_iscorr": [a == "4" for a in finals],
                       "debate_answer": max(set(finals), key=finals.count), "debate_answer_iscorr": True,
                       "answer": "4", "persona_configs": [f"persona{i}" for i in range(agents)]}
    return row


def normalise_history(row, name="gsm8k_debate_10__MIXED3_N=3_R=2.jsonl", questions=("What is 2+2?",)):
    path = Path(name)
    return agent_scaling_row_to_episode(row, 0, path, parse_file_name(path), list(questions), 10_000)


def test_agent_scaling_history_becomes_an_episode():
    episode = normalise_history(history_row(answers=[["4", "5", "4"], ["4", "4", "4"], ["4", "4", "4"]]))
    assert episode["episode_id"] == "gsm8k_debate_10__MIXED3_N=3_R=2#q0"
    assert episode["topology"] == "full_mesh" and episode["task"] == "gsm8k" and episode["winner"] is None
    assert [(a["agent_id"], a["model"], a["persona"]) for a in episode["agents"]][1] == ("Agent2", "m1", "persona1")
    assert episode["memory"] == "last_round"
    assert [t["prompt"] for t in episode["turns"]] == ["What is 2+2?", None, None]  # no new user message after round 0
    assert [t["consensus"] for t in episode["turns"]] == [pytest.approx(2 / 3), 1.0, 1.0]
    assert episode["input_tokens_basis"] == "agent_scaling_template_without_persona_prompt"
    assert [r["is_correct"] for r in episode["turns"][0]["responses"]] == [True, False, True]
    assert episode["outcome"]["final_answer"] == "4" and episode["outcome"]["final_correct"] is True


def test_centralized_files_log_only_the_hub_and_the_others_are_read_from_their_texts():
    row = history_row(agents=3)
    for round_ in row.values():
        round_["final_answers"], round_["final_answer_iscorr"] = ["4"], [True]
        names = list(round_["responses"])
        round_["responses"][names[1]] = "I get {final answer: 4}"
        round_["responses"][names[2]] = "I get {final answer: 5}"
    episode = normalise_history(row, "gsm8k_debate_10__m_N=3_R=2_CENTRAL.jsonl")
    assert episode["topology"] == "centralized"
    # no reply follows the evaluator's {final answer: ...} form but the two extracted ones; the log's hub answer
    # ("4") is not used either, since the list is not one value per agent: every answer comes from the texts
    assert [r["extracted_answer"] for r in episode["turns"][1]["responses"]] == [None, "4.0", "5.0"]
    assert [r["is_correct"] for r in episode["turns"][1]["responses"]] == [None, True, False]
    assert episode["turns"][1]["consensus"] == 0.5


def test_histories_hold_r_plus_one_rounds():
    with pytest.raises(Rejection) as caught:
        normalise_history(history_row(rounds=2))  # R=2 but only rounds 0 and 1
    assert caught.value.reason == "missing_rounds" and "expected 0..2" in caught.value.detail
    assert len(normalise_history(history_row(rounds=3))["turns"]) == 3


@pytest.mark.parametrize("reason, row, name", [
    ("missing_rounds", {"0": history_row()["0"], "2": history_row()["1"]}, None),
    ("missing_rounds", {"0": history_row()["0"]}, None),
    ("agent_count_changed", history_row(drop_agent_in_round=1), None),
    ("agent_count_mismatch", history_row(agents=3), "gsm8k_debate_10__m_N=4_R=2.jsonl"),
    ("unknown_topology", history_row(), "gsm8k_debate_10__m_N=3_R=2_STAR.jsonl"),
])
def test_malformed_histories_are_rejected_with_reasons(reason, row, name):
    with pytest.raises(Rejection) as caught:
        normalise_history(row, name or "gsm8k_debate_10__MIXED3_N=3_R=2.jsonl")
    assert caught.value.reason == reason


def test_answer_sets_and_too_few_agents():
    row = {"question_id": 7, "prompt": "Say hi", "agents": [
        {"model": "a", "response": "hi", "judge_score": 4}, {"model": "b", "response": "hello!", "judge_score": 9.5}]}
    episode = answer_set_row_to_episode(row, "sets.jsonl", 1000)
    assert episode["topology"] == "independent" and len(episode["turns"]) == 1
    assert [r["judge_score"] for r in episode["turns"][0]["responses"]] == [4.0, 9.5]
    assert episode["outcome"]["best_judge_score"] == 9.5 and episode["outcome"]["final_answer"] == "agent_1"
    with pytest.raises(Rejection) as caught:
        answer_set_row_to_episode({**row, "agents": row["agents"][:1]}, "sets.jsonl", 1000)
    assert caught.value.reason == "too_few_agents"


def test_the_embedded_debate_sample_covers_topologies_sources_and_questions():
    plan = plan_debate_sources(("sample",), sample_questions(), 200_000)
    episodes = [normalise(row) for _, row, normalise in iter_debate_rows(plan)]
    assert plan.notes == []
    assert {e["topology"] for e in episodes} == {"full_mesh", "sparse", "centralized", "independent"}
    assert all(3 <= len(e["agents"]) <= 5 for e in episodes)
    assert all(e["turns"][0]["prompt"] for e in episodes)  # questions file found for gsm8k


def test_debate_configs_load_validate_and_have_their_own_basis(sample_build):
    output_dir, report = sample_build
    assert validate_folder(output_dir) == []
    mini = load_dataset(str(output_dir), "debate-mini", split="train")
    full = load_dataset(str(output_dir), "debate-full", split="all")
    assert mini.features == episode_features(report["options"]["rank"]) == full.features
    assert len(mini) == 3 and len({e["topology"] for e in mini}) == 3
    assert len(full) == report["configs"]["debate-full"]["episodes"] == report["families"]["debate"]["episodes_accepted"]
    assert (output_dir / "coordinator-debate" / "coordinator.safetensors").is_file()
    debate = report["families"]["debate"]
    assert debate["stages"][1]["fit"]["turn_observations"] == sum(len(e["turns"]) for e in full)
    for episode in full:
        for turn in episode["turns"]:
            assert 1 - 1e-9 <= turn["effective_diversity"] <= len(episode["agents"]) + 1e-9
    accuracy = debate["n_agent"]["agent_accuracy_by_round"]
    assert accuracy["0"]["accuracy"] < accuracy["1"]["accuracy"]  # the sample's agents correct each other
    assert set(debate["latent_probe"]["targets"]) == {"final_correct", "consensus"}
    # rounds after the first carry no new prompt: nothing to compare, so no topic shift is invented
    assert debate["labels"]["turn_events"]["topic_shift"] == 0
    assert all(t["prompt"] is None for e in full for t in e["turns"][1:])


def write_history(folder: Path, name: str, rows: list[dict]) -> Path:
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_n_star_per_round_and_rejections_in_a_debate_build(tmp_path):
    folder = tmp_path / "histories"
    folder.mkdir()
    rows = [history_row(answers=[["4", "5", "6"], ["4", "4", "4"], ["4", "4", "4"]]) for _ in range(3)]
    for row in rows:  # rounds 1 and 2: identical texts -> N* = 1; round 0: different texts -> N* > 1
        for later in ("1", "2"):
            for name in row[later]["responses"]:
                row[later]["responses"][name] = "After debate we agree: the answer is 4."
    rows.append({"0": history_row()["0"], "1": history_row()["1"]})  # a missing round
    write_history(folder, "gsm8k_debate_10__MIXED3_N=3_R=2.jsonl", rows)
    write_history(folder, "gsm8k_debate_10__MIXED3_N=3_R=2_RING.jsonl", [history_row()])
    (tmp_path / "q.jsonl").write_text('"What is 2+2?"\n' * 4)
    report = build(quiet_config(output_dir=tmp_path / "out", rank=3, family_sources={"debate": (str(folder),)},
                                questions=(f"gsm8k={tmp_path / 'q.jsonl'}",)))
    debate = report["families"]["debate"]
    assert debate["rejections"]["by_reason"] == {"missing_rounds": 1, "unknown_topology": 1}
    full = load_dataset(str(tmp_path / "out"), "debate-full", split="all")
    for episode in full:
        assert episode["turns"][0]["effective_diversity"] > 1.01
        assert episode["turns"][1]["effective_diversity"] == pytest.approx(1.0)
        assert episode["turns"][0]["prompt"] == "What is 2+2?"
    assert validate_folder(tmp_path / "out") == []


def test_a_missing_questions_file_is_a_one_line_error(tmp_path, capsys):
    from builder.cli import main

    code = main(["build", "-o", str(tmp_path / "out"), "--no-progress", "--questions", f"gsm8k={tmp_path / 'nope.jsonl'}"])
    assert code == 2
    assert "questions file for task 'gsm8k'" in capsys.readouterr().err


def test_personas_come_from_agent_names_not_sampling_configs():
    row = history_row()
    for round_ in row.values():
        round_["responses"] = {f"gsm8k_10__m{i}__None__Agent{i + 1}": text
                               for i, text in enumerate(round_["responses"].values())}
        round_["persona_configs"] = ["{'temperature': 0.7, 'top_p': 0.9}"] * 3
    episode = normalise_history(row)
    assert [a["persona"] for a in episode["agents"]] == ["", "", ""]
    assert [a["agent_id"] for a in episode["agents"]] == ["Agent1", "Agent2", "Agent3"]  # the run's own numbering
    assert [a["model"] for a in episode["agents"]] == ["m0", "m1", "m2"]
