"""Pydantic AI: a coordinator agent that delegates to a specialist agent through a tool (the library's
documented agent-delegation pattern), against the local scripted server at argv[1] (chat completions), its spans
captured by the OpenTelemetry SDK from Pydantic AI's own instrumentation (GenAI semantic conventions, message
content included) and written as OTLP JSON lines to argv[2]."""

import sys
from pathlib import Path

from pydantic_ai import Agent, RunContext
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

sys.path.insert(0, str(Path(__file__).parent))
from otlp_file import capturing_provider, write_otlp_jsonl  # noqa: E402

base_url, out = sys.argv[1], Path(sys.argv[2])
provider, exporter = capturing_provider("pydantic-ai-delegation")
settings = InstrumentationSettings(tracer_provider=provider, include_content=True)
model = OpenAIChatModel("scripted-model", provider=OpenAIProvider(base_url=base_url, api_key="test"))
Agent.instrument_all(settings)
specialist = Agent(model, name="specialist", instructions="You add numbers.")
coordinator = Agent(model, name="coordinator", instructions="Ask the specialist for sums.")


@coordinator.tool
async def ask_specialist(ctx: RunContext[None], question: str) -> str:
    """Ask the specialist agent."""
    result = await specialist.run(question, usage=ctx.usage)
    return result.output


coordinator.run_sync("What is 2+2?")
write_otlp_jsonl(exporter.get_finished_spans(), out)
