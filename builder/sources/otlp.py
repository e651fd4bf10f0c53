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
from collections import defaultdict
from dataclasses import dataclass, field

from builder.episode import agent, check_text, empty_metadata, episode, optional_text, response, turn
from builder.rejections import Rejection, RowLocation
from builder.sources.loaders import embedded_json

BASIS_RECORDED_MESSAGES = "recorded_messages"
BASIS_PROVIDER_USAGE = "provider_usage"
LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
MAX_SPANS = 100_000  # in one conversation: far beyond any real run; bounds what one trace may claim
HANDOFF_PREFIX = "handoff to "


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
    """Every span of the ExportTraceServiceRequest rows, and a rejection for each request that is not one."""
    spans, rejected = [], []
    for location, row in rows:
        if isinstance(row, Rejection):
            rejected.append((location, row))
            continue
        try:
            spans.extend(_request_spans(row, location))
        except Rejection as rejection:
            rejected.append((location, rejection))
    return spans, rejected


def _request_spans(row, location: RowLocation) -> list[Span]:
    if not is_otlp_request(row):
        raise Rejection("malformed_row", "not an ExportTraceServiceRequest (no resourceSpans list)")
    found = []
    for r, resource_spans in enumerate(row["resourceSpans"]):
        if not isinstance(resource_spans, dict):
            raise Rejection("invalid_type", f"resourceSpans[{r}] is not an object")
        resource_object = resource_spans.get("resource") or {}
        if not isinstance(resource_object, dict):
            raise Rejection("invalid_type", f"resourceSpans[{r}].resource is not an object")
        resource = attributes_of(resource_object.get("attributes"), f"resourceSpans[{r}].resource")
        for s, scope in enumerate(_list(resource_spans.get("scopeSpans"), f"resourceSpans[{r}].scopeSpans")):
            if not isinstance(scope, dict):
                raise Rejection("invalid_type", f"resourceSpans[{r}].scopeSpans[{s}] is not an object")
            for n, raw in enumerate(_list(scope.get("spans"), f"scopeSpans[{s}].spans")):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{n}]"
                if not isinstance(raw, dict):
                    raise Rejection("invalid_type", f"{where} is not an object")
                parent = raw.get("parentSpanId") or None
                name = raw.get("name", "")
                if not isinstance(name, str):
                    raise Rejection("invalid_type", f"{where}.name is {type(name).__name__}")
                found.append(Span(
                    trace_id=hex_id(raw.get("traceId"), 16, f"{where}.traceId"),
                    span_id=hex_id(raw.get("spanId"), 8, f"{where}.spanId"),
                    parent_id=None if parent is None else hex_id(parent, 8, f"{where}.parentSpanId"),
                    name=name, start=_int64(raw.get("startTimeUnixNano", "0"), f"{where}.startTimeUnixNano"),
                    attributes=attributes_of(raw.get("attributes"), where), resource=resource, location=location))
    return found


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


def _int64(value, where: str) -> int:
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


def conversations(spans: list[Span]) -> list[Conversation]:
    """The spans grouped by conversation: gen_ai.conversation.id or session.id on the span or its nearest
    ancestor that has one, else the trace; in the order each conversation's first span was read."""
    by_id = {s.span_id: s for s in spans}
    grouped: dict[str, Conversation] = {}
    for span in spans:
        key = None
        for node in _lineage(span, by_id):
            value = node.attributes.get("gen_ai.conversation.id") or node.attributes.get("session.id")
            if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
                key = f"conversation:{value}"
                break
        key = key or f"trace:{span.trace_id}"
        grouped.setdefault(key, Conversation(key)).spans.append(span)
    return list(grouped.values())


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
        steps.append({"start": call.start, "kind": "message" if written or not called else "tool_call",
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
        steps.append({"start": tool.start, "kind": "tool_result", "agent": _agent_of(tool, by_id, max_text_chars),
                      "content": check_text("" if result is None else str(result), max_text_chars, f"{tool.name} output"),
                      "addressee": None, "sent": None, "usage": (None, None), "model": None, "span": tool})
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
        task=f"agent_trace:{optional_text(first.resource.get('service.name'), max_text_chars, 'service.name') or 'unknown_service'}",
        agents=[agent(a, models.get(a, "unknown")) for a in agent_ids],
        turns=turns,
        winner=None,
        outcome={"ground_truth": None, "final_answer": next((s["content"] for s in reversed(steps)
                                                             if s["kind"] == "message"), None),
                 "final_correct": None, "correct_by": None, "decision_success": None, "final_consensus": None,
                 "best_judge_score": None},
        metadata=empty_metadata(conversation.key.split(":", 1)[1]),
        memory="full_history",
        input_tokens_basis=BASIS_RECORDED_MESSAGES if recorded else BASIS_PROVIDER_USAGE,
    )


def _agent_of(span: Span, by_id: dict[str, Span], max_text_chars: int) -> str:
    for node in _lineage(span, by_id):
        name = node.attributes.get("gen_ai.agent.name") or node.attributes.get("agent.name")
        if name is None and node.kind == "agent":
            name = node.attributes.get("graph.node.id")
        name = optional_text(name, max_text_chars, f"{node.name} agent name")
        if name and name.strip():
            return name
    return "unnamed agent"


def _input_messages(attributes: dict, max_text_chars: int) -> list[dict] | None:
    """[{role, content, calls}] of what the call sent (calls: its tool calls as name(arguments)), or None where
    the span records no content."""
    if "gen_ai.input.messages" in attributes:
        return list(_genai_messages(attributes["gen_ai.input.messages"], max_text_chars))
    return _openinference_messages(attributes, "llm.input_messages", max_text_chars)


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
            elif part.get("type") == "tool_call_response":
                texts.append(check_text(str(part.get("response", "")), max_text_chars, "tool response"))
        yield {"role": check_text(message["role"], 100, "role"), "content": "\n".join(texts),
               "calls": [check_text(c, max_text_chars, "tool call") for c in calls]}


def _openinference_messages(attributes: dict, prefix: str, max_text_chars: int):
    """llm.input_messages.N.message.role / .content / .tool_calls.M.tool_call.function.* flattened back into
    messages, in N's order; None where no message of the prefix is recorded."""
    messages: dict[int, dict] = defaultdict(lambda: {"role": None, "content": "", "calls": {}})
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
        elif rest.startswith("message.tool_calls.") and rest.endswith(("function.name", "function.arguments")):
            number = rest.split(".")[2]
            message["calls"].setdefault(number, {})[rest.rsplit(".", 1)[1]] = value
    if not messages:
        return None
    return [{"role": message["role"], "content": message["content"],
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


def _handoff_target(span: Span, max_text_chars: int) -> str | None:
    if span.name.startswith(HANDOFF_PREFIX):
        target = span.attributes.get("output.value")
        target = target if isinstance(target, str) and target else span.name[len(HANDOFF_PREFIX):]
        return check_text(target, max_text_chars, "handoff target")
    return None


def _first_user_message(sent: list[dict]) -> str | None:
    return next((m["content"] for m in sent if m["role"] == "user" and m["content"]), None)
