"""Agent traces: OpenTelemetry spans of any agent framework (OTLP/JSON) as agent-team episodes.

Layout: one `ExportTraceServiceRequest` per line, as the OpenTelemetry Collector's file exporter writes it
({"resourceSpans": [{"resource": {"attributes"}, "scopeSpans": [{"spans": [...]}]}]}), or a .json file holding one
such document. Per the OTLP/JSON mapping ids are lowercase hex, enums integers and int64 values (times,
intValue) decimal strings; ids in the protobuf JSON mapping's base64 (what `MessageToJson` writes) are read too.

Two vocabularies, checked on spans that real frameworks emitted against a local server (tests/sources/test_otlp.py):
- GenAI semantic conventions (AG2 0.14 natively, `autogen.opentelemetry`): LLM calls are spans with
  `gen_ai.operation.name` chat (or text_completion / generate_content), `gen_ai.agent.name` (else the nearest
  `invoke_agent` ancestor's), `gen_ai.request.model`, `gen_ai.input.messages` / `gen_ai.output.messages` (JSON
  [{role, parts: [{type: text, content} | {type: tool_call, name, arguments} | {type: tool_call_response,
  response}]}]), `gen_ai.usage.input_tokens` / `output_tokens`; the conversation is `gen_ai.conversation.id` on the
  span or an ancestor; tools run in `execute_tool` spans.
- OpenInference (the OpenAI Agents SDK's instrumentor, smolagents, CrewAI, LangChain, ...): `openinference.span.kind`
  LLM / AGENT / TOOL / CHAIN; an LLM span carries `llm.model_name`, `llm.input_messages.N.message.role` / `.content`
  / `.tool_calls.M.tool_call.function.name` / `.arguments`, `llm.output_messages.N...`, `llm.token_count.prompt` /
  `completion`, and no agent name: it is the nearest AGENT ancestor's `agent.name` (or `graph.node.id`); the
  conversation is `session.id`; the Agents SDK's handoffs are TOOL spans "handoff to X".
One episode per conversation (else per trace): its turns are the LLM calls in time order, each one response of
the calling agent (kind message, or tool_call where the model only called tools, with the target agent as
addressee where a handoff followed), and the tools' results (kind tool_result) attributed to the agent that
called them. What each agent was sent is the call's recorded input messages: the token stage counts them
whole (basis recorded_messages). The provider's usage per call is kept beside tiktoken's counts
(provider_input_tokens / provider_output_tokens); only LLM spans' usage is read, never an agent's or a run's
totals, which some instrumentors add up on parent spans. A call whose span records no message content still
gives its tokens from the provider's usage: its text is empty and the episode's basis is provider_usage.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sqlite3
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from builder.episode import agent, check_text, empty_metadata, episode, optional_text, response, turn
from builder.rejections import Rejection, RowLocation
from builder.sources.loaders import embedded_json

BASIS_RECORDED_MESSAGES = "recorded_messages"
BASIS_PROVIDER_USAGE = "provider_usage"
LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
MAX_SPANS = 100_000  # in one conversation: far beyond any real run; bounds what one trace may claim
HANDOFF_PREFIX = "handoff to "
TRACE_TASK_PREFIX = "agent_trace:"
# How a trace episode's spans were gathered, by the prefix of its question id (conversations(), SpanStore)
JOIN_KINDS = {"conversation": "by_conversation_id", "team": "by_team_id", "trace": "one_trace_alone"}
AUTOGEN_TEAM = re.compile(r"_(?P<team>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?=[/.]|$)")
SCOPE_LAYOUTS = ("scopeSpans", "instrumentationLibrarySpans")  # OTLP >= 0.19, and the layout before it


def is_otlp_request(row) -> bool:
    return isinstance(row, dict) and isinstance(row.get("resourceSpans"), list)


@dataclass
class Span:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    start: int
    attributes: dict
    resource: dict
    location: RowLocation
    end: int = 0  # endTimeUnixNano; 0 where not recorded

    @property
    def kind(self) -> str | None:
        """llm, agent, tool or None, in either vocabulary."""
        operation = _string(self.attributes.get("gen_ai.operation.name"))
        if operation in LLM_OPERATIONS:
            return "llm"
        if operation == "invoke_agent":
            return "agent"
        if operation == "execute_tool":
            return "tool"
        return {"LLM": "llm", "AGENT": "agent", "TOOL": "tool"}.get(_string(self.attributes.get("openinference.span.kind")))


def _string(value) -> str | None:
    return value if isinstance(value, str) else None



@dataclass
class Conversation:
    """The spans of one conversation (a row of the agent-team family), in the order they were read."""

    key: str
    spans: list[Span] = field(default_factory=list)


def read_spans(rows) -> tuple[list[Span], list[tuple[RowLocation, Rejection]]]:
    """Every span of the ExportTraceServiceRequest rows, and a rejection for each request that is not one and
    for each span that cannot be read (the other spans of its request are kept)."""
    spans, rejected = [], []
    for location, row in rows:
        for found in request_spans(row, location):
            (spans if isinstance(found, Span) else rejected).append(found)
    return spans, rejected


def request_spans(row, location: RowLocation) -> Iterator[Span | tuple[RowLocation, Rejection]]:
    """The spans of one request, each one a Span or (location, rejection): a span that cannot be read is rejected
    alone, naming where it is in the request; a request that is not one is one rejection."""
    if isinstance(row, Rejection):
        yield location, row
        return
    try:
        resources = list(_resource_scopes(row))
    except Rejection as rejection:
        yield location, rejection
        return
    for resource, where, raw_spans in resources:
        for n, raw in enumerate(raw_spans):
            try:
                yield _span(raw, f"{where}.spans[{n}]", resource, location)
            except Rejection as rejection:
                yield location, rejection


def _resource_scopes(row) -> Iterator[tuple[dict, str, list]]:
    """(resource attributes, where, spans) of each scope of a request. The layout before OTLP 0.19 named the
    scopes `instrumentationLibrarySpans` (what older collectors and SDKs still write): read the same way."""
    if not is_otlp_request(row):
        raise Rejection("malformed_row", "not an ExportTraceServiceRequest (no resourceSpans list)")
    for r, resource_spans in enumerate(row["resourceSpans"]):
        if not isinstance(resource_spans, dict):
            raise Rejection("invalid_type", f"resourceSpans[{r}] is not an object")
        resource_object = resource_spans.get("resource") or {}
        if not isinstance(resource_object, dict):
            raise Rejection("invalid_type", f"resourceSpans[{r}].resource is not an object")
        resource = attributes_of(resource_object.get("attributes"), f"resourceSpans[{r}].resource")
        for layout in SCOPE_LAYOUTS:
            for s, scope in enumerate(_list(resource_spans.get(layout), f"resourceSpans[{r}].{layout}")):
                where = f"resourceSpans[{r}].{layout}[{s}]"
                if not isinstance(scope, dict):
                    raise Rejection("invalid_type", f"{where} is not an object")
                yield resource, where, _list(scope.get("spans"), f"{where}.spans")


def _span(raw, where: str, resource: dict, location: RowLocation) -> Span:
    if not isinstance(raw, dict):
        raise Rejection("invalid_type", f"{where} is not an object")
    parent = raw.get("parentSpanId") or None
    name = raw.get("name", "")
    if not isinstance(name, str):
        raise Rejection("invalid_type", f"{where}.name is {type(name).__name__}")
    return Span(trace_id=hex_id(raw.get("traceId"), 16, f"{where}.traceId"),
                span_id=hex_id(raw.get("spanId"), 8, f"{where}.spanId"),
                parent_id=None if parent is None else hex_id(parent, 8, f"{where}.parentSpanId"),
                name=name, start=int64(raw.get("startTimeUnixNano", "0"), f"{where}.startTimeUnixNano"),
                attributes=attributes_of(raw.get("attributes"), where), resource=resource, location=location,
                end=int64(raw.get("endTimeUnixNano", "0"), f"{where}.endTimeUnixNano"))


def hex_id(value, size: int, where: str) -> str:
    """A trace (16 bytes) or span (8 bytes) id as lowercase hex: OTLP/JSON's hex, or the protobuf mapping's base64."""
    if not isinstance(value, str) or not value:
        raise Rejection("missing_field", f"{where} is missing")
    if len(value) == 2 * size and all(c in "0123456789abcdefABCDEF" for c in value):
        return value.lower()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        raise Rejection("invalid_value", f"{where} {value[:40]!r} is not a {size}-byte id in hex or base64")
    return raw.hex()


def int64(value, where: str) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return value
    raise Rejection("invalid_value", f"{where} is {str(value)[:30]!r}, not an int64")


def _list(value, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Rejection("invalid_type", f"{where} is {type(value).__name__}, expected a list")
    return value


def attributes_of(values, where: str) -> dict:
    """OTLP's [{key, value: {stringValue | intValue | doubleValue | boolValue | arrayValue | kvlistValue}}] as a dict."""
    result = {}
    for i, item in enumerate(_list(values, f"{where}.attributes")):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise Rejection("invalid_type", f"{where}.attributes[{i}] is not a {{key, value}} object")
        result[item["key"]] = any_value(item.get("value"), f"{where}.attributes[{item['key']!r}]")
    return result


def any_value(value, where: str):
    if not isinstance(value, dict):
        return None
    if "stringValue" in value:
        if not isinstance(value["stringValue"], str):
            raise Rejection("invalid_type", f"{where}.stringValue is not a string")
        return value["stringValue"]
    if "intValue" in value:
        number = value["intValue"]
        if isinstance(number, str) and number.lstrip("-").isdigit() and len(number) <= 20:
            return int(number)
        if isinstance(number, int) and not isinstance(number, bool):
            return number
        raise Rejection("invalid_value", f"{where}.intValue {str(number)[:30]!r} is not an int64")
    if "doubleValue" in value:
        number = value["doubleValue"]
        if isinstance(number, bool) or not isinstance(number, (int, float, str)):
            raise Rejection("invalid_type", f"{where}.doubleValue is {type(number).__name__}")
        return number
    if "boolValue" in value:
        if not isinstance(value["boolValue"], bool):
            raise Rejection("invalid_type", f"{where}.boolValue is not a boolean")
        return value["boolValue"]
    for key in ("arrayValue", "kvlistValue"):
        if key in value:
            inner = value[key] or {}
            if not isinstance(inner, dict):
                raise Rejection("invalid_type", f"{where}.{key} is not an object")
            values = inner.get("values")
            return ([any_value(v, where) for v in _list(values, where)] if key == "arrayValue"
                    else attributes_of(values, where))
    return None


def conversations(spans: list[Span], default_key: str | None = None) -> list[Conversation]:
    """The spans grouped by conversation: the gen_ai.conversation.id or session.id of the outermost span of its
    lineage that has one (an agent run nested in another's, as Pydantic AI's delegation is, has an id of its own
    but is part of the outer run), else `default_key` (the traces joined with it, see SpanStore), else the
    trace; in the order each conversation's first span was read."""
    by_id = {s.span_id: s for s in spans}
    grouped: dict[str, Conversation] = {}
    for span in spans:
        key = None
        for node in _lineage(span, by_id):
            value = _conversation_id(node)
            if value is not None:
                key = f"conversation:{value}"
        key = key or default_key or f"trace:{span.trace_id}"
        grouped.setdefault(key, Conversation(key)).spans.append(span)
    return list(grouped.values())


def _conversation_id(span: Span) -> str | None:
    value = span.attributes.get("gen_ai.conversation.id") or span.attributes.get("session.id")
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value) else None


def join_keys(span: Span) -> set[str]:
    """What ties the span's trace to others of the same conversation: its conversation or session id, and
    autogen-agentchat's team id, which its runtime writes into every agent id and message destination
    (`writer_<team uuid>/<team uuid>`, `group_topic_<team uuid>.(<team uuid>)-T`) though it starts a new trace
    for each message it delivers."""
    keys = set()
    conversation = _conversation_id(span)
    if conversation is not None:
        keys.add(f"conversation:{conversation}")
    for name in ("gen_ai.agent.id", "messaging.destination"):
        value = span.attributes.get(name)
        match = AUTOGEN_TEAM.search(value) if isinstance(value, str) else None
        if match:
            keys.add(f"team:{match.group('team')}")
    return keys


class SpanStore:
    """The spans of every trace file of a source, kept on disk (SQLite in a temporary folder of its own, removed
    on close) and handed back a conversation at a time once all are read, since a conversation's spans may lie
    in several traces (autogen-agentchat starts one per message) and several files (a collector rotating its file
    exporter). Memory holds a few ids per trace and one conversation's spans, never all the spans. A span read
    twice (the same trace and span id: a retried export) is kept once."""

    def __init__(self):
        self._folder = tempfile.TemporaryDirectory(prefix="multi-llm-coord-spans-")
        self._db = sqlite3.connect(Path(self._folder.name) / "spans.sqlite")
        self._db.execute("CREATE TABLE spans (trace TEXT, span TEXT, seq INTEGER, record TEXT, PRIMARY KEY (trace, span))")
        self._first_seen: dict[str, int] = {}  # trace id -> the order its first span was read in
        self._keys: dict[str, set[str]] = {}  # trace id -> its join keys
        self.count = 0

    def add(self, span: Span) -> bool:
        """Keep the span; False where it was read before."""
        record = [span.parent_id, span.name, span.start, span.attributes, span.resource,
                  span.location.file, span.location.line, span.end]
        cursor = self._db.execute("INSERT OR IGNORE INTO spans VALUES (?, ?, ?, ?)", (
            span.trace_id, span.span_id, self.count, json.dumps(record, ensure_ascii=False, separators=(",", ":"))))
        if cursor.rowcount == 0:
            return False
        self._first_seen.setdefault(span.trace_id, self.count)
        self.count += 1
        keys = join_keys(span)
        if keys:
            self._keys.setdefault(span.trace_id, set()).update(keys)
        return True

    def conversations(self) -> Iterator[Conversation]:
        """Each conversation, its traces joined by any key they share, in the order its first span was read."""
        for traces in self._joined_traces():
            keys = set().union(*(self._keys.get(trace, set()) for trace in traces))
            named = sorted(k for k in keys if k.startswith("conversation:"))
            teams = sorted(k for k in keys if k.startswith("team:"))
            default = named[0] if len(named) == 1 else teams[0] if teams else f"trace:{traces[0]}"
            yield from conversations(self._spans_of(traces), default)

    def _joined_traces(self) -> list[list[str]]:
        """The trace ids grouped by the keys they share (union-find), each group and the groups in read order."""
        parent = {trace: trace for trace in self._first_seen}

        def root(trace: str) -> str:
            while parent[trace] != trace:
                parent[trace] = parent[parent[trace]]
                trace = parent[trace]
            return trace

        holder: dict[str, str] = {}
        for trace, keys in self._keys.items():
            for key in sorted(keys):
                other = holder.setdefault(key, trace)
                a, b = root(trace), root(other)
                if a != b:
                    parent[max(a, b, key=self._first_seen.get)] = min(a, b, key=self._first_seen.get)
        groups: dict[str, list[str]] = {}
        for trace in sorted(self._first_seen, key=self._first_seen.get):
            groups.setdefault(root(trace), []).append(trace)
        return list(groups.values())

    def _spans_of(self, traces: list[str]) -> list[Span]:
        found = []
        for start in range(0, len(traces), 500):  # SQLite's bound on parameters
            chunk = traces[start:start + 500]
            found += self._db.execute(
                f"SELECT trace, span, seq, record FROM spans WHERE trace IN ({', '.join('?' * len(chunk))})", chunk)
        spans = []
        for trace, span_id, _, record in sorted(found, key=lambda row: row[2]):
            parent, name, start, attributes, resource, file, line, end = json.loads(record)
            spans.append(Span(trace, span_id, parent, name, start, attributes, resource, RowLocation(file, line), end))
        return spans

    def close(self) -> None:
        self._db.close()
        self._folder.cleanup()


def join_kind(episode: dict) -> str | None:
    """How a trace episode's spans were gathered (a JOIN_KINDS value); None for an episode not read from traces."""
    if not episode["task"].startswith(TRACE_TASK_PREFIX):
        return None
    return JOIN_KINDS.get(str(episode["metadata"]["question_id"]).split(":", 1)[0])


def _lineage(span: Span, by_id: dict[str, Span]):
    """The span, its parent, its parent's parent, ... (as far as the spans read reach; cycles end it)."""
    seen = set()
    while span is not None and span.span_id not in seen:
        seen.add(span.span_id)
        yield span
        span = by_id.get(span.parent_id) if span.parent_id else None


def conversation_to_episode(conversation: Conversation, source: str, max_text_chars: int) -> dict:
    check_text(conversation.key, max_text_chars, "conversation id")
    spans = conversation.spans
    if len(spans) > MAX_SPANS:
        raise Rejection("invalid_value", f"{len(spans)} spans in one conversation, more than {MAX_SPANS}")
    by_id = {s.span_id: s for s in spans}
    calls = sorted((s for s in spans if s.kind == "llm"), key=lambda s: (s.start, s.span_id))
    tools = sorted((s for s in spans if s.kind == "tool"), key=lambda s: (s.start, s.span_id))
    if not calls:
        raise Rejection("empty_conversation", "no LLM call span in the conversation")
    steps = []  # (start, kind, agent, content, addressee, sent messages, usage, model)
    for call in calls:
        name = _agent_of(call, by_id, max_text_chars)
        sent = _input_messages(call.attributes, max_text_chars)
        written, called = _output(call.attributes, max_text_chars)
        content = written if written or not called else "\n".join(called)
        # where no content is recorded the finish reason still tells a call that only called tools
        only_tools = bool(called) or (not written and _finished_for_tools(call.attributes))
        steps.append({"start": call.start, "kind": "tool_call" if only_tools and not written else "message",
                      "agent": name, "content": content, "addressee": None, "sent": sent,
                      "usage": _usage(call.attributes), "model": _model(call.attributes, max_text_chars), "span": call})
    for tool in tools:
        target = _handoff_target(tool, max_text_chars)
        if target is not None:  # the Agents SDK's handoff: the addressee of the call that asked for it
            asked = [s for s in steps if s["agent"] == _agent_of(tool, by_id, max_text_chars) and s["start"] <= tool.start]
            if asked:
                asked[-1]["addressee"] = target
            continue
        result = tool.attributes.get("output.value", tool.attributes.get("gen_ai.tool.call.result"))
        # a tool's result exists when the tool ends (a delegate agent's calls run inside it)
        steps.append({"start": max(tool.start, tool.end), "kind": "tool_result",
                      "agent": _agent_of(tool, by_id, max_text_chars),
                      "content": check_text("" if result is None else str(result), max_text_chars, f"{tool.name} output"),
                      "addressee": None, "sent": None, "usage": (None, None), "model": None, "span": tool})
    for start, outer, inner in _delegations(spans, by_id, max_text_chars):
        asked = [s for s in steps if s["agent"] == outer and s["kind"] != "tool_result" and s["start"] <= start]
        if asked and asked[-1]["addressee"] is None:  # the call whose answer started the delegate's run
            asked[-1]["addressee"] = inner
    steps.sort(key=lambda s: (s["start"], s["span"].span_id))
    agent_ids = list(dict.fromkeys(s["agent"] for s in steps))
    if len(agent_ids) < 2:
        raise Rejection("too_few_agents", f"{len(agent_ids)} agent(s) in the conversation")
    models = {}
    for step in steps:
        if step["model"]:
            models.setdefault(step["agent"], step["model"])
    recorded = all(s["sent"] is not None for s in steps if s["kind"] != "tool_result")
    question = _first_user_message(steps[0]["sent"]) if steps[0]["sent"] else None
    turns = []
    for index, step in enumerate(steps):
        reply = response(step["agent"], step["content"], kind=step["kind"], addressee=step["addressee"])
        reply["provider_input_tokens"], reply["provider_output_tokens"] = step["usage"]
        reply["sent"] = step["sent"]  # what the agent was sent: counted by the token stage, not stored
        turns.append(turn(index, question if index == 0 else None, [reply]))
    first = spans[0]
    return episode(
        episode_id=f"trace:{conversation.key.split(':', 1)[1]}",
        source=source,
        topology="recorded" if recorded else "full_mesh",
        task=f"{TRACE_TASK_PREFIX}{optional_text(first.resource.get('service.name'), max_text_chars, 'service.name') or 'unknown_service'}",
        agents=[agent(a, models.get(a, "unknown")) for a in agent_ids],
        turns=turns,
        winner=None,
        outcome={"ground_truth": None, "final_answer": next((s["content"] for s in reversed(steps)
                                                             if s["kind"] == "message"), None),
                 "final_correct": None, "correct_by": None, "decision_success": None, "final_consensus": None,
                 "best_judge_score": None},
        metadata=empty_metadata(conversation.key),  # its kind (conversation:, team:, trace:) says how it was joined
        memory="full_history",
        input_tokens_basis=BASIS_RECORDED_MESSAGES if recorded else BASIS_PROVIDER_USAGE,
    )


def _agent_of(span: Span, by_id: dict[str, Span], max_text_chars: int) -> str:
    """The agent a span belongs to: its own agent name, else its nearest agent ancestor's (an LLM call nested in
    a smolagents managed agent is that agent's, not the manager's)."""
    return _nearest_agent(span, by_id, max_text_chars) or "unnamed agent"


def _nearest_agent(span: Span, by_id: dict[str, Span], max_text_chars: int) -> str | None:
    return next((name for node in _lineage(span, by_id) if (name := _agent_name(node, max_text_chars))), None)


def _agent_name(span: Span, max_text_chars: int) -> str | None:
    """The name a span gives its agent: gen_ai.agent.name or agent.name; else the LangGraph node it ran in (the
    OpenInference LangChain instrumentor keeps it only in the span's `metadata` JSON, `langgraph_node`); on an
    agent span without them, graph.node.id, else the span's own name (smolagents names a managed agent's span
    `researcher.run` and the top-level agent's by its class, `CodeAgent.run`)."""
    name = span.attributes.get("gen_ai.agent.name") or span.attributes.get("agent.name") or _graph_node(span)
    if name is None and span.kind == "agent":
        name = span.attributes.get("graph.node.id") or span.name.removesuffix(".run")
    name = optional_text(name, max_text_chars, f"{span.name} agent name")
    return name if name and name.strip() else None


def _graph_node(span: Span) -> str | None:
    # JSON text in OTLP; an object once a store decoded it (MLflow); dotted keys once flattened (Phoenix)
    metadata = span.attributes.get("metadata")
    if isinstance(metadata, str) and "langgraph_node" in metadata:
        metadata = embedded_json(metadata, f"{span.name} metadata")
    node = (metadata.get("langgraph_node") if isinstance(metadata, dict)
            else span.attributes.get("metadata.langgraph_node"))
    return node if isinstance(node, str) else None


def _delegations(spans: list[Span], by_id: dict[str, Span], max_text_chars: int) -> list[tuple[int, str, str]]:
    """(start, delegating agent, delegate) for each agent span nested in another agent's span: a manager that
    runs a managed agent (smolagents), an agent that calls another as a tool."""
    found = []
    for span in spans:
        inner = _agent_name(span, max_text_chars) if span.kind == "agent" else None
        parent = by_id.get(span.parent_id) if inner and span.parent_id else None
        outer = _nearest_agent(parent, by_id, max_text_chars) if parent is not None else None
        if outer is not None and outer != inner:
            found.append((span.start, outer, inner))
    return sorted(found)


def _input_messages(attributes: dict, max_text_chars: int) -> list[dict] | None:
    """[{role, content, calls}] of what the call sent (calls: its tool calls as name(arguments)), or None where
    the span records no content."""
    if "gen_ai.input.messages" in attributes:
        sent = list(_genai_messages(attributes["gen_ai.input.messages"], max_text_chars))
        instructions = _system_instructions(attributes.get("gen_ai.system_instructions"), max_text_chars)
        return ([{"role": "system", "content": instructions, "calls": []}] if instructions else []) + sent
    return _openinference_messages(attributes, "llm.input_messages", max_text_chars)


def _system_instructions(value, max_text_chars: int) -> str | None:
    """The text of gen_ai.system_instructions ([{type: text, content}]), which the latest conventions (Pydantic
    AI) keep apart from the input messages though the provider was sent them as the system message."""
    if value is None:
        return None
    parts = json_attribute(value, "gen_ai.system_instructions")
    texts = [part.get("content") for part in (parts if isinstance(parts, list) else [])
             if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("content"), str)]
    return check_text("\n".join(texts), max_text_chars, "gen_ai.system_instructions") if texts else None


def _output(attributes: dict, max_text_chars: int) -> tuple[str, list[str]]:
    """(the text the call wrote, its tool calls rendered as name(arguments))."""
    if "gen_ai.output.messages" in attributes:
        messages = json_attribute(attributes["gen_ai.output.messages"], "gen_ai.output.messages")
        texts, calls = [], []
        for message in messages if isinstance(messages, list) else []:
            for part in _list(message.get("parts"), "output parts") if isinstance(message, dict) else []:
                if isinstance(part, dict) and part.get("type") == "text":
                    texts.append(optional_text(part.get("content"), max_text_chars, "output text") or "")
                elif isinstance(part, dict) and part.get("type") == "tool_call":
                    calls.append(f"{part.get('name')}({_arguments(part.get('arguments'))})")
        return "\n".join(texts), calls
    messages = _openinference_messages(attributes, "llm.output_messages", max_text_chars) or []
    return "\n".join(m["content"] for m in messages if m["content"]), [c for m in messages for c in m["calls"]]


def _genai_messages(value, max_text_chars: int):
    messages = json_attribute(value, "gen_ai.input.messages")
    if not isinstance(messages, list):
        raise Rejection("invalid_type", "gen_ai.input.messages is not a list of messages")
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise Rejection("invalid_type", "a gen_ai.input.messages entry has no role")
        texts, calls = [], []
        for part in _list(message.get("parts"), "input parts"):
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text":
                texts.append(optional_text(part.get("content"), max_text_chars, "input text") or "")
            elif part.get("type") == "tool_call":
                calls.append(f"{part.get('name')}({_arguments(part.get('arguments'))})")
            elif part.get("type") == "tool_call_response":  # `response`; Pydantic AI writes `result`
                texts.append(check_text(str(part.get("response", part.get("result", ""))), max_text_chars,
                                        "tool response"))
        yield {"role": check_text(message["role"], 100, "role"), "content": "\n".join(texts),
               "calls": [check_text(c, max_text_chars, "tool call") for c in calls]}


def _openinference_messages(attributes: dict, prefix: str, max_text_chars: int):
    """llm.input_messages.N.message.role / .content / .tool_calls.M.tool_call.function.* flattened back into
    messages, in N's order (a message's content may instead be parts, `.message.contents.M.message_content.text`);
    None where no message of the prefix is recorded."""
    messages: dict[int, dict] = defaultdict(lambda: {"role": None, "content": "", "calls": {}, "parts": {}})
    for key, value in attributes.items():
        if not key.startswith(prefix + "."):
            continue
        parts = key[len(prefix) + 1:].split(".")
        if not parts[0].isdigit():
            continue
        message = messages[int(parts[0])]
        rest = ".".join(parts[1:])
        if rest == "message.role":
            message["role"] = optional_text(value, 100, key)
        elif rest == "message.content":
            message["content"] = check_text(value if isinstance(value, str) else str(value), max_text_chars, key)
        elif rest.startswith("message.contents.") and rest.endswith(".message_content.text"):
            number = rest.split(".")[2]  # a message of several parts (smolagents): its text parts, in order
            if number.isdigit():
                message["parts"][int(number)] = check_text(str(value), max_text_chars, key)
        elif rest.startswith("message.tool_calls.") and rest.endswith(("function.name", "function.arguments")):
            number = rest.split(".")[2]
            message["calls"].setdefault(number, {})[rest.rsplit(".", 1)[1]] = value
    if not messages:
        return None
    return [{"role": message["role"],
             "content": message["content"] or check_text("\n".join(t for _, t in sorted(message["parts"].items())),
                                                         max_text_chars, prefix),
             "calls": [check_text(f"{c.get('name')}({_arguments(c.get('arguments'))})", max_text_chars, prefix)
                       for _, c in sorted(message["calls"].items())]}
            for _, message in sorted(messages.items())]


def _arguments(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def json_attribute(value, name: str):
    if not isinstance(value, str):
        return value
    return embedded_json(value, name)


def _usage(attributes: dict) -> tuple[int | None, int | None]:
    """The provider-reported usage of one LLM call (never a parent span's totals)."""
    values = []
    for names in (("gen_ai.usage.input_tokens", "llm.token_count.prompt"),
                  ("gen_ai.usage.output_tokens", "llm.token_count.completion")):
        value = next((attributes[n] for n in names if n in attributes), None)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31):
            raise Rejection("invalid_value", f"{names[0]} is {str(value)[:20]!r}, not a token count")
        values.append(value)
    return values[0], values[1]


def _model(attributes: dict, max_text_chars: int) -> str | None:
    value = attributes.get("gen_ai.response.model") or attributes.get("gen_ai.request.model") or attributes.get("llm.model_name")
    return optional_text(value, max_text_chars, "model name") if isinstance(value, str) and value else None


def _finished_for_tools(attributes: dict) -> bool:
    reasons = attributes.get("gen_ai.response.finish_reasons")
    return isinstance(reasons, list) and bool(reasons) and all(r in ("tool_calls", "tool_call") for r in reasons)


def _handoff_target(span: Span, max_text_chars: int) -> str | None:
    if span.name.startswith(HANDOFF_PREFIX):
        target = span.attributes.get("output.value")
        target = target if isinstance(target, str) and target else span.name[len(HANDOFF_PREFIX):]
        return check_text(target, max_text_chars, "handoff target")
    return None


def _first_user_message(sent: list[dict]) -> str | None:
    return next((m["content"] for m in sent if m["role"] == "user" and m["content"]), None)
