"""Spans captured with the OpenTelemetry SDK, written as the OpenTelemetry Collector's file exporter writes them:
one ExportTraceServiceRequest per line, made by the official OTLP encoder (`encode_spans`) and protobuf's JSON
mapping with integer enums, the ids rewritten from the mapping's base64 to OTLP/JSON's lowercase hex."""

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


def write_otlp_jsonl(spans, path: Path, per_request: int = 4) -> None:
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    lines = []
    for start in range(0, len(spans), per_request):  # several requests, as a collector's batches arrive
        request = MessageToDict(encode_spans(spans[start:start + per_request]), use_integers_for_enums=True)
        for resource_spans in request["resourceSpans"]:
            for scope_spans in resource_spans["scopeSpans"]:
                for span in scope_spans["spans"]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if span.get(key):
                            span[key] = base64.b64decode(span[key]).hex()
        lines.append(json.dumps(request))
    Path(path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
