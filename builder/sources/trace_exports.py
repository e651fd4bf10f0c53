"""Spans as trace stores export them, read into the one span model (builder/sources/spans.py) through its table of formats, so a
run exported from a store gives the episode its OTLP file gives.

- MLflow tracing (checked on mlflow 3.17's own server, which ingests OTLP at /v1/traces, exported the way its
  documentation shows: `mlflow.search_traces(..., return_type="list")`, then `Trace.to_json()` per trace): one
  trace is {"info": {trace_id, tags: {"service.name", ...}, ...}, "data": {"spans": [{trace_id, span_id,
  parent_span_id, name, start_time_unix_nano, end_time_unix_nano, attributes: {key: the value as JSON text},
  events: [{name, time_unix_nano, attributes}]}]}};
  ids are the protobuf JSON mapping's base64. A file holds one trace (.json), an array of them, or one per line.
- Arize Phoenix (checked on arize-phoenix 17.30's own server, sent OTLP at /v1/traces, exported the way its
  documentation shows: `Client().spans.get_spans_dataframe(project_identifier=...)`, saved as Parquet or, where
  pyarrow refuses a column that mixes types, as JSON lines of records with ISO times): a row per span, with
  `context.trace_id`, `context.span_id`, `parent_id` (hex), `name`, `start_time`, `end_time` (timestamps),
  `events` ([{name, timestamp, attributes}]) and
  the attributes as `attributes.<prefix>` columns holding the rest of the dotted key as nested
  objects ({"agent.name": ..., "input": {"messages": ...}}) and OpenInference's indexed lists as lists
  (`attributes.llm.input_messages`: [{"message.role", "message.content", "message.tool_calls": [...]}]); they
  are flattened back into the dotted keys of OTLP. Numbers may come back as floats (4.0), missing ones as NaN,
  and times in microseconds; the resource (service.name) is not exported. Phoenix also adds OpenInference
  attributes (`llm.input_messages`, `session.id`, ...) derived from GenAI ones on spans that had only those.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from builder.rejections import Rejection, RowLocation
from builder.sources.loaders import embedded_json
from builder.sources.otlp_wire import is_otlp_logs, is_otlp_request, request_logs, request_spans
from builder.sources.spans import Span, SpanFormat, event_reader, int64, span_from


def is_mlflow_trace(row) -> bool:
    return (isinstance(row, dict) and isinstance(row.get("info"), dict) and isinstance(row.get("data"), dict)
            and isinstance(row["data"].get("spans"), list))


def _mlflow_attributes(attributes, where: str) -> dict:
    if attributes is None:
        return {}
    if not isinstance(attributes, dict):
        raise Rejection("invalid_type", f"{where}.attributes is not an object")
    return {key: _mlflow_value(value, f"{where}.attributes[{key!r}]") for key, value in attributes.items()}


def _mlflow_value(value, where: str):
    """MLflow keeps each attribute as the JSON text of its value ("\\"chat\\"", "8", "[...]"), except a string
    that is JSON text itself, which it keeps as it is: an object is therefore such a string (OTLP's kvlist
    values are rare, strings holding JSON objects common: a message's content, LangGraph's metadata), kept as
    the text it was."""
    if not isinstance(value, str):
        return value
    try:
        decoded = embedded_json(value, where)
    except Rejection as rejection:
        if rejection.reason == "invalid_value":  # not JSON text: a value written as it is
            return value
        raise
    return value if isinstance(decoded, dict) else decoded


def _event_attributes(values, where: str) -> dict:
    """An event's attributes as MLflow exports them: values as they were set (not JSON text)."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise Rejection("invalid_type", f"{where}.attributes is not an object")
    return dict(values)


MLFLOW = SpanFormat(trace_id="trace_id", span_id="span_id", parent_id="parent_span_id", name="name",
                    start="start_time_unix_nano", end="end_time_unix_nano", attributes=_mlflow_attributes,
                    events=event_reader("time_unix_nano", _event_attributes, int64), time=int64)


def mlflow_spans(row, location: RowLocation) -> Iterator[Span | tuple[RowLocation, Rejection]]:
    """The spans of one exported MLflow trace, each a Span or (location, rejection) of that span alone."""
    tags = row["info"].get("tags")
    service = tags.get("service.name") if isinstance(tags, dict) else None
    resource = {"service.name": service} if isinstance(service, str) else {}
    for n, raw in enumerate(row["data"]["spans"]):
        try:
            yield span_from(raw, MLFLOW, f"data.spans[{n}]", resource, location)
        except Rejection as rejection:
            yield location, rejection


def is_phoenix_span(row) -> bool:
    return isinstance(row, dict) and "context.span_id" in row and "context.trace_id" in row


def _phoenix_attributes(row, where: str) -> dict:
    """The `attributes.<prefix>` columns of a row, flattened back into OTLP's dotted keys."""
    attributes = {}
    for column, value in row.items():
        if column.startswith("attributes."):
            _flatten(column.removeprefix("attributes."), value, attributes)
    return attributes


def _phoenix_event_attributes(values, where: str) -> dict:
    attributes = {}
    if isinstance(values, dict):
        for key, value in values.items():
            _flatten(key, value, attributes)
    return attributes


# A Phoenix row is the span itself: its attribute columns are read from the whole row (attributes_key None
# hands span_from the row).
PHOENIX = SpanFormat(trace_id="context.trace_id", span_id="context.span_id", parent_id="parent_id", name="name",
                     start="start_time", end="end_time", attributes=_phoenix_attributes,
                     events=event_reader("timestamp", _phoenix_event_attributes,
                                         lambda value, where: _nanoseconds(value, where)),  # defined below
                     time=lambda value, where: _nanoseconds(value, where),
                     attributes_key=None)


def phoenix_span(row, location: RowLocation) -> Span:
    """One row of a Phoenix spans dataframe as a Span."""
    if not (isinstance(row.get("parent_id"), str) and row.get("parent_id")):
        row = {**row, "parent_id": None}  # a root span: None, or NaN once pandas wrote the column
    events = row.get("events")
    if events is not None and not isinstance(events, list):  # an array once read from Parquet
        row = {**row, "events": list(events) if hasattr(events, "__len__") else None}
    return span_from(row, PHOENIX, "span", {}, location)


def _flatten(key: str, value, into: dict) -> None:
    """Phoenix's nested attribute values back into OTLP's dotted keys: objects by their keys, lists of objects
    by index (OpenInference's llm.input_messages.N...); lists of plain values stay lists; absent values (None,
    NaN) are left out, and whole floats are the integers they were sent as."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return
    if isinstance(value, dict):
        for inner, item in value.items():
            _flatten(f"{key}.{inner}", item, into)
    elif isinstance(value, list) and any(isinstance(item, dict) for item in value):
        for index, item in enumerate(value):
            _flatten(f"{key}.{index}", item, into)
    elif isinstance(value, float) and value.is_integer():
        into[key] = int(value)
    else:
        into[key] = value


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _nanoseconds(value, where: str) -> int:
    """A timestamp (pandas' Timestamp, a datetime, ISO text or nanoseconds) as nanoseconds since the epoch."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0
    if isinstance(getattr(value, "value", None), int) and hasattr(value, "tz_localize"):  # pandas.Timestamp
        return value.value
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise Rejection("invalid_value", f"{where} {value[:40]!r} is not a time") from None
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return (aware - EPOCH) // timedelta(microseconds=1) * 1000
    return int64(value, where)


def trace_spans(row, location: RowLocation) -> Iterator | None:
    """What a row holds of traces: Spans, SpanLogs (log records that name a span) and (location, rejection)s, as an
    OTLP trace or logs request or a trace store's export of a trace; None where it holds none."""
    if is_otlp_request(row):
        return request_spans(row, location)
    if is_otlp_logs(row):
        return request_logs(row, location)
    if is_mlflow_trace(row):
        return mlflow_spans(row, location)
    if is_phoenix_span(row):
        return _one_span(row, location)
    return None


def _one_span(row, location: RowLocation) -> Iterator[Span | tuple[RowLocation, Rejection]]:
    try:
        yield phoenix_span(row, location)
    except Rejection as rejection:
        yield location, rejection
