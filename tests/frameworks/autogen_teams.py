"""What the autogen-agentchat runners share: the scripted server's model client and the teams of its documented
patterns, each run once to its end."""

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination
from autogen_agentchat.teams import RoundRobinGroupChat, Swarm
from autogen_ext.models.openai import OpenAIChatCompletionClient


def client(base_url: str) -> OpenAIChatCompletionClient:
    return OpenAIChatCompletionClient(model="scripted-model", base_url=base_url, api_key="test",
                                      model_info={"vision": False, "function_calling": True, "json_output": False,
                                                  "family": "unknown", "structured_output": False})


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


async def round_robin(base_url: str) -> None:
    """A round-robin team of two AssistantAgents: the writer calls a tool, the reviewer checks; four messages."""
    model = client(base_url)
    writer = AssistantAgent("writer", model_client=model, tools=[add], system_message="You add numbers.")
    reviewer = AssistantAgent("reviewer", model_client=model, system_message="You check the answer.")
    await RoundRobinGroupChat([writer, reviewer], termination_condition=MaxMessageTermination(4)).run(
        task="What is 2+2?")
    await model.close()


async def swarm(base_url: str) -> None:
    """A Swarm: the planner hands off to the checker with the `transfer_to_checker` tool made from its handoffs."""
    model = client(base_url)
    planner = AssistantAgent("planner", model_client=model, handoffs=["checker"], system_message="You plan.")
    checker = AssistantAgent("checker", model_client=model, system_message="You check the plan.")
    await Swarm([planner, checker], termination_condition=MaxMessageTermination(4)).run(task="Plan a picnic.")
    await model.close()
