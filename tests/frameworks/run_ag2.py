"""An AG2 (0.14, classic autogen API) group chat of three agents, round robin, against the local scripted server
at argv[1], its spans captured by the OpenTelemetry SDK through AG2's own instrumentation (GenAI semantic
conventions, message content captured) and written as OTLP JSON lines to argv[2]."""

import sys
from pathlib import Path


from autogen import ConversableAgent, GroupChat, GroupChatManager
from autogen.opentelemetry import instrument_agent, instrument_llm_wrapper
from autogen.opentelemetry.instrumentators.pattern import instrument_groupchat

sys.path.insert(0, str(Path(__file__).parent))
from otlp_file import capturing_provider, write_otlp_jsonl  # noqa: E402

base_url, out = sys.argv[1], Path(sys.argv[2])
provider, exporter = capturing_provider("ag2-groupchat")
instrument_llm_wrapper(tracer_provider=provider, capture_messages=True)
config = {"config_list": [{"model": "scripted-model", "base_url": base_url, "api_key": "test"}], "cache_seed": None}
agents = [ConversableAgent(name, system_message=prompt, llm_config=config, human_input_mode="NEVER")
          for name, prompt in (("Planner", "You plan the work."), ("Solver", "You solve it."),
                               ("Checker", "You check the answer."))]
user = ConversableAgent("User", llm_config=False, human_input_mode="NEVER")
chat = GroupChat(agents=[user, *agents], messages=[], max_round=4, speaker_selection_method="round_robin")
manager = GroupChatManager(groupchat=chat, llm_config=config)
for member in (user, *agents, manager):
    instrument_agent(member, tracer_provider=provider)
instrument_groupchat(chat, tracer_provider=provider)
user.initiate_chat(manager, message="What is 2+2?", silent=True)
write_otlp_jsonl(exporter.get_finished_spans(), out)
