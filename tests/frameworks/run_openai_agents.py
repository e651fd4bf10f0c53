"""The OpenAI Agents SDK: a triage agent that hands off to a math agent, which calls a tool, against the local
scripted server at argv[1] (chat completions), its spans captured by the OpenTelemetry SDK through the
OpenInference instrumentor and written as OTLP JSON lines to argv[2]. The SDK's own trace export (to OpenAI)
is replaced by the instrumentor's processor alone: nothing leaves the machine."""

import asyncio
import sys
from pathlib import Path

from openai import AsyncOpenAI
from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

from agents import Agent, Runner, function_tool, set_default_openai_api, set_default_openai_client

sys.path.insert(0, str(Path(__file__).parent))
from otlp_file import capturing_provider, write_otlp_jsonl  # noqa: E402

base_url, out = sys.argv[1], Path(sys.argv[2])
provider, exporter = capturing_provider("openai-agents-handoff")
OpenAIAgentsInstrumentor().instrument(tracer_provider=provider)  # replaces the SDK's processors with its own


@function_tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


set_default_openai_client(AsyncOpenAI(base_url=base_url, api_key="test"), use_for_tracing=False)
set_default_openai_api("chat_completions")
math = Agent(name="Math agent", instructions="You add numbers with the add tool.", tools=[add], model="scripted-model")
triage = Agent(name="Triage agent", instructions="Hand arithmetic to the math agent.", handoffs=[math],
               model="scripted-model")
asyncio.run(Runner.run(triage, "What is 2+2?"))
write_otlp_jsonl(exporter.get_finished_spans(), out)
