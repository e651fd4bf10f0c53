"""Strands Agents (native OpenTelemetry, no instrumentor): its documented multi-agent patterns against the local
scripted server at argv[1] (chat completions, streamed, as Strands' OpenAI model always asks), each in a trace of
its own, written as OTLP JSON lines to argv[2]:
- a Swarm of two agents, the researcher handing off to the writer with the swarm's `handoff_to_agent` tool;
- agents as tools: an orchestrator whose tool `math_assistant` runs an agent of its own.
Strands writes every message as span events: per message (`gen_ai.user.message`, `gen_ai.choice`, ...) by
default, or one `gen_ai.client.inference.operation.details` event with the latest experimental conventions
(argv[3] == "latest": OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental). This runner has an environment
of its own (strands-agents pins an opentelemetry the rest of the test extra does not take)."""

import os
import sys
from pathlib import Path

if sys.argv[3:] == ["latest"]:
    os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"

from opentelemetry import trace  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from otlp_file import capturing_provider, write_otlp_jsonl  # noqa: E402

base_url, out = sys.argv[1], Path(sys.argv[2])
provider, exporter = capturing_provider("strands-" + (sys.argv[3] if sys.argv[3:] else "default"))
trace.set_tracer_provider(provider)  # Strands traces with the global provider

from strands import Agent, tool  # noqa: E402
from strands.models.openai import OpenAIModel  # noqa: E402
from strands.multiagent import Swarm  # noqa: E402

model = OpenAIModel(client_args={"api_key": "test", "base_url": base_url}, model_id="scripted-model")

researcher = Agent(name="researcher", model=model, system_prompt="You find facts.", callback_handler=None)
writer = Agent(name="writer", model=model, system_prompt="You write the answer.", callback_handler=None)
Swarm([researcher, writer], max_handoffs=3, max_iterations=4)("What is 2+2?")


@tool
def math_assistant(question: str) -> str:
    """Answer a math question."""
    return str(Agent(name="math_assistant", model=model, system_prompt="You do arithmetic.",
                     callback_handler=None)(question))


Agent(name="orchestrator", model=model, tools=[math_assistant], system_prompt="You route questions.",
      callback_handler=None)("What is 3+3?")
write_otlp_jsonl(exporter.get_finished_spans(), out)
