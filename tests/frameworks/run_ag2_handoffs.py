"""AG2 (0.14) group orchestration with handoffs, its documented multi-agent pattern: a planner and a critic in a
`DefaultPattern` group chat, each handing off to the other through an LLM condition (AG2 turns each into a tool
named `transfer_to_<agent>_<n>`), so that one reply holds the agent's text and the handoff's tool call. Run
against the local scripted server at argv[1], its spans captured by the OpenTelemetry SDK through AG2's own
instrumentation (GenAI conventions, message content captured) and written as OTLP JSON lines to argv[2]."""

import sys
from pathlib import Path

from autogen import ConversableAgent, LLMConfig
from autogen.agentchat import initiate_group_chat
from autogen.agentchat.group import AgentTarget, OnCondition, StringLLMCondition
from autogen.agentchat.group.patterns import DefaultPattern
from autogen.opentelemetry import instrument_agent, instrument_llm_wrapper
from autogen.opentelemetry.instrumentators.pattern import instrument_pattern

sys.path.insert(0, str(Path(__file__).parent))
from otlp_file import capturing_provider, write_otlp_jsonl  # noqa: E402

base_url, out = sys.argv[1], Path(sys.argv[2])
provider, exporter = capturing_provider("ag2-handoffs")
instrument_llm_wrapper(tracer_provider=provider, capture_messages=True)
config = LLMConfig({"model": "scripted-model", "base_url": base_url, "api_key": "test", "api_type": "openai"},
                   cache_seed=None)
planner = ConversableAgent("planner", system_message="You plan the trip within the budget.", llm_config=config)
critic = ConversableAgent("critic", system_message="You check the plan against the budget.", llm_config=config)
planner.handoffs.add_llm_conditions([OnCondition(target=AgentTarget(critic),
                                                 condition=StringLLMCondition(prompt="The plan is ready for review."))])
critic.handoffs.add_llm_conditions([OnCondition(target=AgentTarget(planner),
                                                condition=StringLLMCondition(prompt="The plan must be revised."))])
user = ConversableAgent("user", human_input_mode="NEVER", llm_config=False)
pattern = DefaultPattern(initial_agent=planner, agents=[planner, critic], user_agent=user,
                         group_manager_args={"llm_config": config})
for member in (planner, critic, user):
    instrument_agent(member, tracer_provider=provider)
instrument_pattern(pattern, tracer_provider=provider)
initiate_group_chat(pattern=pattern, messages="Plan a day in Paris for 100 euros.", max_rounds=8)
write_otlp_jsonl(exporter.get_finished_spans(), out)
