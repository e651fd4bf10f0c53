"""Spans (and log records) captured with the OpenTelemetry SDK, written as the OpenTelemetry Collector's file
exporter writes them: one ExportTraceServiceRequest (ExportLogsServiceRequest) per line, made by the official OTLP
encoders (`encode_spans`, `encode_logs`) and protobuf's JSON mapping with integer enums, the ids rewritten from the
mapping's base64 to OTLP/JSON's lowercase hex. Logs go to a file of their own beside the traces, as a collector's
logs pipeline writes them."""

from __future__ import annotations

import base64
import json
from pathlib import Path


def capturing_provider(service_name: str):
    """(tracer provider, in-memory exporter): a run's spans are kept as they finish, under its service name."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def capturing_logs(service_name: str):
    """(logger provider, in-memory exporter): a run's log records (GenAI events) are kept as they are emitted."""
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    return provider, exporter


def write_otlp_jsonl(spans, path: Path, per_request: int = 4) -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    _write(spans, path, per_request, encode_spans, "resourceSpans", "scopeSpans", "spans")


def write_otlp_logs_jsonl(records, path: Path, per_request: int = 4) -> None:
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs

    _write(records, path, per_request, encode_logs, "resourceLogs", "scopeLogs", "logRecords")


def _write(items, path: Path, per_request: int, encode, resources: str, scopes: str, records: str) -> None:
    from google.protobuf.json_format import MessageToDict

    lines = []
    for start in range(0, len(items), per_request):  # several requests, as a collector's batches arrive
        request = MessageToDict(encode(items[start:start + per_request]), use_integers_for_enums=True)
        for resource in request[resources]:
            for scope in resource[scopes]:
                for item in scope[records]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if item.get(key):
                            item[key] = base64.b64decode(item[key]).hex()
        lines.append(json.dumps(request))
    Path(path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
