"""Microsoft Agent Framework (native OpenTelemetry, GenAI conventions, sensitive data on): its documented
orchestrations against the local scripted server at argv[1] (chat completions), each a workflow run of its own,
written as OTLP JSON lines to argv[2]:
- a handoff workflow (`HandoffBuilder`): a triage agent hands off to a math agent with the handoff tool the builder
  gives it, autonomous, ended after the math agent's answer;
- a group chat (`GroupChatBuilder`) of a writer and a reviewer, speakers chosen round robin, two rounds.
This runner has an environment of its own (agent-framework-openai wants openai 3, which the OpenAI Agents SDK of
the test extra refuses)."""

import asyncio
import sys
from pathlib import Path

from opentelemetry import trace

sys.path.insert(0, str(Path(__file__).parent))
from otlp_file import capturing_provider, write_otlp_jsonl  # noqa: E402

base_url, out = sys.argv[1], Path(sys.argv[2])
provider, exporter = capturing_provider("agent-framework")
trace.set_tracer_provider(provider)  # the framework traces with the global provider

from agent_framework import Agent  # noqa: E402
from agent_framework.observability import enable_instrumentation  # noqa: E402
from agent_framework.openai import OpenAIChatCompletionClient  # noqa: E402
from agent_framework.orchestrations import GroupChatBuilder, HandoffBuilder  # noqa: E402

enable_instrumentation(enable_sensitive_data=True)
client = OpenAIChatCompletionClient(model="scripted-model", base_url=base_url, api_key="test")


async def main() -> None:
    triage = Agent(client=client, name="triage", instructions="Route math questions to the math agent.",
                   require_per_service_call_history_persistence=True)
    math = Agent(client=client, name="math", instructions="You answer math questions.",
                 require_per_service_call_history_persistence=True)
    handoff = (HandoffBuilder(participants=[triage, math], termination_condition=lambda messages: any(
        m.author_name == "math" and m.text for m in messages)).with_start_agent(triage).with_autonomous_mode().build())
    await handoff.run("What is 2+2?")
    writer = Agent(client=client, name="writer", instructions="You write a slogan.")
    reviewer = Agent(client=client, name="reviewer", instructions="You review the slogan.")
    group = GroupChatBuilder(participants=[writer, reviewer], max_rounds=2,
                             selection_func=lambda state: ["writer", "reviewer"][state.current_round % 2]).build()
    await group.run("A slogan for a bakery.")


asyncio.run(main())
write_otlp_jsonl(exporter.get_finished_spans(), out)
