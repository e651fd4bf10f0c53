"""autogen-agentchat 0.7: a team of its documented patterns (autogen_teams.py), argv[3] or else round_robin: a
round-robin team of two AssistantAgents (the writer calls a tool), or a Swarm (the planner hands off to the checker
with the `transfer_to_checker` tool made from its handoffs), against the local scripted server at argv[1], its spans captured by the OpenTelemetry SDK from the framework's own
GenAI spans (the runtime's, the agents') and opentelemetry-instrumentation-openai-v2's `chat` spans, written as
OTLP JSON lines to argv[2]. Content capture is on as 2.3b0 reads it ("true"): that release sends message content
to log events (gen_ai.system/user/assistant/tool.message, gen_ai.choice, each tied to its `chat` span), not to the
spans (its "span_only" mode needs an opentelemetry-util-genai newer than any release): the log records are
written as OTLP JSON lines beside the traces, to argv[2] with `.logs` before its suffix. The runtime starts a new
trace for each message it delivers: the team's run is many traces, tied only by the team id in the agents'
attributes."""

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
pattern = sys.argv[3] if sys.argv[3:] else "round_robin"
provider, exporter = capturing_provider(f"autogen-agentchat-{pattern}")
logs, log_exporter = capturing_logs(f"autogen-agentchat-{pattern}")
trace.set_tracer_provider(provider)
OpenAIInstrumentor().instrument(tracer_provider=provider, logger_provider=logs)

import autogen_teams  # noqa: E402

asyncio.run(getattr(autogen_teams, pattern)(base_url))
write_otlp_jsonl(exporter.get_finished_spans(), out)
write_otlp_logs_jsonl(log_exporter.get_finished_logs(), out.with_name(out.name.replace(".otlp.", ".logs.otlp.")))
