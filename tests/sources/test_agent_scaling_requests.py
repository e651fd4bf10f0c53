"""What each Agent-Scaling agent was sent, rebuilt from its templates (src/main.py `get_new_message`,
src/evaluator.py `get_instruction_suffix`) and counted by hand; its question order; its file-name markers."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.sources.agent_scaling import (
    agent_scaling_order,
    agent_scaling_requests,
    agent_scaling_row_to_episode,
    parse_file_name,
)
from conftest import FixedCounter

SUFFIX = ' Make sure to state your final answer in curly brackets at the very end of your response, just like: "{final answer: 123}".'
CLOSE = ("\n\nUse these opinions carefully as additional advice to revise your recent opinion to give your final answer "
         "to the question:\nWhat is 2+2?" + SUFFIX)


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
    assert requests[0] == ["What is 2+2?" + SUFFIX] * 2
    assert requests[1][0] == ("These are the recent opinions from other agents: "
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
    assert hub == ("These are the recent opinions from other agents: \n\nOne of the agents' response: \nb b\n"
                   "\n\nOne of the agents' response: \nc c c\n\n\nThis was your most recent opinion:\na\n" + CLOSE)
    assert spoke == "This is the recent opinion from another agent: \na\n\n\nThis was your most recent opinion:\nb b\n" + CLOSE
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
    assert agent_scaling_requests(bae)[0][0] == "What is 2+2? Make sure to state your answer at the end of the response."
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
    build(quiet_config(source=source, debate_sources=(str(folder),), questions=(f"gsm8k={tmp_path / 'q.jsonl'}",),
                       questions_order="agent_scaling", output_dir=tmp_path / "out", rank=2))
    full = load_dataset(str(tmp_path / "out"), "debate-full", split="train")
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
