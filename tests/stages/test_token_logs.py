"""Token logs: offline tiktoken, the input/output accounting per turn and agent, episode metrics."""

from __future__ import annotations

import pytest

from conftest import FixedCounter
from builder.stages.token_logs import TokenLogStage
from builder.stages.tokenizer import get_encoding, seed_tiktoken_cache


@pytest.mark.parametrize("encoding, ids", [("cl100k_base", [15339, 1917]), ("o200k_base", [24912, 2375])])
def test_offline_encodings_give_the_official_token_ids(encoding, ids, tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # an empty cache: only the shipped files can serve
    get_encoding.cache_clear()
    try:
        assert get_encoding(encoding).encode("hello world") == ids
        assert seed_tiktoken_cache(encoding).parent == tmp_path
    finally:
        get_encoding.cache_clear()


def test_unknown_encoding_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown tiktoken encoding 'no_such_encoding'"):
        get_encoding("no_such_encoding")


def episode(turns, agents=("model_a", "model_b"), topology="pairwise_chat"):
    return {
        "topology": topology,
        "agents": [{"agent_id": a, "model": a, "persona": ""} for a in agents],
        "turns": [
            {"turn_index": i, "prompt": prompt, "responses": [{"agent_id": a, "content": c} for a, c in zip(agents, answers)]}
            for i, (prompt, answers) in enumerate(turns)
        ],
    }


def test_input_tokens_resend_the_agents_own_history():
    stage = FixedCounter()
    result = stage.process(episode([
        ("p1 p1", ("a a a", "b")),          # prompt 2; outputs a=3, b=1
        ("p2", ("a", "b b b b")),           # prompt 1; outputs a=1, b=4
        ("p3 p3 p3", ("a a", "")),          # prompt 3; outputs a=2, b=0
    ]))
    reads = [[r["input_tokens"] for r in t["responses"]] for t in result["turns"]]
    # a: 2 | 2+3+1=6 | 6+1+3=10 ; b: 2 | 2+1+1=4 | 4+4+3=11
    assert reads == [[2, 2], [6, 4], [10, 11]]
    writes = [[r["output_tokens"] for r in t["responses"]] for t in result["turns"]]
    assert writes == [[3, 1], [1, 4], [2, 0]]
    totals = result["token_totals"]
    assert totals["prompt_tokens"] == 6
    assert totals["output_tokens"] == 11
    assert totals["total_tokens"] == 17
    assert totals["agent_input_tokens"] == 2 + 6 + 10 + 2 + 4 + 11
    assert [(a["input_tokens"], a["output_tokens"]) for a in totals["per_agent"]] == [(18, 6), (17, 5)]
    efficiency = result["communication_efficiency"]
    assert efficiency["avg_tokens_per_turn"] == pytest.approx(17 / 3)
    assert efficiency["input_output_ratio"] == pytest.approx(35 / 11)  # what the agents were sent per token written
    assert efficiency["coordination_overhead"] == pytest.approx(1 / 17)
    assert efficiency["history_resend_ratio"] == pytest.approx(35 / (2 * 6))


def test_coordination_overhead_matches_a_worked_two_agent_example():
    # |out_b - out_a| / total_tokens = 202 / 725 (here: prompt 101, answers 211 and 413).
    stage = FixedCounter()
    result = stage.process(episode([(" ".join(["p"] * 101), (" ".join(["a"] * 211), " ".join(["b"] * 413)))]))
    assert result["token_totals"]["total_tokens"] == 725
    assert result["communication_efficiency"]["coordination_overhead"] == pytest.approx(202 / 725)


def test_n_agent_overhead_is_the_spread_of_output_budgets():
    stage = FixedCounter()
    result = stage.process(episode([("p", ("x", "x x x", "x x"))], agents=("a0", "a1", "a2")))
    assert result["communication_efficiency"]["coordination_overhead"] == pytest.approx((3 - 1) / 7)


def test_empty_answers_give_null_ratios_not_nan():
    stage = FixedCounter()
    result = stage.process(episode([("", ("", "   "))]))
    efficiency = result["communication_efficiency"]
    assert efficiency["input_output_ratio"] is None
    assert efficiency["coordination_overhead"] is None
    assert efficiency["history_resend_ratio"] is None
    assert efficiency["avg_tokens_per_turn"] == 0


def test_real_tokenizer_counts_special_token_text_as_text():
    stage = TokenLogStage("cl100k_base")
    result = stage.process(episode([("say <|endoftext|> please", ("ok", "hello world"))]))
    assert result["turns"][0]["prompt_tokens"] > 1
    assert result["turns"][0]["responses"][1]["output_tokens"] == 2
    assert stage.describe()["encoding"] == "cl100k_base"
