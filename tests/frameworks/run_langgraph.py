"""LangGraph: a graph of two agent nodes, a researcher then a writer, each a chat model call (the writer sees
the researcher's answer), against the local scripted server at argv[1] (chat completions) through
langchain-openai, its spans captured by the OpenTelemetry SDK through the OpenInference LangChain instrumentor
and written as OTLP JSON lines to argv[2]."""

import sys
from pathlib import Path
from typing import Annotated, TypedDict

from openinference.instrumentation.langchain import LangChainInstrumentor

sys.path.insert(0, str(Path(__file__).parent))
from otlp_file import capturing_provider, write_otlp_jsonl  # noqa: E402

base_url, out = sys.argv[1], Path(sys.argv[2])
provider, exporter = capturing_provider("langgraph-two-nodes")
LangChainInstrumentor().instrument(tracer_provider=provider)

from langchain_core.messages import SystemMessage  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402
from langgraph.graph import END, START, StateGraph  # noqa: E402
from langgraph.graph.message import add_messages  # noqa: E402


class State(TypedDict):
    messages: Annotated[list, add_messages]


model = ChatOpenAI(model="scripted-model", base_url=base_url, api_key="test")


def researcher(state: State) -> dict:
    return {"messages": [model.invoke([SystemMessage("You find facts."), *state["messages"]])]}


def writer(state: State) -> dict:
    return {"messages": [model.invoke([SystemMessage("You write the answer."), *state["messages"]])]}


graph = StateGraph(State)
graph.add_node("researcher", researcher)
graph.add_node("writer", writer)
graph.add_edge(START, "researcher")
graph.add_edge("researcher", "writer")
graph.add_edge("writer", END)
graph.compile().invoke({"messages": [("user", "What is 2+2?")]})
write_otlp_jsonl(exporter.get_finished_spans(), out)
