"""What each Agent-Scaling agent was sent, rebuilt from its templates (src/main.py `get_new_message`,
src/evaluator.py `get_instruction_suffix`) and counted by hand; its question order; its file-name markers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builder.sources.agent_scaling import (
    agent_scaling_order,
    agent_scaling_requests,
    agent_scaling_row_to_episode,
    extract_answer,
    parse_file_name,
)
from conftest import FixedCounter

SUFFIX = ' Make sure to state your final answer in curly brackets at the very end of your response, just like: "{final answer: 123}".'
CLOSE = ("\n\nUse these opinions carefully as additional advice to revise your recent opinion to give your final answer "
         "to the question:\nWhat is 2+2?" + SUFFIX)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def history(answers: list[list[str]], personas=None) -> dict:
    agents = len(answers[0])
    personas = personas or ["None"] * agents
    return {str(r): {"responses": {f"gsm8k_10__m__{personas[i]}__Agent{i + 1}": text for i, text in enumerate(row)},
                     "final_answers": ["4"] * agents, "final_answer_iscorr": [True] * agents, "debate_answer": "4",
                     "debate_answer_iscorr": True, "answer": "4", "persona_configs": ["None"] * agents}
            for r, row in enumerate(answers)}


def episode_of(name: str, answers, questions=("What is 2+2?",), personas=None) -> dict:
    path = Path(name)
    return agent_scaling_row_to_episode(history(answers, personas), 0, path, parse_file_name(path),
                                        None if questions is None else list(questions), 10_000)


def test_two_agents_sparse_read_their_single_neighbour_twice_counted_by_hand():
    episode = episode_of("gsm8k_debate_10__m_N=2_R=1_SPARSE.jsonl", [["four", "it is 4"], ["4", "4"]])
    assert episode["input_tokens_basis"] == "agent_scaling_template"
    requests = agent_scaling_requests(episode)
    assert requests[0] == [user("What is 2+2?" + SUFFIX)] * 2  # a local model key ("m"): no system message
    assert requests[1][0] == user("These are the recent opinions from other agents: "
                              "\n\nOne of the agents' response: \nit is 4\n"
                              "\n\nOne of the agents' response: \nit is 4\n"  # i-1 and i+1 are the same agent
                              "\n\nThis was your most recent opinion:\nfour\n" + CLOSE)
    reads = [[r["input_tokens"] for r in t["responses"]] for t in FixedCounter().process(episode)["turns"]]
    # words: question 3 + suffix 22 = 25; opener 8; each peer block 5 + its answer; own block 6 + own answer;
    # closing 20 + 25.  Agent1: 8 + 2*(5+3) + (6+1) + 45 = 76.  Agent2: 8 + 2*(5+1) + (6+3) + 45 = 74.
    assert reads == [[25, 25], [76, 74]]


def test_centralized_hub_reads_everyone_and_the_others_read_the_hub():
    episode = episode_of("gsm8k_debate_10__m_N=3_R=1_CENTRAL.jsonl", [["a", "b b", "c c c"], ["4", "4", "4"]])
    hub, spoke = agent_scaling_requests(episode)[1][:2]
    assert hub == user("These are the recent opinions from other agents: \n\nOne of the agents' response: \nb b\n"
                       "\n\nOne of the agents' response: \nc c c\n\n\nThis was your most recent opinion:\na\n" + CLOSE)
    assert spoke == user("This is the recent opinion from another agent: \na\n\n\nThis was your most recent opinion:\nb b\n"
                         + CLOSE)
    reads = [r["input_tokens"] for r in FixedCounter().process(episode)["turns"][1]["responses"]]
    # hub: 8 + (5+2) + (5+3) + (6+1) + 45 = 75; Agent2: 8 ("This is the recent opinion from another agent:") + 1
    # + (6+2) + 45 = 62; Agent3: 8 + 1 + (6+3) + 45 = 63
    assert reads == [75, 62, 63]


def test_round_zero_is_question_plus_suffix_not_the_question_alone():
    episode = FixedCounter().process(episode_of("gsm8k_debate_10__m_N=3_R=1.jsonl", [["a", "b", "c"], ["4", "4", "4"]]))
    assert episode["turns"][0]["prompt_tokens"] == 3  # the question as the user wrote it
    assert [r["input_tokens"] for r in episode["turns"][0]["responses"]] == [25, 25, 25]  # what was sent
    assert episode["turns"][1]["prompt"] is None and episode["turns"][1]["prompt_tokens"] == 0


def test_bae_runs_use_their_own_suffix_and_personas_and_missing_questions_say_so():
    bae = episode_of("gsm8k_debate_10__m_N=2_R=1_BAE.jsonl", [["a", "b"], ["4", "4"]])
    assert agent_scaling_requests(bae)[0][0] == user("What is 2+2? Make sure to state your answer at the end of the response.")
    assert bae["topology"] == "full_mesh"  # _BAE is a run option, not a topology
    hetero = episode_of("gsm8k_debate_10__m_N=2_R=1_HETERO_ENHANCED.jsonl", [["a", "b"], ["4", "4"]],
                        personas=["math", "skeptic"])
    assert hetero["input_tokens_basis"] == "agent_scaling_template_without_persona_prompt"
    unknown = episode_of("gsm8k_debate_10__m_N=2_R=1.jsonl", [["a", "b"], ["4", "4"]], questions=None)
    assert unknown["input_tokens_basis"] == "agent_scaling_template_without_question"
    assert unknown["turns"][0]["prompt"] is None


def test_question_order_matches_pandas_sample_with_seed_zero():
    import pandas as pd

    questions = [f"question {i}" for i in range(57)]
    expected = pd.DataFrame({"question": questions}).sample(frac=1, random_state=0).reset_index(drop=True)
    assert agent_scaling_order(questions) == expected["question"].tolist()


def test_questions_order_option_numbers_records_like_agent_scaling(tmp_path):
    from builder.pipeline import build
    from conftest import make_row, quiet_config, write_jsonl
    from datasets import load_dataset

    questions = [f"Question number {i}?" for i in range(12)]
    (tmp_path / "q.jsonl").write_text("".join(f'"{q}"\n' for q in questions))
    folder = tmp_path / "histories"
    folder.mkdir()
    write_jsonl(folder / "gsm8k_debate_12__m_N=2_R=1.jsonl", [history([["a", "b"], ["4", "4"]]) for _ in range(12)])
    source = write_jsonl(tmp_path / "arena.jsonl", [make_row(question_id=f"o-{i}") for i in range(3)])
    build(quiet_config(source=source, family_sources={"debate": (str(folder),)}, questions=(f"gsm8k={tmp_path / 'q.jsonl'}",),
                       questions_order="agent_scaling", output_dir=tmp_path / "out", rank=2))
    full = load_dataset(str(tmp_path / "out"), "debate-full", split="all")
    by_index = {int(e["episode_id"].rsplit("#q", 1)[1]): e["turns"][0]["prompt"] for e in full}
    assert [by_index[i] for i in range(12)] == agent_scaling_order(questions)
    assert by_index[0] != questions[0]


@pytest.mark.parametrize("name, topology", [
    ("gsm8k_debate_100__m_N=3_R=2_BAE.jsonl", "full_mesh"),
    ("gsm8k_debate_100__m_N=3_R=2_SPARSE_HETERO_ENHANCED.jsonl", "sparse"),
    ("gsm8k_debate_100__m_N=3_R=2_CENTRAL_BASEA_LENMATCH.jsonl", "centralized"),
    ("gsm8k_debate_100__m_N=3_R=2_BASEB_SINGLEP.jsonl", "full_mesh"),
])
def test_the_runs_other_markers_are_not_unknown_topologies(name, topology):
    assert parse_file_name(Path(name))["topology"] == topology


# --- histories written by Agent-Scaling's own code (tests/fixtures/agent_scaling/README.md) -------------------

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "agent_scaling"
HISTORIES = sorted(p for p in FIXTURES.glob("*.jsonl") if not p.name.endswith(".questions.jsonl"))


def real_episodes(path: Path) -> list[dict]:
    questions = [json.loads(line) for line in (FIXTURES / f"{path.stem}.questions.jsonl").read_text().splitlines()]
    return [agent_scaling_row_to_episode(json.loads(line), index, path, parse_file_name(path), questions, 100_000)
            for index, line in enumerate(path.read_text().splitlines())]


def fixture(marker: str) -> Path:
    return next(p for p in HISTORIES if marker in p.name)


def test_the_fixtures_cover_four_runs():
    assert len(HISTORIES) == 4


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
def test_rebuilt_requests_are_what_agent_scaling_sent(path):
    """Every message of every request, system message included, equals what Agent-Scaling's engine passed on."""
    sent = json.loads((FIXTURES / f"{path.stem}.requests.json").read_text())
    rebuilt = {(q, r, a): messages for q, episode in enumerate(real_episodes(path))
               for r, per_agent in enumerate(agent_scaling_requests(episode)) for a, messages in enumerate(per_agent)}
    assert {(s["question"], s["round"], s["agent"]): s["messages"] for s in sent} == rebuilt


# Rounds whose log holds one answer per agent, counted by hand in each fixture: the CENTRAL run logs the hub's
# answer alone, so none of its rounds can be compared.
ROUNDS_WITH_ONE_ANSWER_PER_AGENT = {"arc_vote_1__gemini-2.5-flash_N=4_R=1_SPARSE": 2,
                                    "gsm8k_vote_1__gpt-4o-mini_N=3_R=1_BAE": 1,
                                    "gsm8k_vote_1__gpt-4o-mini_N=3_R=1_CENTRAL": 0,
                                    "gsm8k_vote_2__MIXED2_N=3_R=2": 6}


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
def test_answers_extracted_by_the_evaluators_rule_equal_the_logged_ones(path):
    """Where the log holds one answer per agent, the builder's extraction gives the same (so where it does not,
    the extraction stands in for the evaluator faithfully); "" in the log is an answer it could not parse."""
    info = parse_file_name(path)
    compared = 0
    for line in path.read_text().splitlines():
        for round_ in json.loads(line).values():
            texts = list(round_["responses"].values())
            if len(round_["final_answers"]) == len(texts):
                logged = [None if a == "" else str(a) for a in round_["final_answers"]]
                assert [extract_answer(t, info["task"], info["bae"]) for t in texts] == logged
                compared += 1
    assert compared == ROUNDS_WITH_ONE_ANSWER_PER_AGENT[path.stem]


def test_bae_unparsed_answers_are_null_answers_not_a_rejected_question():
    path = fixture("_BAE")
    row = json.loads(path.read_text().splitlines()[0])
    assert len(row["0"]["final_answers"]) == 2 and len(row["0"]["responses"]) == 3  # what Agent-Scaling wrote
    episode = real_episodes(path)[0]
    first, second = episode["turns"]
    assert [r["extracted_answer"] for r in first["responses"]] == ["28.0", None, "28.0"]
    assert [r["is_correct"] for r in first["responses"]] == [True, None, True]
    assert first["consensus"] == 1.0  # both known answers agree; the unparsed one is unknown, not a dissent
    assert second["consensus"] == pytest.approx(2 / 3) and [r["is_correct"] for r in second["responses"]] == row["1"]["final_answer_iscorr"]
    assert episode["outcome"]["final_correct"] is True and episode["outcome"]["correct_by"] == "source"


def test_centralized_consensus_covers_every_agent_not_only_the_hub():
    path = fixture("_CENTRAL")
    row = json.loads(path.read_text().splitlines()[0])
    assert row["1"]["final_answers"] == [60.0]  # Agent-Scaling evaluated the hub alone
    episode = real_episodes(path)[0]
    assert [r["extracted_answer"] for r in episode["turns"][1]["responses"]] == ["60.0"] * 3
    assert episode["turns"][1]["consensus"] == 1.0 and episode["outcome"]["final_consensus"] == 1.0  # was 1/3


def test_api_agents_system_message_is_counted():
    path = fixture("MIXED2")
    episode = FixedCounter().process(real_episodes(path)[0])
    assert [a["model"] for a in episode["agents"]] == ["gpt-4o-mini", "gemini-2.5-flash", "gpt-4o-mini"]
    question = episode["turns"][0]["prompt"]
    assert question == json.loads((FIXTURES / f"{path.stem}.questions.jsonl").read_text().splitlines()[0])
    # words: "You are a helpful assistant." 5; the question; the instruction suffix 22
    assert [r["input_tokens"] for r in episode["turns"][0]["responses"]] == [5 + len(question.split()) + 22] * 3


def test_an_absurd_round_count_in_a_file_name_is_refused_before_any_row():
    with pytest.raises(ValueError, match="more than"):
        parse_file_name(Path("gsm8k_debate_1__m_N=3_R=99999999999999999.jsonl"))
