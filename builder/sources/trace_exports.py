"""Spans as trace stores export them, read into the same Span objects as OTLP files (builder.sources.otlp), so a
run exported from a store gives the episode its OTLP file gives.

- MLflow tracing (checked on mlflow 3.17's own server, which ingests OTLP at /v1/traces, exported the way its
  documentation shows: `mlflow.search_traces(..., return_type="list")`, then `Trace.to_json()` per trace): one
  trace is {"info": {trace_id, tags: {"service.name", ...}, ...}, "data": {"spans": [{trace_id, span_id,
  parent_span_id, name, start_time_unix_nano, end_time_unix_nano, attributes: {key: the value as JSON text}}]}};
  ids are the protobuf JSON mapping's base64. A file holds one trace (.json), an array of them, or one per line.
- Arize Phoenix (checked on arize-phoenix 17.30's own server, sent OTLP at /v1/traces, exported the way its
  documentation shows: `Client().spans.get_spans_dataframe(project_identifier=...)`, saved as Parquet or, where
  pyarrow refuses a column that mixes types, as JSON lines of records with ISO times): a row per span, with
  `context.trace_id`, `context.span_id`, `parent_id` (hex), `name`, `start_time`, `end_time` (timestamps) and
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
from builder.sources.otlp import Span, hex_id, int64, is_otlp_request, request_spans


def is_mlflow_trace(row) -> bool:
    return (isinstance(row, dict) and isinstance(row.get("info"), dict) and isinstance(row.get("data"), dict)
            and isinstance(row["data"].get("spans"), list))


def mlflow_spans(row, location: RowLocation) -> Iterator[Span | tuple[RowLocation, Rejection]]:
    """The spans of one exported MLflow trace, each a Span or (location, rejection) of that span alone."""
    tags = row["info"].get("tags")
    service = tags.get("service.name") if isinstance(tags, dict) else None
    resource = {"service.name": service} if isinstance(service, str) else {}
    for n, raw in enumerate(row["data"]["spans"]):
        try:
            yield _mlflow_span(raw, f"data.spans[{n}]", resource, location)
        except Rejection as rejection:
            yield location, rejection


def _mlflow_span(raw, where: str, resource: dict, location: RowLocation) -> Span:
    if not isinstance(raw, dict):
        raise Rejection("invalid_type", f"{where} is not an object")
    name = raw.get("name", "")
    attributes = raw.get("attributes") or {}
    if not isinstance(name, str):
        raise Rejection("invalid_type", f"{where}.name is {type(name).__name__}")
    if not isinstance(attributes, dict):
        raise Rejection("invalid_type", f"{where}.attributes is not an object")
    parent = raw.get("parent_span_id") or None
    return Span(trace_id=hex_id(raw.get("trace_id"), 16, f"{where}.trace_id"),
                span_id=hex_id(raw.get("span_id"), 8, f"{where}.span_id"),
                parent_id=None if parent is None else hex_id(parent, 8, f"{where}.parent_span_id"),
                name=name, start=int64(raw.get("start_time_unix_nano", 0), f"{where}.start_time_unix_nano"),
                attributes={key: _mlflow_value(value, f"{where}.attributes[{key!r}]")
                            for key, value in attributes.items()},
                resource=resource, location=location,
                end=int64(raw.get("end_time_unix_nano") or 0, f"{where}.end_time_unix_nano"))


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


def is_phoenix_span(row) -> bool:
    return isinstance(row, dict) and "context.span_id" in row and "context.trace_id" in row


def phoenix_span(row, location: RowLocation) -> Span:
    """One row of a Phoenix spans dataframe as a Span."""
    name = row.get("name") or ""
    if not isinstance(name, str):
        raise Rejection("invalid_type", f"name is {type(name).__name__}")
    attributes = {}
    for column, value in row.items():
        if column.startswith("attributes."):
            _flatten(column.removeprefix("attributes."), value, attributes)
    parent = row.get("parent_id")
    return Span(trace_id=hex_id(row.get("context.trace_id"), 16, "context.trace_id"),
                span_id=hex_id(row.get("context.span_id"), 8, "context.span_id"),
                parent_id=hex_id(parent, 8, "parent_id") if isinstance(parent, str) and parent else None,
                name=name, start=_nanoseconds(row.get("start_time"), "start_time"), attributes=attributes,
                resource={}, location=location, end=_nanoseconds(row.get("end_time"), "end_time"))


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
    if value is None:
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


def trace_spans(row, location: RowLocation) -> Iterator[Span | tuple[RowLocation, Rejection]] | None:
    """The spans a row holds, as an OTLP request or a trace store's export; None where it holds none."""
    if is_otlp_request(row):
        return request_spans(row, location)
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
