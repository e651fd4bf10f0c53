"""autogen-agentchat 0.7: a round-robin team of two AssistantAgents (the writer calls a tool) against the local
scripted server at argv[1], its spans captured by the OpenTelemetry SDK from the framework's own GenAI spans
(the runtime's, the agents') and opentelemetry-instrumentation-openai-v2's `chat` spans, written as OTLP JSON
lines to argv[2]. Content capture is on as 2.3b0 reads it ("true"): that release sends message content to log
events (gen_ai.system/user/assistant/tool.message, gen_ai.choice, each tied to its `chat` span), not to the
spans (its "span_only" mode needs an opentelemetry-util-genai newer than any release): the log records are
written as OTLP JSON lines beside the traces, to argv[2] with `.logs` before its suffix, unless argv[3] is
"no-logs". The runtime starts a new trace for each message it delivers: the team's run is many traces, tied only
by the team id in the agents' attributes."""

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
provider, exporter = capturing_provider("autogen-agentchat-team")
logs, log_exporter = capturing_logs("autogen-agentchat-team")
trace.set_tracer_provider(provider)
OpenAIInstrumentor().instrument(tracer_provider=provider, logger_provider=logs)

from autogen_agentchat.agents import AssistantAgent  # noqa: E402
from autogen_agentchat.conditions import MaxMessageTermination  # noqa: E402
from autogen_agentchat.teams import RoundRobinGroupChat  # noqa: E402
from autogen_ext.models.openai import OpenAIChatCompletionClient  # noqa: E402


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


async def main() -> None:
    client = OpenAIChatCompletionClient(model="scripted-model", base_url=base_url, api_key="test",
                                        model_info={"vision": False, "function_calling": True, "json_output": False,
                                                    "family": "unknown", "structured_output": False})
    writer = AssistantAgent("writer", model_client=client, tools=[add], system_message="You add numbers.")
    reviewer = AssistantAgent("reviewer", model_client=client, system_message="You check the answer.")
    team = RoundRobinGroupChat([writer, reviewer], termination_condition=MaxMessageTermination(4))
    await team.run(task="What is 2+2?")
    await client.close()

asyncio.run(main())
write_otlp_jsonl(exporter.get_finished_spans(), out)
if sys.argv[3:] != ["no-logs"]:
    write_otlp_logs_jsonl(log_exporter.get_finished_logs(), out.with_name(out.name.replace(".otlp.", ".logs.otlp.")))
