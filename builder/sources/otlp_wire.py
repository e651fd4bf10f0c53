"""OTLP/JSON on the wire: `ExportTraceServiceRequest` and `ExportLogsServiceRequest` rows, as the OpenTelemetry
Collector's file exporter writes them (one request per line, or a .json file holding one) and as SDKs' OTLP/JSON
exporters send them.

OTLP protobuf files as the Collector's file exporter writes them with `format: proto` (`.binpb`, `.pb`): each
message a 4-byte big-endian length, then a `TracesData` or `LogsData` message (the bytes of an export request),
read into the same JSON shape.

Traces: {"resourceSpans": [{"resource": {"attributes"}, "scopeSpans": [{"spans": [...]}]}]}; the layout before
OTLP 0.19 named the scopes `instrumentationLibrarySpans`, read the same way. Logs: {"resourceLogs": [{"resource",
"scopeLogs": [{"logRecords": [{timeUnixNano, eventName, attributes, body, traceId, spanId}]}]}]}: a log record that
names a span is one of that span's events (where opentelemetry-instrumentation-openai-v2 and other GenAI
instrumentors put message content); one that names no span carries nothing a conversation can place, and is
passed over. Per the OTLP/JSON mapping ids are lowercase hex, enums integers and int64 values (times, intValue)
decimal strings; ids in the protobuf JSON mapping's base64 (what `MessageToJson` writes) are read too.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from builder.rejections import Rejection, RowLocation
from builder.sources.spans import Span, SpanEvent, SpanFormat, as_list, event_reader, hex_id, int64, span_from

SCOPE_LAYOUTS = ("scopeSpans", "instrumentationLibrarySpans")  # OTLP >= 0.19, and the layout before it
PROTOBUF_SUFFIXES = (".binpb", ".pb")  # OTLP protobuf files (the file exporter's `format: proto`)
MAX_FRAME_BYTES = 1 << 30  # one message of a protobuf file: a larger length is a broken file, not a request


def is_otlp_request(row) -> bool:
    return isinstance(row, dict) and isinstance(row.get("resourceSpans"), list)


def is_otlp_logs(row) -> bool:
    return isinstance(row, dict) and isinstance(row.get("resourceLogs"), list)


def attributes_of(values, where: str) -> dict:
    """OTLP's [{key, value: {stringValue | intValue | doubleValue | boolValue | arrayValue | kvlistValue}}] as a dict."""
    result = {}
    for i, item in enumerate(as_list(values, f"{where}.attributes")):
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
            return ([any_value(v, where) for v in as_list(values, where)] if key == "arrayValue"
                    else attributes_of(values, where))
    return None


OTLP_JSON = SpanFormat(trace_id="traceId", span_id="spanId", parent_id="parentSpanId", name="name",
                       start="startTimeUnixNano", end="endTimeUnixNano", attributes=attributes_of,
                       events=event_reader("timeUnixNano", attributes_of, int64), time=int64)


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
                yield span_from(raw, OTLP_JSON, f"{where}.spans[{n}]", resource, location)
            except Rejection as rejection:
                yield location, rejection


def read_spans(rows) -> tuple[list[Span], list[tuple[RowLocation, Rejection]]]:
    """Every span of the ExportTraceServiceRequest rows, and a rejection for each request that is not one and
    for each span that cannot be read (the other spans of its request are kept)."""
    spans, rejected = [], []
    for location, row in rows:
        for found in request_spans(row, location):
            (spans if isinstance(found, Span) else rejected).append(found)
    return spans, rejected


def _resource_scopes(row) -> Iterator[tuple[dict, str, list]]:
    """(resource attributes, where, spans) of each scope of a request."""
    if not is_otlp_request(row):
        raise Rejection("malformed_row", "not an ExportTraceServiceRequest (no resourceSpans list)")
    for r, resource_spans in enumerate(row["resourceSpans"]):
        resource = _resource(resource_spans, f"resourceSpans[{r}]")
        for layout in SCOPE_LAYOUTS:
            for s, scope in enumerate(as_list(resource_spans.get(layout), f"resourceSpans[{r}].{layout}")):
                where = f"resourceSpans[{r}].{layout}[{s}]"
                if not isinstance(scope, dict):
                    raise Rejection("invalid_type", f"{where} is not an object")
                yield resource, where, as_list(scope.get("spans"), f"{where}.spans")


def _resource(holder, where: str) -> dict:
    if not isinstance(holder, dict):
        raise Rejection("invalid_type", f"{where} is not an object")
    resource_object = holder.get("resource") or {}
    if not isinstance(resource_object, dict):
        raise Rejection("invalid_type", f"{where}.resource is not an object")
    return attributes_of(resource_object.get("attributes"), f"{where}.resource")


@dataclass
class SpanLog:
    """A log record tied to a span: the span's ids and the record as an event of it."""

    trace_id: str
    span_id: str
    event: SpanEvent
    location: RowLocation


def request_logs(row, location: RowLocation) -> Iterator[SpanLog | tuple[RowLocation, Rejection]]:
    """The log records of one ExportLogsServiceRequest that name a span, each a SpanLog or (location, rejection) of
    that record alone. The event's name is the record's `eventName` (OTLP 1.5+), else its `event.name` attribute
    (the events API before it)."""
    try:
        if not is_otlp_logs(row):
            raise Rejection("malformed_row", "not an ExportLogsServiceRequest (no resourceLogs list)")
        scopes = []
        for r, resource_logs in enumerate(row["resourceLogs"]):
            _resource(resource_logs, f"resourceLogs[{r}]")
            for s, scope in enumerate(as_list(resource_logs.get("scopeLogs"), f"resourceLogs[{r}].scopeLogs")):
                where = f"resourceLogs[{r}].scopeLogs[{s}]"
                if not isinstance(scope, dict):
                    raise Rejection("invalid_type", f"{where} is not an object")
                scopes.append((where, as_list(scope.get("logRecords"), f"{where}.logRecords")))
    except Rejection as rejection:
        yield location, rejection
        return
    for where, records in scopes:
        for n, raw in enumerate(records):
            try:
                found = _log(raw, f"{where}.logRecords[{n}]", location)
            except Rejection as rejection:
                yield location, rejection
                continue
            if found is not None:
                yield found


def _log(raw, where: str, location: RowLocation) -> SpanLog | None:
    if not isinstance(raw, dict):
        raise Rejection("invalid_type", f"{where} is not an object")
    if not raw.get("spanId") or not raw.get("traceId"):
        return None
    attributes = attributes_of(raw.get("attributes"), where)
    name = raw.get("eventName") or attributes.get("event.name") or ""
    if not isinstance(name, str):
        raise Rejection("invalid_type", f"{where}.eventName is {type(name).__name__}")
    time = int64(raw.get("timeUnixNano") or raw.get("observedTimeUnixNano"), f"{where}.timeUnixNano")
    return SpanLog(hex_id(raw["traceId"], 16, f"{where}.traceId"), hex_id(raw["spanId"], 8, f"{where}.spanId"),
                   SpanEvent(name, time, attributes, any_value(raw.get("body"), f"{where}.body")), location)


def protobuf_requests(path: Path) -> Iterator[tuple[int, dict | Rejection]]:
    """(message number, request) of each length-prefixed message of an OTLP protobuf file, as the JSON mapping
    gives it (integer enums, ids in base64); a message that is neither traces nor logs is a rejection of its own,
    and a file broken at a message (a length past its end) one `corrupt_file` rejection for the rest of it."""
    from google.protobuf.json_format import MessageToDict
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.logs.v1.logs_pb2 import LogsData
    from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

    with open(path, "rb") as stream:
        number = 0
        while head := stream.read(4):
            number += 1
            size = struct.unpack(">I", head)[0] if len(head) == 4 else None
            body = stream.read(size) if size is not None and size <= MAX_FRAME_BYTES else b""
            if size is None or len(body) != size:
                yield number, Rejection("corrupt_file", f"message {number}: its length runs past the end of the file")
                return
            found = _protobuf_request(body, TracesData, LogsData, DecodeError)
            yield number, (MessageToDict(found, use_integers_for_enums=True) if found is not None else
                           Rejection("malformed_row", f"message {number} is neither OTLP TracesData nor LogsData"))


def _protobuf_request(body: bytes, traces_data, logs_data, decode_error):
    """The message as TracesData or LogsData, or None. Both put their resources in field 1, so bytes of one may
    parse as the other: traces are taken where every span has OTLP's 16-byte trace id and 8-byte span id (a log
    record's first field is a fixed64 time, never a span's id), else logs where some record is found."""
    try:
        traces = traces_data.FromString(body)
    except decode_error:
        traces = None
    spans = [span for resource in traces.resource_spans for scope in resource.scope_spans for span in scope.spans] \
        if traces is not None else []
    if spans and all(len(span.trace_id) == 16 and len(span.span_id) == 8 for span in spans):
        return traces
    try:
        logs = logs_data.FromString(body)
    except decode_error:
        return traces
    if any(scope.log_records for resource in logs.resource_logs for scope in resource.scope_logs):
        return logs
    return traces
