"""autogen-agentchat 0.7, a Swarm team (its documented handoff pattern): a planner that hands off to a checker
with the `transfer_to_checker` tool autogen makes from its `handoffs` (autogen_teams.py), against the local scripted server at
argv[1]. Spans come from the framework's own GenAI spans and opentelemetry-instrumentation-openai-v2's `chat`
spans, message content from that instrumentor's log records (as in run_autogen_agentchat.py); the traces are
written as OTLP JSON lines to argv[2], the log records beside them (`.logs` before the suffix)."""

import asyncio
import os
import sys
from pathlib import Path

os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "true"

from opentelemetry import trace  # noqa: E402
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from otlp_file import capturing_logs, capturing_provider, write_otlp_jsonl, write_otlp_logs_jsonl  # noqa: E402

base_url, out = sys.argv[1], Path(sys.argv[2])
provider, exporter = capturing_provider("autogen-agentchat-swarm")
logs, log_exporter = capturing_logs("autogen-agentchat-swarm")
trace.set_tracer_provider(provider)
OpenAIInstrumentor().instrument(tracer_provider=provider, logger_provider=logs)

from autogen_teams import swarm  # noqa: E402

asyncio.run(swarm(base_url))
write_otlp_jsonl(exporter.get_finished_spans(), out)
write_otlp_logs_jsonl(log_exporter.get_finished_logs(), out.with_name(out.name.replace(".otlp.", ".logs.otlp.")))
