"""Agent traces from more real frameworks, each run in a subprocess against the local scripted OpenAI-compatible
server (tests/frameworks/), its spans written with the official OTLP encoder, and read back as episodes that are
asserted against what the server received and returned:
- smolagents 1.26 managed agents (OpenInference): nested AGENT spans, an unnamed top-level CodeAgent, LLM spans
  without agent names, AGENT spans that sum their children's usage;
- autogen-agentchat 0.7 (its own GenAI spans and opentelemetry-instrumentation-openai-v2's `chat` spans): one team
  run spread over a trace per message, joined by the team id, also when the spans are split over several files;
- Pydantic AI (native GenAI spans): an agent that delegates to another through a tool, each run with a
  conversation id of its own;
- LangGraph (OpenInference LangChain instrumentor): two graph nodes, whose spans name no agent but keep the node
  in their `metadata`; and the multi-agent supervisor of its tutorials, whose agents are `create_react_agent`
  subgraphs that run every call in their own inner nodes (`agent`, `tools`) and hand off with `Command`;
- AG2's group orchestration with handoffs, where one reply holds the agent's text and its handoff tool call (AG2's
  spans record only the call; the text is in the history the next agent is sent);
- autogen-agentchat's message content, which its OpenAI instrumentor writes to log records, not to spans.
Each run's spans are also sent to a real MLflow tracking server and a real Arize Phoenix server started here
(their OTLP endpoints) and exported the way their documentation shows (MLflow: search_traces, Trace.to_json;
Phoenix: the spans dataframe saved as Parquet): each export gives the episodes of the OTLP file."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import NamedTuple

import pyarrow
import pytest

from builder.rejections import Rejection
from builder.sources.agent_teams import iter_team_rows, plan_team_sources
from builder.sources.otlp import join_of
from builder.sources.spans import JoinKind
from test_otlp import AG2_SCRIPT, AGENTS_SCRIPT, run_framework

MODULES = ("smolagents", "openinference.instrumentation.smolagents", "autogen_agentchat",
           "opentelemetry.instrumentation.openai_v2", "pydantic_ai", "langgraph",
           "openinference.instrumentation.langchain", "mlflow", "phoenix.client")
for module in MODULES:
    if os.environ.get("MULTI_LLM_COORD_REQUIRE_FRAMEWORKS"):
        __import__(module)  # CI installs the test extra: these tests must run there, never skip
    else:
        pytest.importorskip(module, reason="the test extra's agent frameworks are not installed")

SMOLAGENTS_SCRIPT = ['Thought: ask the researcher.\n<code>\nanswer = researcher(task="What is 2+2?")\nprint(answer)\n</code>',
                     {"tool_calls": [("final_answer", {"answer": "2+2 is 4."})]},
                     'Thought: done.\n<code>\nfinal_answer("4")\n</code>']
AUTOGEN_SCRIPT = [{"tool_calls": [("add", {"a": 2, "b": 2})]}, "Checked: 4 is right.", "Agreed, 4."]
LANGGRAPH_SCRIPT = ["2+2 is 4.", "The answer is 4."]
# LangGraph: the supervisor's run, then the swarm's
LANGGRAPH_MULTI_AGENT_SCRIPT = [{"tool_calls": [("transfer_to_math_expert", {})]},
                                {"tool_calls": [("add", {"a": 2, "b": 2})]}, "2+2 is 4.",
                                {"tool_calls": [("transfer_to_writer", {})]}, "The answer is 4.",
                                "Done: the answer is 4.",
                                {"content": "Let me add.", "tool_calls": [("add", {"a": 2, "b": 2})]},
                                {"content": "It is 4; Bob, please check.", "tool_calls": [("transfer_to_bob", {})]},
                                "Checked: 4."]
AG2_HANDOFFS_SCRIPT = [{"content": "Louvre in the morning, lunch, Seine cruise: 95 euros.",
                        "tool_calls": [("transfer_to_critic_1", {})]},
                       {"content": "I disagree: the cruise puts it over the budget.",
                        "tool_calls": [("transfer_to_planner_1", {})]},
                       "Revised: Louvre and a walk, 60 euros."]
AGENTS_TOOLS_SCRIPT = [{"tool_calls": [("translate_to_spanish", {"input": "hello"})]}, "hola", "In Spanish: hola."]
AUTOGEN_SWARM_SCRIPT = [{"content": "Sandwiches and a blanket; checker, please look.",
                         "tool_calls": [("transfer_to_checker", {})]}, "Looks good: bring water too.", "Done."]
AGENT_FRAMEWORK_SCRIPT = [{"tool_calls": [("handoff_to_math", {})]}, "2+2 is 4.", "Fresh bread, warm hearts.",
                          "Good slogan."]
ADK_SCRIPT = [{"content": "This is a question for the helper.",
               "tool_calls": [("transfer_to_agent", {"agent_name": "helper"})]}, "2+2 is 4."]
CREWAI_SCRIPT = [{"tool_calls": [("delegate_work_to_coworker", {"task": "Check that 2+2 is 4", "context": "A sum.",
                                                                "coworker": "Checker"})]},
                 "Final Answer: 2+2 is indeed 4.", "Final Answer: 4",
                 {"tool_calls": [("delegate_work_to_coworker", {"task": "Write a bakery slogan", "context": "A bakery.",
                                                                "coworker": "Writer"})]},
                 "Final Answer: Fresh bread daily.", "Final Answer: Fresh bread daily."]
# Strands: a swarm (the researcher writes and hands off, then ends its turn; the writer answers), then agents as
# tools (the orchestrator calls math_assistant, an agent of its own)
STRANDS_SCRIPT = [{"content": "2+2 is 4; over to the writer.",
                   "tool_calls": [("handoff_to_agent", {"agent_name": "writer", "message": "Write it up."})]},
                  "Handed off.", "The answer is 4.", {"tool_calls": [("math_assistant", {"question": "3+3?"})]}, "6",
                  "3+3 is 6."]
PYDANTIC_SCRIPT = [{"tool_calls": [("ask_specialist", {"question": "2+2?"})]}, "4", "The specialist says 4."]


# every framework run, the two of test_otlp.py included, goes through both trace stores
class Run(NamedTuple):
    runner: str  # in tests/frameworks/
    script: list  # the scripted server's replies
    environment: str | None = None  # a key of ENVIRONMENTS, where the framework needs an environment of its own
    args: tuple = ()


RUNS = {"ag2": Run("run_ag2.py", AG2_SCRIPT), "openai_agents": Run("run_openai_agents.py", AGENTS_SCRIPT),
        "smolagents": Run("run_smolagents.py", SMOLAGENTS_SCRIPT),
        "autogen_team": Run("run_autogen_agentchat.py", AUTOGEN_SCRIPT),
        "pydantic_ai": Run("run_pydantic_ai.py", PYDANTIC_SCRIPT), "langgraph": Run("run_langgraph.py", LANGGRAPH_SCRIPT),
        "langgraph_multi_agent": Run("run_langgraph_multi_agent.py", LANGGRAPH_MULTI_AGENT_SCRIPT),
        "ag2_handoffs": Run("run_ag2_handoffs.py", AG2_HANDOFFS_SCRIPT),
        "openai_agents_tools": Run("run_openai_agents_tools.py", AGENTS_TOOLS_SCRIPT),
        "autogen_swarm": Run("run_autogen_agentchat.py", AUTOGEN_SWARM_SCRIPT, args=("swarm",)),
        "agent_framework": Run("run_agent_framework.py", AGENT_FRAMEWORK_SCRIPT, "agent_framework"),
        "google_adk": Run("run_google_adk.py", ADK_SCRIPT, "google_adk"),
        "crewai": Run("run_crewai.py", CREWAI_SCRIPT, "crewai"),
        "openllmetry": Run("run_autogen_openllmetry.py", AUTOGEN_SCRIPT, "openllmetry"),
        "strands": Run("run_strands.py", STRANDS_SCRIPT, "strands"),
        "strands_latest": Run("run_strands.py", STRANDS_SCRIPT, "strands", ("latest",))}


def read(*paths: Path) -> tuple[list[dict], list[tuple[str, str]]]:
    """The episodes of the trace files, and (reason, file) of each rejection."""
    episodes, rejected = [], []
    for location, row, normalise in iter_team_rows(plan_team_sources(tuple(str(p) for p in paths)), 100_000):
        try:
            if isinstance(row, Rejection):
                raise row
            episodes.append(normalise(row))
        except Rejection as rejection:
            rejected.append((rejection.reason, location.file))
    return episodes, rejected


def steps(episode: dict) -> list[tuple]:
    return [(t["responses"][0]["agent_id"], t["responses"][0]["kind"], t["responses"][0]["addressee"])
            for t in episode["turns"]]


def calls(*episodes: dict) -> list[dict]:
    """The responses of the LLM calls of the episodes, in order (a run of several patterns is several episodes,
    read in the order their calls were made)."""
    return [t["responses"][0] for episode in episodes for t in episode["turns"]
            if t["responses"][0]["kind"] != "tool_result"]


def wire_view(request: dict) -> list[tuple[str, list[str]]]:
    """What the client sent, message by message: its text (a string, or its text parts joined) and the names of
    the tools it called. Roles are left out: smolagents records its own ("tool-call", "tool-response") and sends
    them as assistant / user, Pydantic AI records a tool's answer as a user message and sends it as a tool one."""
    view = []
    for message in request["messages"]:
        content = message.get("content") or ""
        if isinstance(content, list):
            content = "\n".join(part.get("text", "") for part in content if part.get("type") == "text")
        view.append((content, [c["function"]["name"] for c in message.get("tool_calls") or []]))
    return view


def recorded_view(sent: list[dict]) -> list[tuple[str, list[str]]]:
    return [(m["content"], [c.split("(", 1)[0] for c in m["calls"]]) for m in sent]


def assert_matches_the_wire(episode: dict | list[dict], exchanges: list, content: str | None = "messages") -> None:
    """Each call's usage is the server's; with content "messages" what the call recorded as sent is the request
    message by message, with "text" the same text (smolagents merges consecutive messages of one role before
    sending them: the words are the same, the cuts between messages are not)."""
    made = calls(*(episode if isinstance(episode, list) else [episode]))
    assert len(made) == len(exchanges)
    for answer, (request, reply) in zip(made, exchanges):
        assert answer["provider_input_tokens"] == reply["usage"]["prompt_tokens"]
        assert answer["provider_output_tokens"] == reply["usage"]["completion_tokens"]
        if content == "messages":
            assert recorded_view(answer["sent"]) == wire_view(request)
        elif content == "text":
            assert "\n".join(text for text, _ in recorded_view(answer["sent"])) == \
                "\n".join(text for text, _ in wire_view(request))
        if content:
            assert answer["content"] == reply_text(reply)


def reply_text(reply: dict) -> str:
    """What the server answered, as a response keeps it: the text, then each tool call as name(arguments)."""
    message = reply["choices"][0]["message"]
    return "\n".join([message["content"]] * bool(message["content"]) + [
        f"{c['function']['name']}({c['function']['arguments']})" for c in message.get("tool_calls") or []])


def conserved(episode: dict, exchanges: list) -> None:
    """Every call the server answered is one response, and the trace's reading lost nothing."""
    reading = episode["trace_reading"]
    assert reading["llm_spans"] == reading["responses"] == len(calls(episode)) == len(exchanges)
    assert reading["texts_kept"] == reading["texts_recorded"] > 0
    assert reading["provider_input_tokens"] == sum(reply["usage"]["prompt_tokens"] for _, reply in exchanges)
    assert reading["provider_output_tokens"] == sum(reply["usage"]["completion_tokens"] for _, reply in exchanges)


# Frameworks whose pins conflict with the test extra's run from an environment of their own, made from the package
# index on first use and reused (keyed by its requirements) under MULTI_LLM_COORD_FRAMEWORK_ENVS, else
# ~/.cache/multi-llm-coord/framework-envs. strands-agents 1.62 wants opentelemetry-instrumentation-threading, whose
# newest release pins opentelemetry-sdk 1.45.1 below the extra's 1.45.2.
# Microsoft Agent Framework's OpenAI client and Google ADK want openai 3 (the Agents SDK refuses it); CrewAI and ADK
# pin their own dependencies.
# what the runners' otlp_file.py captures and writes with, in every environment
OTLP_FILE = ("opentelemetry-sdk>=1.44,<2", "opentelemetry-exporter-otlp-proto-common>=1.44,<2")
ENVIRONMENTS = {"strands": ("strands-agents[openai]==1.62.0", *OTLP_FILE),
                "agent_framework": ("agent-framework-core==1.26.0", "agent-framework-openai==1.17.0",
                                    "agent-framework-orchestrations==1.4.0", *OTLP_FILE),
                "google_adk": ("google-adk==2.13.0", "litellm==1.110.2", *OTLP_FILE),
                # OpenLLMetry before 0.41 writes its own attributes (gen_ai.prompt.N / gen_ai.completion.N); later
                # releases write the GenAI conventions' gen_ai.input.messages, read like AG2's
                "openllmetry": ("autogen-agentchat==0.7.5", "autogen-ext[openai]==0.7.5",
                                "opentelemetry-instrumentation-openai==0.40.14", *OTLP_FILE),
                "crewai": ("crewai==1.15.30", "openinference-instrumentation-crewai==1.1.21",
                           "openinference-instrumentation-openai==0.1.66", *OTLP_FILE)}


def framework_python(name: str) -> str:
    """The Python of the framework's own environment, made once; a failure fails the test where frameworks are
    required (CI), else skips it."""
    requirements = ENVIRONMENTS[name]
    root = Path(os.environ.get("MULTI_LLM_COORD_FRAMEWORK_ENVS") or Path.home() / ".cache" / "multi-llm-coord"
                / "framework-envs")
    key = hashlib.sha256("\n".join((sys.version, *requirements)).encode()).hexdigest()[:12]
    folder = root / f"{name}-{key}"
    python, done = folder / "bin" / "python", folder / ".complete"
    if not done.is_file():
        made = subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], capture_output=True, text=True)
        installed = made.returncode == 0 and subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *requirements], capture_output=True, text=True,
            timeout=900)
        if not installed or installed.returncode != 0:
            why = f"{name}'s environment could not be made: {(installed.stderr if installed else made.stderr)[-2000:]}"
            if os.environ.get("MULTI_LLM_COORD_REQUIRE_FRAMEWORKS"):
                pytest.fail(why)
            pytest.skip(why)
        done.write_text("\n".join(requirements))
    return str(python)


@pytest.fixture(scope="module")
def framework_run(tmp_path_factory):
    """(exchanges, trace file) of a framework's run by its name in RUNS, each run once for the module."""
    done = {}

    def run(name: str) -> tuple[list, Path]:
        if name not in done:
            run = RUNS[name]
            python = framework_python(run.environment) if run.environment else sys.executable
            done[name] = run_framework(run.runner, run.script, tmp_path_factory.mktemp(name), python, run.args)
        return done[name]

    return run


def test_smolagents_managed_agent_is_an_agent_of_its_own(framework_run):
    exchanges, trace = framework_run("smolagents")
    (episode,), rejected = read(trace)
    assert rejected == []
    # the manager's unnamed CodeAgent is named by its span; the researcher's calls are the researcher's, and the
    # manager's call that ran it is addressed to it
    assert [a["agent_id"] for a in episode["agents"]] == ["CodeAgent", "researcher"]
    assert steps(episode) == [("CodeAgent", "message", "researcher"), ("researcher", "tool_call", None),
                              ("researcher", "tool_result", None), ("CodeAgent", "message", None),
                              ("CodeAgent", "tool_result", None)]
    assert_matches_the_wire(episode, exchanges, content="text")
    # the AGENT spans' own token counts (the sum of their calls) are not counted again
    spans = [s for line in trace.read_text().splitlines() for r in json.loads(line)["resourceSpans"]
             for scope in r["scopeSpans"] for s in scope["spans"]]
    agent_totals = sum(int(a["value"]["intValue"]) for s in spans for a in s["attributes"]
                       if a["key"] == "llm.token_count.prompt" and s["name"].endswith(".run"))
    provider = sum(r["provider_input_tokens"] for r in calls(episode))
    assert provider == sum(reply["usage"]["prompt_tokens"] for _, reply in exchanges) and agent_totals == provider


def test_autogen_team_run_is_one_episode_across_its_traces(framework_run):
    exchanges, trace = framework_run("autogen_team")
    traces = {s["traceId"] for line in trace.read_text().splitlines() for r in json.loads(line)["resourceSpans"]
              for scope in r["scopeSpans"] for s in scope["spans"]}
    assert len(traces) > 10  # the runtime's trace per message
    (episode,), rejected = read(trace)
    # traces without any LLM call that share no team id (agent creation, the runtime's acks) are counted apart
    assert rejected and {reason for reason, _ in rejected} == {"empty_conversation"}
    assert [a["agent_id"] for a in episode["agents"]] == ["writer", "reviewer"]
    assert join_of(episode) is JoinKind.TEAM
    assert steps(episode) == [("writer", "tool_call", None), ("writer", "tool_result", None),
                              ("reviewer", "message", None), ("writer", "message", None)]
    # its chat spans record no content with this instrumentor (content goes to log events): usage only
    assert episode["input_tokens_basis"] == "provider_usage"
    assert_matches_the_wire(episode, exchanges, content=None)


def test_autogen_content_comes_from_the_log_records_beside_the_traces(framework_run):
    exchanges, trace = framework_run("autogen_team")
    logs = trace.with_name(trace.name.replace(".otlp.", ".logs.otlp."))
    assert "resourceLogs" in logs.read_text()
    (episode,), rejected = read(trace, logs)
    assert {reason for reason, _ in rejected} == {"empty_conversation"}  # the runtime's traces without a call
    assert steps(episode) == [("writer", "tool_call", None), ("writer", "tool_result", None),
                              ("reviewer", "message", None), ("writer", "message", None)]
    # the log events (gen_ai.system/user/assistant/tool.message, gen_ai.choice) give what each call sent and wrote
    assert episode["input_tokens_basis"] == "recorded_messages"
    assert_matches_the_wire(episode, exchanges)
    conserved(episode, exchanges)


def test_a_log_record_of_a_span_never_read_is_a_counted_loss(framework_run, tmp_path):
    exchanges, trace = framework_run("autogen_team")
    logs = trace.with_name(trace.name.replace(".otlp.", ".logs.otlp."))
    rows = [json.loads(line) for line in logs.read_text().splitlines()]
    record = rows[0]["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    record["spanId"] = "00000000000000ff"  # a span no file holds
    moved = write_lines(tmp_path / "logs.jsonl", rows)
    (episode,), rejected = read(trace, moved)
    assert [r for r in rejected if r[0] != "empty_conversation"] == [("unplaced_content", "logs.jsonl")]
    # the call lost its system message's text alone: what was sent is still recorded, less that message
    assert len(calls(episode)[0]["sent"]) == len(exchanges[0][0]["messages"]) - 1


def protobuf_file(path: Path, *sources: Path) -> Path:
    """The JSON-lines requests of the files rewritten as the Collector's file exporter writes `format: proto`: each
    a 4-byte big-endian length, then the TracesData / LogsData message (the same bytes as the export request)."""
    from google.protobuf.json_format import ParseDict
    from opentelemetry.proto.logs.v1.logs_pb2 import LogsData
    from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

    frames = []
    for source in sources:
        for line in source.read_text().splitlines():
            row = json.loads(line)
            holder = "resourceSpans" if "resourceSpans" in row else "resourceLogs"
            for resource in row[holder]:
                for scope in resource.get("scopeSpans", resource.get("scopeLogs", [])):
                    for item in scope.get("spans", scope.get("logRecords", [])):
                        for key in ("traceId", "spanId", "parentSpanId"):  # OTLP/JSON's hex, protobuf's bytes
                            if item.get(key):
                                item[key] = base64.b64encode(bytes.fromhex(item[key])).decode()
            body = ParseDict(row, TracesData() if holder == "resourceSpans" else LogsData()).SerializeToString()
            frames.append(len(body).to_bytes(4, "big") + body)
    path.write_bytes(b"".join(frames[0::2] + frames[1::2]))  # traces and logs interleaved, as one exporter writes
    return path


def test_otlp_protobuf_files_give_the_episodes_of_the_json_files(framework_run, tmp_path):
    exchanges, trace = framework_run("autogen_team")
    logs = trace.with_name(trace.name.replace(".otlp.", ".logs.otlp."))
    (from_json,), _ = read(trace, logs)
    (from_proto,), rejected = read(protobuf_file(tmp_path / "telemetry.binpb", trace, logs))
    assert {reason for reason, _ in rejected} == {"empty_conversation"}
    for key in ("episode_id", "agents", "turns", "input_tokens_basis", "task", "trace_reading"):
        assert from_proto[key] == from_json[key], key
    conserved(from_proto, exchanges)
    broken = tmp_path / "broken.pb"
    broken.write_bytes(protobuf_file(tmp_path / "whole.pb", trace).read_bytes()[:-10])  # cut inside the last message
    episodes, rejected = read(broken)
    assert ("corrupt_file", "broken.pb") in rejected and len(episodes) == 1


def test_a_team_run_split_over_files_is_still_one_episode(framework_run, tmp_path):
    _, trace = framework_run("autogen_team")
    lines = trace.read_text().splitlines(keepends=True)
    folder = tmp_path / "rotated"
    folder.mkdir()
    for part in range(3):  # a collector's file exporter rotating: every third request in each file
        (folder / f"traces-{part}.jsonl").write_text("".join(lines[part::3]))
    (joined,), _ = read(trace)
    (episode,), rejected = read(folder)
    assert steps(episode) == steps(joined) and episode["episode_id"] == joined["episode_id"]
    assert all(file.startswith("traces-") for _, file in rejected)


def test_pydantic_ai_delegation_is_one_episode(framework_run):
    exchanges, trace = framework_run("pydantic_ai")
    (episode,), rejected = read(trace)
    assert rejected == []
    assert [a["agent_id"] for a in episode["agents"]] == ["coordinator", "specialist"]
    assert join_of(episode) is JoinKind.CONVERSATION
    # the delegate's run (with a conversation id of its own) is inside the coordinator's tool call; the tool's
    # result comes when the tool ends, after the delegate has answered
    assert steps(episode) == [("coordinator", "tool_call", "specialist"), ("specialist", "message", None),
                              ("coordinator", "tool_result", None), ("coordinator", "message", None)]
    assert_matches_the_wire(episode, exchanges)  # the system instructions included
    assert episode["input_tokens_basis"] == "recorded_messages"


def test_langgraph_nodes_are_the_agents(framework_run):
    exchanges, trace = framework_run("langgraph")
    (episode,), rejected = read(trace)
    assert rejected == []
    assert [a["agent_id"] for a in episode["agents"]] == ["researcher", "writer"]
    assert steps(episode) == [("researcher", "message", None), ("writer", "message", None)]
    assert_matches_the_wire(episode, exchanges)
    assert episode["turns"][0]["prompt"] == "What is 2+2?"


def test_langgraph_supervisor_and_swarm_calls_belong_to_the_subgraph_agents(framework_run):
    every_exchange, trace = framework_run("langgraph_multi_agent")
    (episode, swarm), rejected = read(trace)
    assert rejected == []
    exchanges = every_exchange[:6]  # the supervisor's run; the swarm's follow
    # every call runs in a subgraph's inner node `agent`; the agent is the outermost named subgraph
    assert [a["agent_id"] for a in episode["agents"]] == ["supervisor", "math_expert", "writer"]
    assert steps(episode) == [("supervisor", "tool_call", "math_expert"), ("supervisor", "tool_result", None),
                              ("math_expert", "tool_call", None), ("math_expert", "tool_result", None),
                              ("math_expert", "message", None), ("supervisor", "tool_call", "writer"),
                              ("supervisor", "tool_result", None), ("writer", "message", None),
                              ("supervisor", "message", None)]
    assert [t["responses"][0]["content"] for t in episode["turns"]][3] == "4"  # the tool's result, not its message
    # the instrumentor records a call of no arguments with none (the wire's "{}"): the texts, exactly
    assert [c["content"] for c in calls(episode)] == [
        "transfer_to_math_expert()", 'add({"a": 2, "b": 2})', "2+2 is 4.", "transfer_to_writer()",
        "The answer is 4.", "Done: the answer is 4."]
    for answer, (request, _) in zip(calls(episode), exchanges):
        assert recorded_view(answer["sent"]) == wire_view(request)
    assert_matches_the_wire(episode, exchanges, content=None)
    conserved(episode, exchanges)
    # the swarm: a reply holds alice's text and her tool call, and the handoff to bob addresses him
    assert [a["agent_id"] for a in swarm["agents"]] == ["alice", "bob"]
    assert steps(swarm) == [("alice", "message", None), ("alice", "tool_result", None), ("alice", "message", "bob"),
                            ("alice", "tool_result", None), ("bob", "message", None)]
    assert [c["content"] for c in calls(swarm)] == ['Let me add.\nadd({"a": 2, "b": 2})',
                                                     "It is 4; Bob, please check.\ntransfer_to_bob()", "Checked: 4."]
    conserved(swarm, every_exchange[6:])


def test_ag2_reply_keeps_its_text_and_its_handoff(framework_run):
    exchanges, trace = framework_run("ag2_handoffs")
    (episode,), rejected = read(trace)
    assert rejected == []
    said = [(r["agent_id"], r["kind"], r["addressee"], r["content"]) for r in calls(episode)]
    # AG2 records a reply's tool calls alone; its text comes from the history the next agent was sent
    assert said == [("planner", "message", "critic", reply_text(exchanges[0][1])),
                    ("critic", "message", "planner", reply_text(exchanges[1][1])),
                    ("planner", "message", None, "Revised: Louvre and a walk, 60 euros.")]
    assert "I disagree: the cruise puts it over the budget.\ntransfer_to_planner_1({})" == said[1][3]
    assert_matches_the_wire(episode, exchanges, content=None)
    conserved(episode, exchanges)


@pytest.mark.parametrize("run", RUNS)
def test_every_run_is_conserved(run, framework_run):
    """Each framework run's reading: one response per LLM span, every text kept, usage summed over calls only."""
    exchanges, trace = framework_run(run)
    episodes, rejected = read(trace)
    assert {reason for reason, _ in rejected} <= {"empty_conversation"}
    readings = [episode["trace_reading"] for episode in episodes]
    assert sum(r["llm_spans"] for r in readings) == sum(r["responses"] for r in readings) == len(exchanges)
    assert all(r["texts_kept"] == r["texts_recorded"] for r in readings)
    for name, usage in (("provider_input_tokens", "prompt_tokens"), ("provider_output_tokens", "completion_tokens")):
        assert sum(r[name] for r in readings) == sum(reply["usage"][usage] for _, reply in exchanges)


@pytest.mark.parametrize("run", ["strands", "strands_latest"])
def test_strands_swarm_and_agents_as_tools_from_span_events(run, framework_run):
    """Strands writes every message as span events, per message by default (`gen_ai.user.message`,
    `gen_ai.choice`, with content blocks as JSON text) or as `operation.details` events with the latest
    conventions: both runs give the same episodes, every text and every call of the wire."""
    exchanges, trace = framework_run(run)
    (swarm, tools), rejected = read(trace)
    assert rejected == []
    assert [a["agent_id"] for a in swarm["agents"]] == ["researcher", "writer"]
    # the researcher writes and hands off with the swarm's tool (its agent_name argument is the addressee)
    assert steps(swarm) == [("researcher", "message", "writer"), ("researcher", "tool_result", None),
                            ("researcher", "message", None), ("writer", "message", None)]
    assert swarm["turns"][1]["responses"][0]["content"] == "Handing off to writer: Write it up."
    assert [a["agent_id"] for a in tools["agents"]] == ["orchestrator", "math_assistant"]
    assert steps(tools) == [("orchestrator", "tool_call", "math_assistant"), ("math_assistant", "message", None),
                            ("orchestrator", "tool_result", None), ("orchestrator", "message", None)]
    assert tools["turns"][2]["responses"][0]["content"] == "6\n"
    assert [c["content"] for c in calls(swarm, tools)] == [reply_text(reply) for _, reply in exchanges]
    for answer, (request, _) in zip(calls(swarm, tools), exchanges):
        assert recorded_view(answer["sent"]) == wire_view(request)
    assert {swarm["input_tokens_basis"], tools["input_tokens_basis"]} == {"recorded_messages"}
    assert_matches_the_wire([swarm, tools], exchanges, content=None)


# (run, [the agents and the steps of each episode], whether each call's recorded reply is the wire's text)
PATTERNS = [
    ("openai_agents_tools", [(["Orchestrator", "Spanish agent"],
                              [("Orchestrator", "tool_call", "Spanish agent"), ("Spanish agent", "message", None),
                               ("Orchestrator", "tool_result", None), ("Orchestrator", "message", None)])], True),
    ("agent_framework", [(["triage", "math"], [("triage", "tool_call", "math"), ("math", "message", None)]),
                         (["writer", "reviewer"], [("writer", "message", None), ("reviewer", "message", None)])], True),
    ("google_adk", [(["coordinator", "helper"],
                     [("coordinator", "message", "helper"), ("coordinator", "tool_result", None),
                      ("helper", "message", None)])], True),
    # CrewAI's workers have no agent span: a delegated call is the coworker's that the delegation tool names
    ("crewai", [(["Researcher", "Checker"],
                 [("Researcher", "tool_call", "Checker"), ("Checker", "message", None),
                  ("Researcher", "tool_result", None), ("Researcher", "message", None)]),
                (["Crew Manager", "Writer"],
                 [("Crew Manager", "tool_call", "Writer"), ("Writer", "message", None),
                  ("Crew Manager", "tool_result", None), ("Crew Manager", "message", None)])], True),
]


@pytest.mark.parametrize("run, expected, replies_as_sent", PATTERNS, ids=[p[0] for p in PATTERNS])
def test_documented_multi_agent_patterns(run, expected, replies_as_sent, framework_run):
    """Each framework's documented pattern: its agents, who spoke in which order, and to whom each handed off or
    delegated; every call's usage is the server's, and (where the framework records the reply as it came) every
    reply is the server's text and tool calls."""
    exchanges, trace = framework_run(run)
    episodes, rejected = read(trace)
    assert {reason for reason, _ in rejected} <= {"empty_conversation"}
    assert [([a["agent_id"] for a in e["agents"]], steps(e)) for e in episodes] == expected
    assert_matches_the_wire(episodes, exchanges, content=None)
    if replies_as_sent:
        assert [c["content"] for c in calls(*episodes)] == [reply_text(reply) for _, reply in exchanges]
    assert all(e["input_tokens_basis"] == "recorded_messages" for e in episodes)


def test_openllmetry_attributes_of_an_autogen_team(framework_run):
    """OpenLLMetry's own vocabulary: `llm.request.type` marks the call, `gen_ai.prompt.N` / `gen_ai.completion.N`
    hold what it sent and wrote; autogen-agentchat's spans name the agents."""
    exchanges, trace = framework_run("openllmetry")
    (episode,), rejected = read(trace)
    assert {reason for reason, _ in rejected} == {"empty_conversation"}
    assert steps(episode) == [("writer", "tool_call", None), ("writer", "tool_result", None),
                              ("reviewer", "message", None), ("writer", "message", None)]
    assert episode["input_tokens_basis"] == "recorded_messages"
    assert_matches_the_wire(episode, exchanges)
    conserved(episode, exchanges)


def test_autogen_swarm_handoff_with_content_from_logs(framework_run):
    exchanges, trace = framework_run("autogen_swarm")
    (episode,), rejected = read(trace, trace.with_name(trace.name.replace(".otlp.", ".logs.otlp.")))
    assert {reason for reason, _ in rejected} == {"empty_conversation"}
    assert steps(episode) == [("planner", "message", "checker"), ("planner", "tool_result", None),
                              ("checker", "message", None), ("checker", "message", None)]
    assert_matches_the_wire(episode, exchanges)
    conserved(episode, exchanges)


def test_a_text_the_episode_cannot_hold_is_a_counted_loss(framework_run, tmp_path):
    """A span whose two vocabularies disagree: the OpenInference reply is read, and each OpenLLMetry text that no
    response holds is counted as unread_content with its span (one rejection a text, as validate counts them), the
    episode kept."""
    _, trace = framework_run("langgraph")
    rows = requests_of(trace)
    for row in rows:
        for resource in row["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    if any(a["key"] == "openinference.span.kind" and a["value"]["stringValue"] == "LLM"
                           for a in span["attributes"]):
                        span["attributes"].append({"key": "gen_ai.prompt.0.content", "value": {"stringValue": "hi"}})
                        span["attributes"].append({"key": "gen_ai.completion.0.content",
                                                   "value": {"stringValue": "a text nobody placed"}})
                        span["attributes"].append({"key": "gen_ai.completion.1.content",
                                                   "value": {"stringValue": "another one"}})
                        target = span["spanId"]
                        break
                else:
                    continue
                break
    (episode,), rejected = read(write_lines(tmp_path / "t.jsonl", rows))
    assert rejected == [("unread_content", "t.jsonl")] * 2
    assert episode["trace_reading"]["texts_recorded"] == episode["trace_reading"]["texts_kept"] + 2
    assert all("nobody placed" not in t["responses"][0]["content"] for t in episode["turns"])
    assert target


# --- trace files as collectors and exporters really write them, from the Pydantic AI run's real file ----------

def requests_of(trace: Path) -> list[dict]:
    return [json.loads(line) for line in trace.read_text().splitlines()]


def write_lines(path: Path, rows: list) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def test_a_stray_line_costs_only_itself(framework_run, tmp_path):
    _, trace = framework_run("pydantic_ai")
    (clean,), _ = read(trace)
    rows = requests_of(trace)
    broken = write_lines(tmp_path / "t.jsonl", ["not json at all", {"hello": "world"}, *rows])
    (episode,), rejected = read(broken)
    assert steps(episode) == steps(clean)
    assert sorted(rejected) == [("malformed_json", "t.jsonl"), ("malformed_row", "t.jsonl")]


def test_a_bad_span_is_rejected_alone(framework_run, tmp_path):
    _, trace = framework_run("pydantic_ai")
    rows = requests_of(trace)
    spans = rows[0]["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert len(spans) > 1
    del spans[0]["spanId"]  # the first span of a request of several
    (episode,), rejected = read(write_lines(tmp_path / "t.jsonl", rows))
    assert rejected == [("missing_field", "t.jsonl")]
    assert len(episode["turns"]) == len(read(trace)[0][0]["turns"]) - 1  # that span's call alone is missing


def test_a_retried_export_is_counted_once(framework_run, tmp_path):
    _, trace = framework_run("pydantic_ai")
    (clean,), _ = read(trace)
    rows = requests_of(trace)
    (episode,), rejected = read(write_lines(tmp_path / "t.jsonl", rows + rows[:2]))
    assert steps(episode) == steps(clean) and [t["responses"] for t in episode["turns"]] == \
        [t["responses"] for t in clean["turns"]]
    duplicated = sum(len(s["spans"]) for row in rows[:2] for r in row["resourceSpans"] for s in r["scopeSpans"])
    assert rejected == [("duplicate_span", "t.jsonl")] * duplicated


def test_the_older_layout_and_json_lines_named_json(framework_run, tmp_path):
    _, trace = framework_run("pydantic_ai")
    (clean,), _ = read(trace)
    rows = requests_of(trace)
    for row in rows:  # OTLP before 0.19: instrumentationLibrarySpans / instrumentationLibrary
        for resource in row["resourceSpans"]:
            scopes = resource.pop("scopeSpans")
            resource["instrumentationLibrarySpans"] = [{"instrumentationLibrary": s.get("scope", {}),
                                                        "spans": s["spans"]} for s in scopes]
    # the Collector's documented example file name is traces.json, though it writes JSON lines
    (episode,), rejected = read(write_lines(tmp_path / "traces.json", rows))
    assert rejected == [] and steps(episode) == steps(clean)
    assert [t["responses"] for t in episode["turns"]] == [t["responses"] for t in clean["turns"]]


# --- the same runs through a trace store: MLflow's tracking server, and its documented export -------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(command: list[str], health: str, log: Path, env: dict | None = None):
    """Start a server process in a session of its own; wait (up to 2 minutes) until `health` answers 200."""
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(log, "w"), start_new_session=True,
                              env={**os.environ, **(env or {})})
    for _ in range(240):
        try:
            if urllib.request.urlopen(health, timeout=2).status == 200:
                return server
        except OSError:
            time.sleep(0.5)
    os.killpg(server.pid, signal.SIGTERM)
    raise AssertionError(log.read_text()[-3000:])


def stop(server) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=60)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server (SQLite store) on a free local port, for the module's tests."""
    folder = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    server = serve([sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
                    f"sqlite:///{folder / 'store.sqlite'}", "--default-artifact-root", str(folder / "artifacts"),
                    "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                   f"http://127.0.0.1:{port}/health", folder / "server.log",
                   {"MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "1"})
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server)


@pytest.fixture(scope="module")
def phoenix_server(tmp_path_factory):
    """A real Arize Phoenix server (its SQLite store in a folder of the test's) on free local ports."""
    folder = tmp_path_factory.mktemp("phoenix")
    port = free_port()
    server = serve([sys.executable, "-m", "phoenix.server.main", "serve"], f"http://127.0.0.1:{port}/healthz",
                   folder / "server.log", {"PHOENIX_WORKING_DIR": str(folder), "PHOENIX_PORT": str(port),
                                           "PHOENIX_GRPC_PORT": str(free_port()), "PHOENIX_HOST": "127.0.0.1",
                                           "PHOENIX_TELEMETRY_ENABLED": "false"})
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server)


def through_mlflow(url: str, trace: Path, folder: Path) -> Path:
    """Send the run's OTLP requests to MLflow's OTLP endpoint (as a collector forwarding them would), then export
    the experiment's traces as MLflow's documentation shows: search_traces, then Trace.to_json() for each."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=url)
    experiment = client.create_experiment(f"{trace.parent.name}.{trace.stem}")  # one per run
    for line in trace.read_text().splitlines():
        request = urllib.request.Request(f"{url}/v1/traces", data=line.encode(), method="POST", headers={
            "Content-Type": "application/json", "x-mlflow-experiment-id": experiment})
        assert urllib.request.urlopen(request, timeout=60).status == 200
    traces = client.search_traces(locations=[experiment], max_results=500)
    export = folder / f"{trace.stem}.mlflow.jsonl"
    export.write_text("".join(t.to_json() + "\n" for t in traces))
    return export


def episodes_as_from_the_otlp_file(export: Path, trace: Path, *also: str) -> list[dict]:
    """The episodes of a store's export, asserted equal to the OTLP file's in what the store keeps."""
    from_otlp, _ = read(trace)
    exported, rejected = read(export)
    assert {reason for reason, _ in rejected} <= {"empty_conversation"}
    # a store exports traces in an order of its own: the episodes in the OTLP file's order
    order = [episode["episode_id"] for episode in from_otlp]
    exported = sorted(exported, key=lambda episode: order.index(episode["episode_id"]))
    assert [episode["episode_id"] for episode in exported] == order
    for mine, theirs in zip(exported, from_otlp):
        for key in ("episode_id", "agents", "turns", "topology", "input_tokens_basis", *also):
            assert mine[key] == theirs[key], (export.name, key)
    return exported


@pytest.mark.parametrize("run", RUNS)
def test_an_mlflow_export_gives_the_episodes_of_the_otlp_file(run, framework_run, mlflow_server, tmp_path):
    exchanges, trace = framework_run(run)
    from_mlflow = episodes_as_from_the_otlp_file(through_mlflow(mlflow_server, trace, tmp_path), trace, "task")
    assert_matches_the_wire(from_mlflow, exchanges, content=None)


# pyarrow refuses some Phoenix frames: a column mixing types (the Agents SDK's output.value, LangGraph's metadata of
# subgraphs) or a struct column with no field (empty tool parameters), which depends on what a run's spans happen to
# hold (seen for AG2's handoffs and Agent Framework's workflows in some runs, not others). These runs' frames were
# always taken, and must be: their Parquet export is checked every time; the others' where pyarrow takes it.
PARQUET_TAKEN = ("run_ag2.", "run_smolagents", "run_autogen_agentchat", "run_pydantic_ai", "run_langgraph.py")


def through_phoenix(url: str, trace: Path, folder: Path) -> list[Path]:
    """Send the run's requests to Phoenix's OTLP endpoint (protobuf, as an OTLP exporter sends them; the run's own
    project named in the resource, as `openinference.project.name` does), then export the project's spans the
    way Phoenix's documentation shows: the spans dataframe, saved as JSON lines (records) and as Parquet."""
    from google.protobuf.json_format import ParseDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from phoenix.client import Client

    project, sent = f"{trace.parent.name}-{trace.stem}".replace(".", "-"), 0  # one per run
    for line in trace.read_text().splitlines():
        row = json.loads(line)
        for resource_spans in row["resourceSpans"]:
            resource_spans.setdefault("resource", {}).setdefault("attributes", []).append(
                {"key": "openinference.project.name", "value": {"stringValue": project}})
            for scope in resource_spans["scopeSpans"]:
                for span in scope["spans"]:
                    sent += 1
                    for key in ("traceId", "spanId", "parentSpanId"):  # OTLP/JSON's hex, protobuf's bytes
                        if span.get(key):
                            span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
        request = urllib.request.Request(f"{url}/v1/traces", method="POST",
                                         data=ParseDict(row, ExportTraceServiceRequest()).SerializeToString(),
                                         headers={"Content-Type": "application/x-protobuf"})
        assert urllib.request.urlopen(request, timeout=60).status == 200
    client = Client(base_url=url)
    for _ in range(120):  # Phoenix writes what it received in the background
        try:
            frame = client.spans.get_spans_dataframe(project_identifier=project, limit=10_000)
        except Exception:  # the project appears with its first span
            frame = None
        if frame is not None and len(frame) == sent:
            break
        time.sleep(0.5)
    assert frame is not None and len(frame) == sent
    # JSON lines always; Parquet where pyarrow takes the frame (it refuses a column mixing types, such as the
    # Agents SDK's output.value or LangGraph's metadata, a number on one span and text on another, and a struct
    # column with no field, such as AG2's empty tool parameters)
    exports = [folder / f"{project}.jsonl"]
    frame.to_json(exports[0], orient="records", lines=True, date_format="iso", date_unit="ns")
    try:
        frame.to_parquet(folder / f"{project}.parquet")
        exports.append(folder / f"{project}.parquet")
    except (pyarrow.ArrowTypeError, pyarrow.ArrowNotImplementedError):
        assert not trace.stem.startswith(PARQUET_TAKEN)
    return exports


@pytest.mark.parametrize("run", RUNS)
def test_a_phoenix_export_gives_the_episodes_of_the_otlp_file(run, framework_run, phoenix_server, tmp_path):
    exchanges, trace = framework_run(run)
    for export in through_phoenix(phoenix_server, trace, tmp_path):
        from_phoenix = episodes_as_from_the_otlp_file(export, trace)
        # Phoenix does not export the resource
        assert {episode["task"] for episode in from_phoenix} == {"agent_trace:unknown_service"}
        assert_matches_the_wire(from_phoenix, exchanges, content=None)


def test_spans_wait_on_disk_not_in_memory(framework_run, tmp_path):
    """Memory grows with the number of traces by a few ids each, not with their spans: the Pydantic AI run
    copied under fresh ids 20 and 200 times, each copy one conversation, read with tracemalloc watching (SQLite's
    own page cache, bounded, is not Python's memory)."""
    import tracemalloc

    _, trace = framework_run("pydantic_ai")
    lines = trace.read_text().splitlines()

    def copies(count: int) -> Path:
        path = tmp_path / f"copies-{count}.jsonl"
        with open(path, "w") as out:
            for copy in range(count):
                for line in lines:  # a fresh trace id and conversation ids for each copy, same spans
                    row = json.loads(line)
                    for resource in row["resourceSpans"]:
                        for scope in resource["scopeSpans"]:
                            for span in scope["spans"]:
                                span["traceId"] = f"{copy:08x}" + span["traceId"][8:]
                                for attribute in span["attributes"]:
                                    if attribute["key"] == "gen_ai.conversation.id":
                                        attribute["value"]["stringValue"] += f"-{copy}"
                    out.write(json.dumps(row) + "\n")
        return path

    def peak(path: Path) -> tuple[int, int]:
        tracemalloc.start()
        episodes = 0
        for _, row, normalise in iter_team_rows(plan_team_sources((str(path),)), 100_000):
            episodes += not isinstance(row, Rejection) and bool(normalise(row)["turns"])
        top = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return episodes, top

    small, large = peak(copies(20)), peak(copies(200))
    assert (small[0], large[0]) == (20, 200)
    # each trace more costs its ids (under 1 KB here); holding its 6 spans would cost about 25 KB
    assert (large[1] - small[1]) / 180 < 2_000, (small, large)
