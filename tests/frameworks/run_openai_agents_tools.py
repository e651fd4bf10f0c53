"""The OpenAI Agents SDK, agents as tools (its documented orchestrator pattern): an orchestrator that calls a
translator agent through `as_tool`, against the local scripted server at argv[1] (chat completions), its spans
captured by the OpenTelemetry SDK through the OpenInference instrumentor and written as OTLP JSON lines to
argv[2]. The translator runs inside the orchestrator's tool call; nothing leaves the machine."""

import asyncio
import sys
from pathlib import Path

from openai import AsyncOpenAI
from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

from agents import Agent, Runner, set_default_openai_api, set_default_openai_client

sys.path.insert(0, str(Path(__file__).parent))
from otlp_file import capturing_provider, write_otlp_jsonl  # noqa: E402

base_url, out = sys.argv[1], Path(sys.argv[2])
provider, exporter = capturing_provider("openai-agents-as-tools")
OpenAIAgentsInstrumentor().instrument(tracer_provider=provider)

set_default_openai_client(AsyncOpenAI(base_url=base_url, api_key="test"), use_for_tracing=False)
set_default_openai_api("chat_completions")
translator = Agent(name="Spanish agent", instructions="You translate to Spanish.", model="scripted-model")
orchestrator = Agent(name="Orchestrator", instructions="Use your tools to translate.", model="scripted-model",
                     tools=[translator.as_tool(tool_name="translate_to_spanish", tool_description="To Spanish.")])
asyncio.run(Runner.run(orchestrator, "Say hello in Spanish."))
write_otlp_jsonl(exporter.get_finished_spans(), out)
