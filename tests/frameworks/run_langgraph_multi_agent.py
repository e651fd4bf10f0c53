"""LangGraph's two documented multi-agent patterns (its multi-agent tutorials, langgraph-supervisor and
langgraph-swarm), each graph run a trace of its own, against the local scripted server at argv[1] through
langchain-openai, its spans captured by the OpenTelemetry SDK through the OpenInference LangChain instrumentor and
written as OTLP JSON lines to argv[2]:
- a supervisor agent (`create_react_agent`) hands off with tools that return `Command(goto=...,
  graph=Command.PARENT)` to two worker agents, each a `create_react_agent` subgraph added as a node of the parent
  graph (the math expert calls a tool), and each worker returns to the supervisor;
- a swarm: two such subgraphs (alice adds with a tool, bob checks) hand off to each other with the same tools, no
  supervisor; a reply holds the agent's text and its tool call.
Inside a subgraph every call runs in the prebuilt agent's own inner nodes (`agent`/`model`, `tools`): only the
outermost named subgraph says whose call it was."""

import sys
from pathlib import Path
from typing import Annotated

from openinference.instrumentation.langchain import LangChainInstrumentor

sys.path.insert(0, str(Path(__file__).parent))
from otlp_file import capturing_provider, write_otlp_jsonl  # noqa: E402

base_url, out = sys.argv[1], Path(sys.argv[2])
provider, exporter = capturing_provider("langgraph-multi-agent")
LangChainInstrumentor().instrument(tracer_provider=provider)

from langchain_core.messages import ToolMessage  # noqa: E402
from langchain_core.tools import InjectedToolCallId, tool  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402
from langgraph.graph import END, START, MessagesState, StateGraph  # noqa: E402
from langgraph.prebuilt import InjectedState, create_react_agent  # noqa: E402
from langgraph.types import Command  # noqa: E402

model = ChatOpenAI(model="scripted-model", base_url=base_url, api_key="test")


def handoff_to(agent_name: str):
    """The tutorials' handoff tool: go to the agent in the parent graph, with the messages so far."""

    @tool(f"transfer_to_{agent_name}", description=f"Ask {agent_name} for help.")
    def handoff(state: Annotated[MessagesState, InjectedState],
                tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
        done = ToolMessage(content=f"Transferred to {agent_name}", name=f"transfer_to_{agent_name}",
                           tool_call_id=tool_call_id)
        return Command(goto=agent_name, graph=Command.PARENT, update={"messages": state["messages"] + [done]})

    return handoff


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


# the supervisor: it hands off to either worker, each returns to it
supervisor = create_react_agent(model, tools=[handoff_to("math_expert"), handoff_to("writer")],
                                prompt="You manage a math expert and a writer.", name="supervisor")
math_expert = create_react_agent(model, tools=[add], prompt="You do arithmetic with tools.", name="math_expert")
writer = create_react_agent(model, tools=[], prompt="You write the final answer.", name="writer")
(StateGraph(MessagesState)
 .add_node(supervisor, destinations=("math_expert", "writer", END))
 .add_node(math_expert).add_node(writer)
 .add_edge(START, "supervisor").add_edge("math_expert", "supervisor").add_edge("writer", "supervisor")
 .compile().invoke({"messages": [("user", "What is 2+2?")]}))

# the swarm: peers that hand off to each other, no supervisor
alice = create_react_agent(model, tools=[add, handoff_to("bob")], prompt="You are Alice, you add.", name="alice")
bob = create_react_agent(model, tools=[handoff_to("alice")], prompt="You are Bob, you check.", name="bob")
(StateGraph(MessagesState)
 .add_node(alice, destinations=("bob", END)).add_node(bob, destinations=("alice", END))
 .add_edge(START, "alice").compile().invoke({"messages": [("user", "What is 2+2?")]}))
write_otlp_jsonl(exporter.get_finished_spans(), out)
