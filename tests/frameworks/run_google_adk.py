"""Google ADK (native OpenTelemetry): its documented multi-agent pattern, a coordinator `LlmAgent` with two
sub-agents that it transfers to with ADK's `transfer_to_agent` tool (LLM-driven delegation), against the local
scripted server at argv[1] through LiteLLM's OpenAI-compatible provider, its spans captured by the OpenTelemetry
SDK and written as OTLP JSON lines to argv[2]. This runner has an environment of its own (google-adk and litellm
want openai 3 and an opentelemetry older than the test extra's)."""

import asyncio
import os
import sys
from pathlib import Path

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # litellm reads its model list from the package, not the web
# ADK records message content only when asked: the GenAI conventions' latest form, content on the spans
os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "SPAN_ONLY"

from opentelemetry import trace  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from otlp_file import capturing_provider, write_otlp_jsonl  # noqa: E402

base_url, out = sys.argv[1], Path(sys.argv[2])
provider, exporter = capturing_provider("google-adk")
trace.set_tracer_provider(provider)  # ADK traces with the global provider

from google.adk.agents import LlmAgent  # noqa: E402
from google.adk.models.lite_llm import LiteLlm  # noqa: E402
from google.adk.runners import InMemoryRunner  # noqa: E402
from google.genai import types  # noqa: E402

model = LiteLlm(model="openai/scripted-model", api_base=base_url, api_key="test")
greeter = LlmAgent(name="greeter", model=model, instruction="You greet people.", description="Greets people.")
helper = LlmAgent(name="helper", model=model, instruction="You answer questions.", description="Answers questions.")
coordinator = LlmAgent(name="coordinator", model=model, instruction="Route each request to the right agent.",
                       sub_agents=[greeter, helper])


async def main() -> None:
    runner = InMemoryRunner(agent=coordinator, app_name="adk-test")
    session = await runner.session_service.create_session(app_name="adk-test", user_id="user")
    message = types.Content(role="user", parts=[types.Part(text="What is 2+2?")])
    async for _ in runner.run_async(user_id="user", session_id=session.id, new_message=message):
        pass


asyncio.run(main())
write_otlp_jsonl(exporter.get_finished_spans(), out)
