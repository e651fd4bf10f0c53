"""autogen-agentchat 0.7's round-robin team (the writer calls a tool, as in run_autogen_agentchat.py), its LLM calls
traced by OpenLLMetry (Traceloop's opentelemetry-instrumentation-openai), which records messages in its own
attributes (`gen_ai.prompt.N.role` / `.content`, `gen_ai.completion.N.content` / `.tool_calls.M.name` /
`.arguments`), beside the framework's own GenAI spans that name the agents; against the local scripted server at
argv[1], written as OTLP JSON lines to argv[2]. This runner has an environment of its own (Traceloop's package has
the same module path as the test extra's opentelemetry-instrumentation-openai-v2 has not, but wants openai 3)."""

import asyncio
import sys
from pathlib import Path

from opentelemetry import trace
from opentelemetry.instrumentation.openai import OpenAIInstrumentor

sys.path.insert(0, str(Path(__file__).parent))
from otlp_file import capturing_provider, write_otlp_jsonl  # noqa: E402

base_url, out = sys.argv[1], Path(sys.argv[2])
provider, exporter = capturing_provider("autogen-openllmetry")
trace.set_tracer_provider(provider)
OpenAIInstrumentor().instrument(tracer_provider=provider)

from autogen_teams import round_robin  # noqa: E402

asyncio.run(round_robin(base_url))
write_otlp_jsonl(exporter.get_finished_spans(), out)
