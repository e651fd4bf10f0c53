"""What an LLM call's span says, read once whatever vocabulary wrote it, and whose call it was.

One `CallRecord` per LLM span: the messages it sent, the text it wrote and its tool calls, the provider's usage
and the model. Content is read wherever the conventions put it (SPAN_VOCABULARIES then FLATTENED_VOCABULARIES, in
this order of trust):
- OTel GenAI attributes (`gen_ai.input.messages` / `gen_ai.output.messages` / `gen_ai.system_instructions`, JSON
  [{role, parts: [{type: text, content} | {type: tool_call, name, arguments} | {type: tool_call_response,
  response}]}]: AG2, Pydantic AI, the latest conventions);
- the same three in a `gen_ai.client.inference.operation.details` event (the latest experimental conventions as
  Strands Agents writes them);
- per-message events, on the span or as log records tied to it: `gen_ai.system.message`, `gen_ai.user.message`,
  `gen_ai.assistant.message`, `gen_ai.tool.message` and `gen_ai.choice`, their content in the event's body
  (opentelemetry-instrumentation-openai-v2: {content, tool_calls} / {message: {...}}) or attributes (Strands:
  `content` / `message` as JSON text of content blocks [{text} | {toolUse} | {toolResult}]);
- OpenInference (`llm.input_messages.N.message.role` / `.content` / `.contents.M.message_content.text` /
  `.tool_calls.M.tool_call.function.name` / `.arguments`, `llm.output_messages.N...`);
- OpenLLMetry / Traceloop (`gen_ai.prompt.N.role` / `.content`, `gen_ai.completion.N.content` /
  `.tool_calls.M.name` / `.arguments`).
The first vocabulary that records what was sent gives the messages sent; the first that records output gives the
reply. Every output text and tool call any vocabulary records is also listed (`outputs`), so the episode can be
checked to hold all of them (builder/sources/otlp.py's conservation check).

Agents come from lineage by one rule: the nearest span, from the call up, that names an agent by AGENT_NAMES.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from builder.episode import check_text, optional_text
from builder.rejections import Rejection
from builder.sources.loaders import embedded_json
from builder.sources.span_store import lineage
from builder.sources.spans import Span, SpanEvent, as_list

OPERATION_DETAILS = "gen_ai.client.inference.operation.details"
MESSAGE_EVENTS = {"gen_ai.system.message": "system", "gen_ai.user.message": "user",
                  "gen_ai.assistant.message": "assistant", "gen_ai.tool.message": "tool"}
CHOICE_EVENT = "gen_ai.choice"
USAGE_NAMES = (("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"),
               ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion"))
MODEL_NAMES = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
HANDOFF_PREFIX = "handoff to "  # the OpenAI Agents SDK's handoff span: "handoff to <agent>"
# Handoff tools named after their target: transfer_to_<agent> (LangGraph's supervisor and swarm, AG2, the Agents
# SDK, autogen-agentchat's Swarm), handoff_to_<agent> (Microsoft Agent Framework's HandoffBuilder)
HANDOFF_TOOL_PREFIXES = ("transfer_to_", "handoff_to_")
# Handoff tools whose target is an argument: Strands' swarm, Google ADK's transfer to a sub-agent
HANDOFF_ARGUMENT_TOOLS = {"handoff_to_agent": "agent_name", "transfer_to_agent": "agent_name"}


@dataclass
class Reading:
    """What one vocabulary found on a span: messages sent (None where it records none), reply texts, tool calls."""

    sent: list[dict] | None = None
    texts: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    @property
    def has_output(self) -> bool:
        return bool(self.texts or self.calls)


@dataclass
class CallRecord:
    """One LLM call, normalised: what it sent, wrote and cost."""

    sent: list[dict] | None
    text: str
    calls: list[str]
    usage: tuple[int | None, int | None]
    model: str | None
    finished_for_tools: bool
    outputs: list[str]  # every output text and tool call any vocabulary recorded, for the conservation check

    @property
    def content(self) -> str:
        """The reply as the episode keeps it: its text, then its tool calls (a reply may hold both)."""
        return "\n".join(part for part in (self.text, *self.calls) if part)

    @property
    def only_tools(self) -> bool:
        return not self.text and (bool(self.calls) or self.finished_for_tools)


def read_call(span: Span, max_text_chars: int) -> CallRecord:
    prefixed = _prefixed(span.attributes)
    found = [*(vocabulary(span, max_text_chars) for vocabulary in SPAN_VOCABULARIES),
             *(vocabulary(prefixed, max_text_chars) for vocabulary in FLATTENED_VOCABULARIES)]
    readings = [reading for reading in found if reading is not None]
    sent = next((r.sent for r in readings if r.sent is not None), None)
    output = next((r for r in readings if r.has_output), Reading())
    return CallRecord(sent=sent, text="\n".join(t for t in output.texts if t), calls=output.calls,
                      usage=usage_of(span.attributes), model=model_of(span.attributes, max_text_chars),
                      finished_for_tools=_finished_for_tools(span),
                      outputs=[item for r in readings for item in (*r.texts, *r.calls) if item])


# --- OTel GenAI: attributes, and the operation.details event ---------------------------------------------------

def _genai(holder: dict, max_text_chars: int) -> Reading | None:
    if not any(key in holder for key in ("gen_ai.input.messages", "gen_ai.output.messages")):
        return None
    reading = Reading()
    if "gen_ai.input.messages" in holder:
        instructions = _system_instructions(holder.get("gen_ai.system_instructions"), max_text_chars)
        reading.sent = (([{"role": "system", "content": instructions, "calls": []}] if instructions else [])
                        + _genai_messages(holder["gen_ai.input.messages"], "gen_ai.input.messages", max_text_chars))
    if "gen_ai.output.messages" in holder:
        for message in _genai_messages(holder["gen_ai.output.messages"], "gen_ai.output.messages", max_text_chars):
            reading.texts.append(message["content"])
            reading.calls += message["calls"]
    return reading


def genai_attributes(span: Span, max_text_chars: int) -> Reading | None:
    return _genai(span.attributes, max_text_chars)


def genai_operation_details(span: Span, max_text_chars: int) -> Reading | None:
    """The latest experimental conventions: input and output in `operation.details` events (one or several)."""
    merged = {}
    for event in span.events:
        if event.name == OPERATION_DETAILS:
            merged.update({k: v for k, v in _payload(event).items() if k.startswith("gen_ai.")})
    return _genai(merged, max_text_chars) if merged else None


def _system_instructions(value, max_text_chars: int) -> str | None:
    """The text of gen_ai.system_instructions ([{type: text, content}]), which the latest conventions (Pydantic
    AI) keep apart from the input messages though the provider was sent them as the system message."""
    if value is None:
        return None
    parts = json_attribute(value, "gen_ai.system_instructions")
    texts = [part.get("content") for part in (parts if isinstance(parts, list) else [])
             if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("content"), str)]
    return check_text("\n".join(texts), max_text_chars, "gen_ai.system_instructions") if texts else None


def _genai_messages(value, name: str, max_text_chars: int) -> list[dict]:
    messages = json_attribute(value, name)
    if not isinstance(messages, list):
        raise Rejection("invalid_type", f"{name} is not a list of messages")
    found = []
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise Rejection("invalid_type", f"a {name} entry has no role")
        texts, calls = [], []
        for part in as_list(message.get("parts"), f"{name} parts"):
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text":
                texts.append(optional_text(part.get("content"), max_text_chars, f"{name} text") or "")
            elif part.get("type") == "tool_call":
                calls.append(render_call(part.get("name"), part.get("arguments"), max_text_chars))
            elif part.get("type") == "tool_call_response":  # `response`; Pydantic AI writes `result`
                result = part.get("response", part.get("result", ""))  # Strands: its content blocks
                texts.append(_message_content(result, max_text_chars)[0] if _is_blocks(result)
                             else _text_of(result, max_text_chars, "tool response"))
        found.append({"role": check_text(message["role"], 100, "role"), "content": "\n".join(texts), "calls": calls})
    return found


# --- OTel GenAI per-message events (span events or log records) ----------------------------------------------

def genai_message_events(span: Span, max_text_chars: int) -> Reading | None:
    events = [e for e in span.events if e.name in MESSAGE_EVENTS or e.name == CHOICE_EVENT]
    if not events:
        return None
    reading = Reading()
    for event in sorted(events, key=lambda e: e.time):
        payload = _payload(event)
        if event.name == CHOICE_EVENT:
            message = payload.get("message")
            text, calls = _message_content(message, max_text_chars)
            reading.texts.append(text)
            reading.calls += calls
            continue
        text, calls = _message_content(payload, max_text_chars)
        reading.sent = (reading.sent or []) + [{"role": MESSAGE_EVENTS[event.name], "content": text, "calls": calls}]
    return reading


def _payload(event: SpanEvent) -> dict:
    """An event's content: a log record's body where it is an object, else the event's attributes."""
    return event.body if isinstance(event.body, dict) else event.attributes


def _message_content(value, max_text_chars: int) -> tuple[str, list[str]]:
    """(text, tool calls) of a message however an event holds it: {content, tool_calls} (OpenAI's shape), a list
    of content blocks ({text}, {toolUse}, {toolResult}: Strands; {type: text, text}), JSON text of such a list, or
    plain text."""
    if value is None:
        return "", []
    if isinstance(value, str):
        decoded = _json_or_none(value)
        if not _is_blocks(decoded):
            return check_text(value, max_text_chars, "message"), []
        value = decoded
    if isinstance(value, dict):
        text, calls = _message_content(value.get("content"), max_text_chars)
        for call in value.get("tool_calls") or []:
            function = call.get("function", call) if isinstance(call, dict) else {}
            calls.append(render_call(function.get("name"), function.get("arguments"), max_text_chars))
        return text, calls
    texts, calls = [], []
    for block in value if isinstance(value, list) else []:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            texts.append(check_text(block["text"], max_text_chars, "message text"))
        elif block.get("type") == "text" and isinstance(block.get("content"), str):
            texts.append(check_text(block["content"], max_text_chars, "message text"))
        elif isinstance(block.get("toolUse"), dict):
            calls.append(render_call(block["toolUse"].get("name"), block["toolUse"].get("input"), max_text_chars))
        elif isinstance(block.get("toolResult"), dict):
            texts.append(_message_content(block["toolResult"].get("content"), max_text_chars)[0])
    return "\n".join(texts), calls


def _is_blocks(value) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(b, dict) and ({"text", "toolUse", "toolResult", "type", "image", "document"} & b.keys())
        for b in value)


def _json_or_none(text: str):
    if not text[:1] in "[{":
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


# --- OpenInference and OpenLLMetry: indexed, flattened messages ---------------------------------------------

@dataclass(frozen=True)
class Flattened:
    """How a vocabulary flattens messages into dotted keys: PREFIX.N.<role> / <content> / <part text> and tool calls
    PREFIX.N.<calls>.M.<name> / <arguments>."""

    role: str
    content: str
    part_text: tuple[str, str] | None  # (before M, after M) of a content part's text, where parts exist
    calls: str
    call_name: str
    call_arguments: str


OPENINFERENCE = Flattened("message.role", "message.content", ("message.contents.", ".message_content.text"),
                          "message.tool_calls.", "tool_call.function.name", "tool_call.function.arguments")
TRACELOOP = Flattened("role", "content", None, "tool_calls.", "name", "arguments")


def _flattened_messages(items: list[tuple[str, object]], prefix: str, shape: Flattened, max_text_chars: int
                        ) -> list[dict] | None:
    """The PREFIX.N... attributes (`items`, each key without `prefix.`) flattened back into messages, in N's order;
    None where no message of the prefix is recorded."""
    messages: dict[int, dict] = defaultdict(lambda: {"role": None, "content": "", "calls": {}, "parts": {}})
    for tail, value in items:
        key = f"{prefix}.{tail}"
        number, _, rest = tail.partition(".")
        if not number.isdigit():
            continue
        message = messages[int(number)]
        if rest == shape.role:
            message["role"] = optional_text(value, 100, key)
        elif rest == shape.content:
            message["content"] = _text_of(value, max_text_chars, key)
        elif shape.part_text and rest.startswith(shape.part_text[0]) and rest.endswith(shape.part_text[1]):
            part = rest[len(shape.part_text[0]):].split(".")[0]  # a message of several parts (smolagents)
            if part.isdigit():
                message["parts"][int(part)] = check_text(str(value), max_text_chars, key)
        elif rest.startswith(shape.calls):
            call, _, field_name = rest[len(shape.calls):].partition(".")
            if field_name in (shape.call_name, shape.call_arguments):
                message["calls"].setdefault(call, {})["name" if field_name == shape.call_name else "arguments"] = value
    if not messages:
        return None
    return [{"role": message["role"],
             "content": message["content"] or check_text("\n".join(t for _, t in sorted(message["parts"].items())),
                                                         max_text_chars, prefix),
             "calls": [render_call(c.get("name"), c.get("arguments"), max_text_chars)
                       for _, c in sorted(message["calls"].items())]}
            for _, message in sorted(messages.items())]


def _flattened(input_prefix: str, output_prefix: str, shape: Flattened) -> Callable[[dict, int], Reading | None]:
    def read(found: dict[str, list[tuple[str, object]]], max_text_chars: int) -> Reading | None:
        if input_prefix not in found and output_prefix not in found:
            return None
        sent = _flattened_messages(found.get(input_prefix, []), input_prefix, shape, max_text_chars)
        written = _flattened_messages(found.get(output_prefix, []), output_prefix, shape, max_text_chars)
        if sent is None and written is None:
            return None
        return Reading(sent=sent, texts=[m["content"] for m in written or []],
                       calls=[c for m in written or [] for c in m["calls"]])

    return read


# (prefix of the messages sent, prefix of the reply, how a message is flattened) of each flattened vocabulary
FLATTENED = (("llm.input_messages", "llm.output_messages", OPENINFERENCE),
             ("gen_ai.prompt", "gen_ai.completion", TRACELOOP))
FLATTENED_PREFIXES = tuple(prefix for sent, written, _ in FLATTENED for prefix in (sent, written))
_STARTS = tuple(f"{prefix}." for prefix in FLATTENED_PREFIXES)


def _prefixed(attributes: dict) -> dict[str, list[tuple[str, object]]]:
    """The attributes of each flattened prefix, (key after the prefix, value), gathered in one pass for the
    flattened vocabularies."""
    found = {}
    for key, value in attributes.items():
        if key.startswith(_STARTS):
            prefix = next(p for p in FLATTENED_PREFIXES if key.startswith(p + "."))
            found.setdefault(prefix, []).append((key[len(prefix) + 1:], value))
    return found


# The vocabularies in order of trust: those read from the span, then those flattened into its attributes
SPAN_VOCABULARIES = (genai_attributes, genai_operation_details, genai_message_events)
FLATTENED_VOCABULARIES = tuple(_flattened(*vocabulary) for vocabulary in FLATTENED)


# --- usage, model, tools ---------------------------------------------------------------------------------------

def usage_of(attributes: dict) -> tuple[int | None, int | None]:
    """The provider-reported usage of one LLM call (never a parent span's totals)."""
    values = []
    for names in USAGE_NAMES:
        value = next((attributes[n] for n in names if n in attributes), None)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31):
            raise Rejection("invalid_value", f"{names[0]} is {str(value)[:20]!r}, not a token count")
        values.append(value)
    return values[0], values[1]


def model_of(attributes: dict, max_text_chars: int) -> str | None:
    value = next((attributes[n] for n in MODEL_NAMES if isinstance(attributes.get(n), str) and attributes[n]), None)
    return optional_text(value, max_text_chars, "model name")


def _finished_for_tools(span: Span) -> bool:
    reasons = span.attributes.get("gen_ai.response.finish_reasons")
    if not isinstance(reasons, list):
        reasons = [_payload(e).get("finish_reason") for e in span.events if e.name == CHOICE_EVENT]
    reasons = [r for r in reasons if r]
    return bool(reasons) and all(r in ("tool_calls", "tool_call", "tool_use") for r in reasons)


def tool_result(span: Span, max_text_chars: int) -> str | None:
    """What a tool span records it returned: OpenInference's output.value, GenAI's gen_ai.tool.call.result, or a
    tool message in its events (Strands: a `gen_ai.choice` event, or `operation.details` output); None if nothing."""
    for name in ("output.value", "gen_ai.tool.call.result"):
        if name in span.attributes:  # text, JSON text of content blocks (Strands), a LangChain ToolMessage
            value = _langchain_message_content(span.attributes[name])
            return (_message_content(value, max_text_chars)[0] if isinstance(value, str) or _is_blocks(value)
                    else _text_of(value, max_text_chars, f"{span.name} output"))
    for event in span.events:
        payload = _payload(event)
        if event.name == CHOICE_EVENT and "message" in payload:
            return _message_content(payload["message"], max_text_chars)[0]
        if event.name == OPERATION_DETAILS and "gen_ai.output.messages" in payload:
            messages = _genai_messages(payload["gen_ai.output.messages"], "gen_ai.output.messages", max_text_chars)
            return "\n".join(m["content"] for m in messages)
    return None


def _langchain_message_content(value):
    """A LangChain ToolMessage as the OpenInference LangChain instrumentor records a tool's output (its JSON dump,
    {"type": "tool", "data": {"content": ...}}) is the message's content; any other value is itself."""
    decoded = _json_or_none(value) if isinstance(value, str) else None
    if isinstance(decoded, dict) and decoded.get("type") == "tool" and isinstance(decoded.get("data"), dict) \
            and "content" in decoded["data"]:
        return decoded["data"]["content"]
    return value


def handoff_target(span: Span, max_text_chars: int) -> str | None:
    """The agent a handoff span hands to (the OpenAI Agents SDK's "handoff to X" TOOL spans)."""
    if span.name.startswith(HANDOFF_PREFIX):
        target = span.attributes.get("output.value")
        target = target if isinstance(target, str) and target else span.name[len(HANDOFF_PREFIX):]
        return check_text(target, max_text_chars, "handoff target")
    return None


def handoff_tool_target(call: str, agents: set[str]) -> str | None:
    """The agent a handoff tool call hands to, where that agent is one of the conversation's: a tool named after
    it (HANDOFF_TOOL_PREFIXES) or one that names it in an argument (HANDOFF_ARGUMENT_TOOLS)."""
    name, _, arguments = call.partition("(")
    if name in HANDOFF_ARGUMENT_TOOLS:
        decoded = _json_or_none(arguments[:-1])
        target = decoded.get(HANDOFF_ARGUMENT_TOOLS[name]) if isinstance(decoded, dict) else None
        return target if target in agents else None
    prefix = next((p for p in HANDOFF_TOOL_PREFIXES if name.startswith(p)), None)
    if prefix is not None:
        wanted = name[len(prefix):]
        # AG2 numbers its handoff tools (transfer_to_critic_1)
        return next((a for a in sorted(agents) if wanted == _tool_name(a) or (
            wanted.startswith(_tool_name(a) + "_") and wanted[len(_tool_name(a)) + 1:].isdigit())), None)
    return None


def _tool_name(agent: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in agent.lower()).strip("_")


def render_call(name, arguments, max_text_chars: int) -> str:
    if arguments is None:
        rendered = ""
    else:
        rendered = arguments if isinstance(arguments, str) else json.dumps(arguments, sort_keys=True)
    return check_text(f"{name}({rendered})", max_text_chars, "tool call")


def _text_of(value, max_text_chars: int, where: str) -> str:
    return check_text(value if isinstance(value, str) else json.dumps(value) if isinstance(value, (dict, list))
                      else str(value), max_text_chars, where)


def json_attribute(value, name: str):
    if not isinstance(value, str):
        return value
    return embedded_json(value, name)


# --- agents ----------------------------------------------------------------------------------------------------

def _langgraph_agent(span: Span) -> str | None:
    """LangGraph's outermost named subgraph: the first node of `langgraph_checkpoint_ns` ("supervisor:<id>|agent:
    <id>": a `create_react_agent` subgraph added as the node "supervisor" runs its calls in its own inner node
    "agent"), else the node the span ran in (`langgraph_node`). The OpenInference LangChain instrumentor keeps them
    in the span's `metadata` JSON; a store may have decoded it (MLflow) or flattened it (Phoenix)."""
    metadata = span.attributes.get("metadata")
    if isinstance(metadata, str) and "langgraph_" in metadata:
        metadata = embedded_json(metadata, f"{span.name} metadata")
    if not isinstance(metadata, dict):
        metadata = {key.removeprefix("metadata."): value for key, value in span.attributes.items()
                    if key.startswith("metadata.langgraph_")}
    namespace = metadata.get("langgraph_checkpoint_ns")
    if isinstance(namespace, str) and namespace:
        outer = namespace.split("|", 1)[0].split(":", 1)[0]
        if outer:
            return outer
    node = metadata.get("langgraph_node")
    return node if isinstance(node, str) else None


def _agent_span_name(span: Span) -> str | None:
    """An agent span that names its agent in no attribute: graph.node.id, else the span's own name (smolagents
    names a managed agent's span `researcher.run` and the top-level agent's by its class, `CodeAgent.run`)."""
    if span.kind != "agent":
        return None
    return span.attributes.get("graph.node.id") or span.name.removesuffix(".run")


# What names an agent on a span, in order: the first that gives a name wins.
AGENT_NAMES: tuple[tuple[str, Callable[[Span], object]], ...] = (
    ("gen_ai.agent.name", lambda span: span.attributes.get("gen_ai.agent.name")),  # GenAI, invoke_agent spans
    ("agent.name", lambda span: span.attributes.get("agent.name")),  # OpenInference
    ("langgraph subgraph or node", _langgraph_agent),
    ("agent span", _agent_span_name),
)


CREWAI_DELEGATION_TOOLS = frozenset({"Delegate work to coworker", "Ask question to coworker"})


def delegate_of(span: Span, max_text_chars: int) -> str | None:
    """The agent a delegation tool span runs, whose calls sit under it without an agent span of their own: CrewAI's
    `Delegate work to coworker` / `Ask question to coworker`, by their `coworker` argument (the worker's role)."""
    if span.kind != "tool":
        return None
    tool = span.attributes.get("tool.name") or span.name.removesuffix(".run")
    if tool not in CREWAI_DELEGATION_TOOLS:
        return None
    arguments = span.attributes.get("input.value")
    decoded = _json_or_none(arguments) if isinstance(arguments, str) else None
    coworker = decoded.get("coworker") if isinstance(decoded, dict) else None
    return optional_text(coworker, max_text_chars, f"{span.name} coworker") if isinstance(coworker, str) else None


def agent_name(span: Span, max_text_chars: int) -> str | None:
    """The name a span gives its agent by AGENT_NAMES, or None."""
    for _, rule in AGENT_NAMES:
        name = rule(span)
        if name is not None:
            name = optional_text(name, max_text_chars, f"{span.name} agent name")
            if name and name.strip():
                return name
    return None


class Agents:
    """The agents of one conversation's spans, each span's name read once (a lineage is walked for every call and
    tool under it, and LangGraph's names are JSON to decode)."""

    def __init__(self, by_id: dict[str, Span], max_text_chars: int):
        self.by_id = by_id
        self.max_text_chars = max_text_chars
        self._named: dict[str, str | None] = {}
        self._delegates: dict[str, str | None] = {}

    def named(self, span: Span) -> str | None:
        """The name the span itself gives its agent (AGENT_NAMES)."""
        if span.span_id not in self._named:
            self._named[span.span_id] = agent_name(span, self.max_text_chars)
        return self._named[span.span_id]

    def delegate(self, span: Span) -> str | None:
        """The agent a delegation tool span runs (delegate_of)."""
        if span.span_id not in self._delegates:
            self._delegates[span.span_id] = delegate_of(span, self.max_text_chars)
        return self._delegates[span.span_id]

    def nearest(self, span: Span) -> str | None:
        """The agent of the nearest span, from this one up its lineage, that names one: by AGENT_NAMES, or, for
        the spans under it (not the tool span itself, which is its caller's), a delegation tool's delegate."""
        for node in lineage(span, self.by_id):
            name = self.named(node) or (self.delegate(node) if node is not span else None)
            if name:
                return name
        return None
