"""The one span model of agent traces, and the table of how each export format spells it.

Every reader of traces (OTLP files, builder/sources/otlp_wire.py; MLflow and Phoenix exports,
builder/sources/trace_exports.py) makes `Span` objects through `span_from` and a `SpanFormat` of its format
(OTLP_JSON, MLFLOW, PHOENIX), naming the keys that hold a span's ids, name, times, attributes and events; what a format stores differently (MLflow's attribute
values as JSON text, Phoenix's nested columns) is a decoder of that row, not a builder of its own. What the spans
mean (LLM calls, agents, messages) is read from them once, in builder/sources/llm_calls.py.

A span's `events` are its span events and the OpenTelemetry log records that name it (trace and span id): the
GenAI conventions put message content in either (per-message events such as `gen_ai.user.message` /
`gen_ai.choice`, or one `gen_ai.client.inference.operation.details` event), so both are kept with the span.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from builder.rejections import Rejection, RowLocation

LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})  # gen_ai.operation.name of a call
OPENINFERENCE_KINDS = {"LLM": "llm", "AGENT": "agent", "TOOL": "tool"}  # openinference.span.kind
TRACELOOP_LLM_REQUESTS = frozenset({"chat", "completion"})  # OpenLLMetry's llm.request.type of a call
TRACELOOP_KINDS = {"agent": "agent", "tool": "tool"}  # OpenLLMetry's traceloop.span.kind


class JoinKind(enum.Enum):
    """How the spans of one trace episode were gathered."""

    CONVERSATION = "by_conversation_id"  # gen_ai.conversation.id / session.id, on a span or an ancestor
    TEAM = "by_team_id"  # autogen-agentchat's team id, written in its agent ids and message destinations
    TRACE = "one_trace_alone"  # nothing ties the trace to others: an episode of its own


@dataclass
class SpanEvent:
    """A span event, or a log record tied to the span: its name (`eventName`, else the `event.name` attribute),
    attributes and body (log records only; None for span events)."""

    name: str
    time: int
    attributes: dict
    body: object = None

    def to_record(self) -> list:
        return [self.name, self.time, self.attributes, self.body]

    @classmethod
    def from_record(cls, record: list) -> "SpanEvent":
        return cls(*record)


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
    events: list[SpanEvent] = field(default_factory=list)

    @cached_property  # asked of every span by several passes; its attributes never change once read
    def kind(self) -> str | None:
        """llm, agent, tool or None, in any vocabulary: GenAI's operation, OpenInference's span kind, OpenLLMetry's
        request type (an LLM call) and span kind (agent, tool)."""
        operation = _string(self.attributes.get("gen_ai.operation.name"))
        if operation in LLM_OPERATIONS or _string(self.attributes.get("llm.request.type")) in TRACELOOP_LLM_REQUESTS:
            return "llm"
        if operation == "invoke_agent":
            return "agent"
        if operation == "execute_tool":
            return "tool"
        return (OPENINFERENCE_KINDS.get(_string(self.attributes.get("openinference.span.kind")))
                or TRACELOOP_KINDS.get(_string(self.attributes.get("traceloop.span.kind"))))


def _string(value) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class SpanFormat:
    """Where one export format keeps a span's fields, and how it stores attribute values and events.
    `attributes` turns the format's attribute container into {dotted key: value}; `events` its event list into
    SpanEvents; `time` a time field into nanoseconds since the epoch."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    start: str
    end: str
    attributes: Callable[[object, str], dict]
    events: Callable[[object, str], list[SpanEvent]]
    time: Callable[[object, str], int]
    event_key: str = "events"
    attributes_key: str | None = "attributes"  # None: the attributes are columns of the span's own row (Phoenix)


def span_from(raw, span_format: SpanFormat, where: str, resource: dict, location: RowLocation) -> Span:
    """A Span from one exported span of `span_format`; a Rejection naming `where` if it cannot be read."""
    if not isinstance(raw, dict):
        raise Rejection("invalid_type", f"{where} is not an object")
    name = raw.get(span_format.name) or ""
    if not isinstance(name, str):
        raise Rejection("invalid_type", f"{where}.{span_format.name} is {type(name).__name__}")
    parent = raw.get(span_format.parent_id) or None
    if parent is not None and not isinstance(parent, str):
        raise Rejection("invalid_type", f"{where}.{span_format.parent_id} is {type(parent).__name__}")
    return Span(trace_id=hex_id(raw.get(span_format.trace_id), 16, f"{where}.{span_format.trace_id}"),
                span_id=hex_id(raw.get(span_format.span_id), 8, f"{where}.{span_format.span_id}"),
                parent_id=None if parent is None else hex_id(parent, 8, f"{where}.{span_format.parent_id}"),
                name=name, start=span_format.time(raw.get(span_format.start), f"{where}.{span_format.start}"),
                attributes=span_format.attributes(raw if span_format.attributes_key is None
                                                  else raw.get(span_format.attributes_key), where),
                resource=resource, location=location,
                end=span_format.time(raw.get(span_format.end), f"{where}.{span_format.end}"),
                events=span_format.events(raw.get(span_format.event_key), where))


def event_reader(time_key: str, attributes: Callable[[object, str], dict], time: Callable[[object, str], int]
                 ) -> Callable[[object, str], list[SpanEvent]]:
    """A format's event list [{name, <time_key>, attributes}] as SpanEvents, each event's attributes read by
    `attributes` and its time by `time`."""

    def read(values, where: str) -> list[SpanEvent]:
        events = []
        for i, raw in enumerate(as_list(values, f"{where}.events")):
            if not isinstance(raw, dict) or not isinstance(raw.get("name", ""), str):
                raise Rejection("invalid_type", f"{where}.events[{i}] is not an event object")
            events.append(SpanEvent(raw.get("name", ""), time(raw.get(time_key), f"{where}.events[{i}].{time_key}"),
                                    attributes(raw.get("attributes"), f"{where}.events[{i}]")))
        return events

    return read


_HEX = re.compile(r"[0-9a-fA-F]+")


def hex_id(value, size: int, where: str) -> str:
    """A trace (16 bytes) or span (8 bytes) id as lowercase hex: OTLP/JSON's hex, or the protobuf mapping's base64."""
    if not isinstance(value, str) or not value:
        raise Rejection("missing_field", f"{where} is missing")
    if len(value) == 2 * size and _HEX.fullmatch(value):
        return value.lower()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        raise Rejection("invalid_value", f"{where} {value[:40]!r} is not a {size}-byte id in hex or base64")
    return raw.hex()


def int64(value, where: str) -> int:
    """A time or count as OTLP writes an int64: a decimal string, or a JSON number; absent is 0."""
    if value is None:
        return 0
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return value
    raise Rejection("invalid_value", f"{where} is {str(value)[:30]!r}, not an int64")


def as_list(value, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Rejection("invalid_type", f"{where} is {type(value).__name__}, expected a list")
    return value
