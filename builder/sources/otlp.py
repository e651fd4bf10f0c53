"""Agent traces as agent-team episodes: a conversation's spans (builder/sources/span_store.py), each LLM call read
once into a CallRecord (builder/sources/llm_calls.py), become one episode, and what was read is checked to be in it.

The layers: the span model and its table of export formats (spans.py); OTLP/JSON on the wire, traces and logs
(otlp_wire.py); MLflow and Phoenix exports (trace_exports.py); gathering into conversations (span_store.py); the
vocabularies and the agents (llm_calls.py); and here the episode.

One episode per conversation: its turns are the LLM calls in time order, each one response of the calling agent
(kind message, or tool_call where the model only called tools; a reply holding text and tool calls keeps both, the
text first), and the tools' results (kind tool_result) attributed to the agent that called them, when the tool
ended. The addressee of a call is the agent it handed off to (a "handoff to X" span, a `transfer_to_<agent>` tool
call) or started (a delegate's agent span nested under it). What each agent was sent is the call's recorded input
messages: the token stage counts them whole (basis recorded_messages). The provider's usage per call is kept
beside tiktoken's counts (provider_input_tokens / provider_output_tokens); only LLM spans' usage is read, never an
agent's or a run's totals, which some instrumentors add up on parent spans. A call whose span records no message
content still gives its tokens from the provider's usage: its text is empty and the episode's basis is
provider_usage.

Conservation: every LLM span read becomes exactly one response, and every output text and tool call any of its
vocabularies records is in that response (`TraceReading`, carried with the episode to the family's tally and the
report; builder/validate.py checks the report against the written data). A text the episode does not hold is a
counted `unread_content` rejection naming its span; the episode is kept.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from builder.episode import agent, check_text, empty_metadata, episode, optional_text, response, turn
from builder.rejections import Rejection, RowLocation
from builder.sources.llm_calls import (
    Agents,
    CallRecord,
    handoff_target,
    handoff_tool_target,
    read_call,
    tool_result,
)
from builder.sources.span_store import Conversation
from builder.sources.spans import JoinKind, Span
from builder.token_bases import PROVIDER_USAGE, RECORDED_MESSAGES

MAX_SPANS = 100_000  # in one conversation: far beyond any real run; bounds what one trace may claim
TRACE_TASK_PREFIX = "agent_trace:"
TRACE_READING = "trace_reading"  # the episode's key for its TraceReading (a dict): read by the tally, never written


@dataclass
class TraceReading:
    """What one trace episode was read from, and how much of it the episode holds."""

    join: str  # a JoinKind value
    llm_spans: int = 0
    responses: int = 0  # responses written from LLM spans
    texts_recorded: int = 0  # output texts and tool calls the LLM spans record, in any vocabulary
    texts_kept: int = 0  # of those, the ones the episode's responses hold
    provider_input_tokens: int = 0  # summed over the LLM spans that report usage
    provider_output_tokens: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def join_of(episode: dict) -> JoinKind | None:
    """How a trace episode's spans were gathered; None for an episode not read from traces."""
    reading = episode.get(TRACE_READING)
    return JoinKind(reading["join"]) if reading else None


@dataclass
class Step:
    start: int
    kind: str
    agent: str
    content: str
    span: Span
    addressee: str | None = None
    sent: list[dict] | None = None
    usage: tuple[int | None, int | None] = (None, None)
    model: str | None = None
    calls: tuple[str, ...] = ()


def conversation_to_episode(conversation: Conversation, source: str, max_text_chars: int) -> dict:
    """The conversation's episode, its TraceReading under TRACE_READING; a Rejection where it cannot be one."""
    return read_conversation(conversation, source, max_text_chars)[0]


def read_conversation(conversation: Conversation, source: str, max_text_chars: int
                      ) -> tuple[dict, list[tuple[RowLocation, Rejection]]]:
    """(the episode, an unread_content rejection for each text of its spans that the episode does not hold)."""
    check_text(conversation.key, max_text_chars, "conversation id")
    spans = conversation.spans
    if len(spans) > MAX_SPANS:
        raise Rejection("invalid_value", f"{len(spans)} spans in one conversation, more than {MAX_SPANS}")
    by_id = {s.span_id: s for s in spans}
    agents = Agents(by_id, max_text_chars)
    calls = sorted((s for s in spans if s.kind == "llm"), key=lambda s: (s.start, s.span_id))
    if not calls:
        raise Rejection("empty_conversation", "no LLM call span in the conversation")
    reading = TraceReading(conversation.join.value, llm_spans=len(calls))
    losses = []
    steps = []
    records = [read_call(call, max_text_chars) for call in calls]
    _text_from_later_history(records)
    for call, record in zip(calls, records):
        content = record.content
        steps.append(Step(call.start, "tool_call" if record.only_tools else "message",
                          _agent_of(call, agents), content, call, sent=record.sent, usage=record.usage,
                          model=record.model, calls=tuple(record.calls)))
        reading.texts_recorded += len(record.outputs)
        missing = [text for text in record.outputs if text not in content]
        reading.texts_kept += len(record.outputs) - len(missing)
        losses += [(call.location, Rejection("unread_content", f"span {call.span_id} ({call.name}) records a text "
                                             f"its response does not hold: {text[:80]!r}")) for text in missing]
        reading.provider_input_tokens += record.usage[0] or 0
        reading.provider_output_tokens += record.usage[1] or 0
    reading.responses = len(steps)
    steps += _tool_steps(spans, agents, steps, max_text_chars)
    steps.sort(key=lambda s: (s.start, s.span.span_id))
    agent_ids = list(dict.fromkeys(s.agent for s in steps))
    _address_handoff_tools(steps, set(agent_ids))
    if len(agent_ids) < 2:
        raise Rejection("too_few_agents", f"{len(agent_ids)} agent(s) in the conversation")
    return _episode(conversation, steps, agent_ids, source, max_text_chars) | {TRACE_READING: reading.to_dict()}, losses


def _text_from_later_history(records: list[CallRecord]) -> None:
    """The text of a reply whose span records only its tool calls, taken from the history a later call of the
    conversation was sent: where that call's messages (after the system's) begin with this call's own and go on,
    the next one is this reply, as the framework kept it (AG2 0.14 writes a reply's tool calls to
    gen_ai.output.messages and drops its text, which the next agent is still sent)."""
    for index, record in enumerate(records):
        if record.text or not record.calls or record.sent is None:
            continue
        mine = _history(record.sent)
        for later in records[index + 1:]:
            theirs = _history(later.sent or [])
            if len(theirs) > len(mine) and theirs[:len(mine)] == mine:
                reply = theirs[len(mine)]
                if reply["role"] == "assistant" and reply["content"] and set(reply["calls"]) <= set(record.calls):
                    record.text = reply["content"]
                    record.outputs.append(reply["content"])
                break


def _history(sent: list[dict]) -> list[dict]:
    return [m for m in sent if m["role"] != "system"]


def _tool_steps(spans: list[Span], agents: Agents, steps: list[Step], max_text_chars: int) -> list[Step]:
    """The tools' results, and the addressees that handoffs and delegations give the calls before them."""
    found = []
    for tool in sorted((s for s in spans if s.kind == "tool"), key=lambda s: (s.start, s.span_id)):
        caller = _agent_of(tool, agents)
        target = handoff_target(tool, max_text_chars)
        if target is not None:  # the Agents SDK's handoff: the addressee of the call that asked for it
            asked = [s for s in steps if s.agent == caller and s.start <= tool.start]
            if asked:
                asked[-1].addressee = target
            continue
        result = tool_result(tool, max_text_chars)
        # a tool's result exists when the tool ends (a delegate agent's calls run inside it)
        found.append(Step(max(tool.start, tool.end), "tool_result", caller, "" if result is None else result, tool))
    for start, outer, inner in _delegations(spans, agents):
        asked = [s for s in steps if s.agent == outer and s.start <= start]
        if asked and asked[-1].addressee is None:  # the call whose answer started the delegate's run
            asked[-1].addressee = inner
    return found


def _address_handoff_tools(steps: list[Step], agents: set[str]) -> None:
    """A call that hands off with a handoff tool (handoff_tool_target) addresses that agent."""
    for step in steps:
        if step.addressee is None:
            step.addressee = next((t for c in step.calls if (t := handoff_tool_target(c, agents - {step.agent}))), None)


def _episode(conversation: Conversation, steps: list[Step], agent_ids: list[str], source: str,
             max_text_chars: int) -> dict:
    models = {}
    for step in steps:
        if step.model:
            models.setdefault(step.agent, step.model)
    recorded = all(s.sent is not None for s in steps if s.kind != "tool_result")
    question = _first_user_message(steps[0].sent) if steps[0].sent else None
    turns = []
    for index, step in enumerate(steps):
        reply = response(step.agent, step.content, kind=step.kind, addressee=step.addressee)
        reply["provider_input_tokens"], reply["provider_output_tokens"] = step.usage
        reply["sent"] = step.sent  # what the agent was sent: counted by the token stage, not stored
        turns.append(turn(index, question if index == 0 else None, [reply]))
    first = conversation.spans[0]
    service = optional_text(first.resource.get("service.name"), max_text_chars, "service.name")
    return episode(
        episode_id=f"trace:{conversation.key}",
        source=source,
        topology="recorded" if recorded else "full_mesh",
        task=f"{TRACE_TASK_PREFIX}{service or 'unknown_service'}",
        agents=[agent(a, models.get(a, "unknown")) for a in agent_ids],
        turns=turns,
        winner=None,
        outcome={"ground_truth": None, "final_answer": next((s.content for s in reversed(steps)
                                                             if s.kind == "message"), None),
                 "final_correct": None, "correct_by": None, "decision_success": None, "final_consensus": None,
                 "best_judge_score": None},
        metadata=empty_metadata(conversation.question_id),
        memory="full_history",
        input_tokens_basis=(RECORDED_MESSAGES if recorded else PROVIDER_USAGE).name,
    )


def _agent_of(span: Span, agents: Agents) -> str:
    """The agent a span belongs to: its own agent name, else its nearest agent ancestor's (an LLM call nested in
    a smolagents managed agent is that agent's, not the manager's)."""
    return agents.nearest(span) or "unnamed agent"


def _delegations(spans: list[Span], agents: Agents) -> list[tuple[int, str, str]]:
    """(start, delegating agent, delegate) for each agent span nested in another agent's span (a manager that runs
    a managed agent, smolagents; an agent that calls another as a tool) and each delegation tool span (CrewAI)."""
    found = []
    for span in spans:
        inner = (agents.named(span) if span.kind == "agent" else None) or agents.delegate(span)
        parent = agents.by_id.get(span.parent_id) if inner and span.parent_id else None
        outer = agents.nearest(parent) if parent is not None else None
        if outer is not None and outer != inner:
            found.append((span.start, outer, inner))
    return sorted(found)


def _first_user_message(sent: list[dict]) -> str | None:
    return next((m["content"] for m in sent if m["role"] == "user" and m["content"]), None)
