"""Agent traces from real frameworks: AG2 (GenAI semantic conventions, natively) and the OpenAI Agents SDK
(OpenInference instrumentor, with a handoff and a tool call), each run against the local scripted
OpenAI-compatible server, its spans captured with the OpenTelemetry SDK and written with the official OTLP encoder
(tests/frameworks/). The episodes are asserted against what the server received and returned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from builder.rejections import Rejection
from builder.sources.agent_teams import iter_team_rows, plan_team_sources
from builder.stages.token_logs import TokenLogStage
from openai_server import ScriptedChatServer

if os.environ.get("MULTI_LLM_COORD_REQUIRE_FRAMEWORKS"):
    import autogen.opentelemetry  # noqa: F401  CI installs the test extra: these tests must run there, never skip
    import openinference.instrumentation.openai_agents  # noqa: F401
else:
    pytest.importorskip("autogen.opentelemetry", reason="the test extra's agent frameworks are not installed")
    pytest.importorskip("openinference.instrumentation.openai_agents", reason="the test extra is not installed")

FRAMEWORKS = Path(__file__).resolve().parents[1] / "frameworks"
AG2_SCRIPT = ["Plan: add the two numbers.", "2 + 2 = 4.", "Checked: the answer is 4. TERMINATE"]
AGENTS_SCRIPT = [{"tool_calls": [("transfer_to_math_agent", {})]}, {"tool_calls": [("add", {"a": 2, "b": 2})]},
                 "The sum is 4."]


def run_framework(script_name: str, replies: list, tmp_path: Path, python: str = sys.executable,
                  args: tuple = ()) -> tuple[list, Path]:
    """(what the server received and answered, the trace file) of a framework runner's run, in `python`."""
    trace = tmp_path / f"{script_name}.otlp.jsonl"
    with ScriptedChatServer(replies) as server:
        result = subprocess.run([python, str(FRAMEWORKS / script_name), server.base_url, str(trace), *args],
                                capture_output=True, text=True, timeout=240)
        assert result.returncode == 0, result.stderr[-3000:]
        return server.exchanges, trace


def episodes_of(trace: Path) -> list[dict]:
    found = []
    for location, row, normalise in iter_team_rows(plan_team_sources((str(trace),)), 100_000):
        assert not isinstance(row, Rejection), (location, row)
        found.append(normalise(row))
    return found


def wire_messages(request: dict) -> list[dict]:
    """What the client sent, in the reader's terms: role, text, and tool calls by name."""
    return [{"role": m["role"], "content": m.get("content") or "",
             "calls": [c["function"]["name"] for c in m.get("tool_calls") or []]} for m in request["messages"]]


def recorded(sent: list[dict]) -> list[dict]:
    return [{**m, "calls": [c.split("(", 1)[0] for c in m["calls"]]} for m in sent]


@pytest.fixture(scope="module")
def ag2(tmp_path_factory):
    return run_framework("run_ag2.py", AG2_SCRIPT, tmp_path_factory.mktemp("ag2"))


@pytest.fixture(scope="module")
def openai_agents(tmp_path_factory):
    return run_framework("run_openai_agents.py", AGENTS_SCRIPT, tmp_path_factory.mktemp("agents"))


def test_the_trace_files_are_collector_layout(ag2):
    _, trace = ag2
    lines = trace.read_text().splitlines()
    assert len(lines) > 1  # several requests, one per line
    span = json.loads(lines[0])["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert len(span["traceId"]) == 32 and int(span["traceId"], 16) >= 0  # hex, as OTLP/JSON says
    assert isinstance(span["kind"], int) and isinstance(span["startTimeUnixNano"], str)


def test_ag2_group_chat_as_one_episode(ag2):
    exchanges, trace = ag2
    (episode,) = episodes_of(trace)  # one conversation (gen_ai.conversation.id), spread over several lines
    assert [a["agent_id"] for a in episode["agents"]] == ["Planner", "Solver", "Checker"]
    assert [t["responses"][0]["agent_id"] for t in episode["turns"]] == ["Planner", "Solver", "Checker"]
    assert [a["model"] for a in episode["agents"]] == ["scripted-model"] * 3
    assert episode["turns"][0]["prompt"] == "What is 2+2?" and episode["task"] == "agent_trace:ag2-groupchat"
    assert len(exchanges) == 3
    for turn, (request, reply) in zip(episode["turns"], exchanges):
        (answer,) = turn["responses"]
        assert recorded(answer["sent"]) == wire_messages(request)  # what this agent was sent, message by message
        assert answer["content"] == reply["choices"][0]["message"]["content"]
        assert answer["provider_input_tokens"] == reply["usage"]["prompt_tokens"]
        assert answer["provider_output_tokens"] == reply["usage"]["completion_tokens"]
    assert episode["input_tokens_basis"] == "recorded_messages"


def test_openai_agents_handoff_tool_call_and_result(openai_agents):
    exchanges, trace = openai_agents
    (episode,) = episodes_of(trace)
    assert [a["agent_id"] for a in episode["agents"]] == ["Triage agent", "Math agent"]
    steps = [(t["responses"][0]["agent_id"], t["responses"][0]["kind"], t["responses"][0]["addressee"],
              t["responses"][0]["content"]) for t in episode["turns"]]
    assert steps == [("Triage agent", "tool_call", "Math agent", "transfer_to_math_agent()"),
                     ("Math agent", "tool_call", None, 'add({"a": 2, "b": 2})'),
                     ("Math agent", "tool_result", None, "4"),
                     ("Math agent", "message", None, "The sum is 4.")]
    calls = [t["responses"][0] for t in episode["turns"] if t["responses"][0]["kind"] != "tool_result"]
    assert len(calls) == len(exchanges) == 3
    for answer, (request, reply) in zip(calls, exchanges):
        assert recorded(answer["sent"]) == wire_messages(request)
        assert answer["provider_input_tokens"] == reply["usage"]["prompt_tokens"]
        assert answer["provider_output_tokens"] == reply["usage"]["completion_tokens"]


def test_token_stage_counts_what_was_sent_and_keeps_provider_usage(openai_agents):
    exchanges, trace = openai_agents
    (episode,) = episodes_of(trace)
    sent = [t["responses"][0]["sent"] for t in episode["turns"]]
    stage = TokenLogStage()
    counted = stage.process(episode)
    for messages, turn in zip(sent, counted["turns"]):
        (answer,) = turn["responses"]
        expected = sum(stage.count(text) for m in messages or [] for text in (m["content"], *m["calls"]) if text)
        assert answer["input_tokens"] == expected and "sent" not in answer
    totals = counted["token_totals"]
    assert totals["provider_input_tokens"] == sum(r["usage"]["prompt_tokens"] for _, r in exchanges)
    assert totals["provider_output_tokens"] == sum(r["usage"]["completion_tokens"] for _, r in exchanges)


def test_traces_build_and_validate_as_agent_team_configs(ag2, openai_agents, tmp_path):
    from datasets import load_dataset

    from builder.pipeline import build
    from builder.validate import validate_folder
    from conftest import make_row, quiet_config, write_jsonl

    folder = tmp_path / "traces"
    folder.mkdir()
    for _, trace in (ag2, openai_agents):
        (folder / trace.name).write_text(trace.read_text())
    arena = write_jsonl(tmp_path / "arena.jsonl", [make_row(question_id=f"o-{i}") for i in range(3)])
    report = build(quiet_config(source=arena, family_sources={"agents": (str(folder),)}, output_dir=tmp_path / "out", rank=2))
    assert validate_folder(tmp_path / "out") == []
    full = load_dataset(str(tmp_path / "out"), "agents-full", split="all")
    assert len(full) == 2 and report["families"]["agents"]["rejections"]["total"] == 0
    # AG2's conversation id gathers its spans; the Agents SDK exports no conversation id without a session
    assert report["families"]["agents"]["n_agent"]["trace_episodes"] == {
        "by_conversation_id": 1, "by_team_id": 0, "one_trace_alone": 1}
    card = (tmp_path / "out" / "README.md").read_text()
    assert "Episodes read from traces: 1 gathered by their conversation or session id, 0 by the framework's" in card
    # what was read of the traces is what the files hold: every LLM span a response, every text kept
    conservation = report["families"]["agents"]["n_agent"]["trace_conservation"]
    assert {source: (c["episodes"], c["llm_spans"], c["responses"], c["texts_recorded"] == c["texts_kept"])
            for source, c in conservation.items()} == {ag2[1].name: (1, 3, 3, True),
                                                      openai_agents[1].name: (1, 3, 3, True)}
    assert "| `" + ag2[1].name + "` | 1 | 3 | 3 |" in card
    # validate holds the report against the files: a report claiming a response the files lack is found
    stats = tmp_path / "out" / "stats.json"
    claimed = json.loads(stats.read_text())
    claimed["families"]["agents"]["n_agent"]["trace_conservation"][ag2[1].name]["llm_spans"] = 4
    stats.write_text(json.dumps(claimed))
    assert any(f"source {ag2[1].name!r} read 4 llm_spans, the files hold 3 responses" in problem
               for problem in validate_folder(tmp_path / "out"))
    usage = report["families"]["agents"]["n_agent"]["provider_usage"]
    assert usage["calls_with_usage"] == 6 and usage["provider_input_tokens"] > 0
    assert usage["tiktoken_input_tokens"] > 0 and usage["input_ratio"] is not None
