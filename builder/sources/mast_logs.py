"""The seven multi-agent systems of MAST (Cemri et al., "Why Do Multi-Agent LLM Systems Fail?"), each read from its
own log as it wrote it: who spoke, in which order, what each wrote, and what the log records each was sent.

Checked on the 19 traces of MAD_human_labelled_dataset.json (mcemri/MAST-Data, CC-BY-4.0), which hold all seven:
- ChatDev: a text log; a message opens with `[date INFO] Speaker: **A<->B on : Phase, turn N**`, then the bracketed
  system prompt of the speaker's counterpart, then the message. `**[Start Chat]**` entries are the phase prompt the
  instructing role sends (a prompt, with the other role's system prompt in brackets); `**[OpenAI_Usage_Info
  Receive]**` entries are the provider's usage of one call, in the order of the messages that follow them. The
  rest (configuration dumps, `flask app.py did not start`, `HTTP Request`, seminar conclusions restating the last
  message, software info, code written to disk) is no agent's message.
- MetaGPT: loguru lines `... | INFO | module:_act:N - Alice(SimpleCoder): to do SimpleWriteCode(...)`, the role's
  output on the lines after (the reviewer's often not printed: an empty message, as logged); the MMLU runs' own
  log: `FROM: Human TO: {...} ... CONTENT:` (the user's requirement) and `NEW MESSAGES:` blocks of `Role: text`.
- AG2 (MathChat) and HyperAgent: JSON {instance_id, problem_statement, other_data, trajectory, note}. AG2's
  trajectory is [{content, role, name}] between `mathproxyagent` (it sends the problem, then runs the code the
  assistant writes: its later messages are tool results) and `assistant`. HyperAgent's is the log's lines:
  `HyperAgent_ID - INFO - Planner's Response: ...` (an instruction to the intern named on its `Intern Name:` line),
  `Inner-Navigator-Assistant's Response: ...` (an intern's own step), `Navigator->Planner: ...` (its report).
- AppWorld: indented blocks under `Response from X Agent`, `Message to X Agent` (what X is sent: a prompt),
  `Reply from X Agent to Supervisor`, `Code Execution Output` (a tool result); `Entering/Exiting ... message loop`
  and `Response from send_message API` (the reply again, as the API returns it) are no message.
- Magentic-One: AutoGenBench's console log; before `SCENARIO.PY STARTING !#!#` only the harness and pip; then
  `---------- Name ----------` headers (`user`: the request; ComputerTerminal: tool results); the harness's
  `SCENARIO.PY COMPLETE` / `RUNTIME` / `RUN.SH COMPLETE` lines close the run and are no message.
- OpenManus: loguru lines. The planning flow (`app.flow.planning`) makes the plan and closes it, the agent (Manus)
  thinks and calls tools (`✨ Manus's thoughts:`, then its tool calls), each tool's result is logged (`🎯 Tool 'X'
  completed its mission! Result:`); `app.llm:update_token_count - Token usage: Input=N, Completion=M` is the
  provider's usage of the call whose output follows, kept as provider usage.

Every line is either part of a message or counted as skipped with its kind, never glued to a message.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from builder.rejections import Rejection


@dataclass
class Said:
    """One message of a log: its speaker, what it wrote, and what the log records it was sent just before."""

    speaker: str
    content: str
    kind: str = "message"  # message | tool_result | thought (builder.episode's response kinds)
    addressee: str | None = None
    prompt: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass
class ReadLog:
    said: list[Said] = field(default_factory=list)
    task: str | None = None
    system_prompts: dict[str, str] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)  # lines that are no agent's message, by kind
    correct: bool | None = None
    question_id: str | None = None
    note: dict | None = None  # the annotators' note where the trace carries one (AG2, HyperAgent)
    pending: list[str] = field(default_factory=list)  # prompts not yet given to a speaker

    def say(self, speaker: str, content: str, **fields) -> Said:
        prompt = "\n\n".join(self.pending) if self.pending else None
        self.pending = []
        said = Said(speaker, content, prompt=prompt, **fields)
        self.said.append(said)
        return said

    def skip(self, kind: str, lines: int = 1) -> None:
        if lines:
            self.skipped[kind] += lines


def _block_text(lines: list[str]) -> str:
    return "\n".join(lines).strip("\n")


# --- ChatDev ----------------------------------------------------------------------------------------------------

CHATDEV_ENTRY = re.compile(r"^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} INFO\] (?P<rest>.*)$")
CHATDEV_MESSAGE = re.compile(r"^(?P<speaker>[^:*]+): \*\*(?P<first>.+?)<->(?P<second>.+?) on : (?P<phase>\w+), "
                             r"turn (?P<turn>\d+)\*\*$")
CHATDEV_START = re.compile(r"^(?P<speaker>[^:*]+): \*\*\[Start Chat\]\*\*$")
CHATDEV_TASK = re.compile(r"^\*\*task_prompt\*\*: (?P<task>.+)$", re.M)
CHATDEV_USAGE = re.compile(r"prompt_tokens: (?P<input>\d+)\s+completion_tokens: (?P<output>\d+)")


def _bracketed(text: str) -> tuple[str | None, str]:
    """(the bracketed system prompt that opens an entry, the rest): ChatDev writes `[system prompt]\\n\\nmessage`."""
    body = text.lstrip("\n")
    if not body.startswith("["):
        return None, text.strip("\n")
    depth = 0
    for position, character in enumerate(body):
        depth += {"[": 1, "]": -1}.get(character, 0)
        if depth == 0:
            return body[1:position], body[position + 1:].strip("\n")
    return None, text.strip("\n")


def read_chatdev(trace) -> ReadLog:
    log = ReadLog()
    entries: list[tuple[str, list[str]]] = []
    for line in _text(trace, "ChatDev").split("\n"):
        match = CHATDEV_ENTRY.match(line)
        if match:
            entries.append((match.group("rest"), []))
        elif entries:
            entries[-1][1].append(line)
        else:
            log.skip("before the first entry")
    usage: list[tuple[int, int]] = []
    for head, body in entries:
        text = _block_text(body)
        message, start = CHATDEV_MESSAGE.match(head), CHATDEV_START.match(head)
        if message:
            speaker = message.group("speaker").strip()
            first, second = message.group("first").strip(), message.group("second").strip()
            counterpart = second if speaker == first else first
            system_prompt, content = _bracketed(text)
            if system_prompt and counterpart not in log.system_prompts:
                log.system_prompts[counterpart] = system_prompt
            tokens = usage.pop(0) if usage else (None, None)
            log.say(speaker, content, addressee=counterpart, input_tokens=tokens[0], output_tokens=tokens[1])
        elif start:
            _, content = _bracketed(text)  # the bracket: the other role's system prompt, logged again below
            log.pending.append(content)  # the phase's prompt, sent by the instructing role
        elif head.startswith("**[OpenAI_Usage_Info Receive]**"):
            found = CHATDEV_USAGE.search(text)
            if found:
                usage.append((int(found.group("input")), int(found.group("output"))))
            log.skip("provider usage entry", 1 + len(body))
        else:
            task = CHATDEV_TASK.search(text)
            if task and log.task is None:  # the customer's task, in the configuration ChatDev prints first
                log.task = task.group("task").strip()
            log.skip(_chatdev_kind(head), 1 + len(body))
    return log


def _chatdev_kind(head: str) -> str:
    marker = re.match(r"^(?:[^:*]+: )?\*\*\[?(?P<name>[^\]*]+)", head)
    return f"{marker.group('name').strip()} entry" if marker else "log line"


# --- MetaGPT ----------------------------------------------------------------------------------------------------

LOGURU = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d+ \| (?P<level>\w+) +\| (?P<where>[\w.<>]+):(?P<function>"
                    r"[\w<>]+):\d+ - (?P<message>.*)$")
METAGPT_ACT = re.compile(r"^(?P<name>\w+)\((?P<profile>\w+)\): to do (?P<action>\w+)")
METAGPT_FROM = re.compile(r"^\[[\d\- :]+\] FROM: (?P<sender>.+?) TO: (?P<to>.*)$")
METAGPT_NEW = re.compile(r"^\[[\d\- :]+\] NEW MESSAGES:$")
METAGPT_SPEAKER = re.compile(r"^(?P<role>[A-Z]\w+): ?(?P<first>.*)$")
METAGPT_MESSAGES_LAYOUT = re.compile(r"^\[[\d\- :]+\] (?:FROM: |NEW MESSAGES:$)", re.M)  # the MMLU runs' log
METAGPT_RULE = "-" * 80


def read_metagpt(trace) -> ReadLog:
    document = trace
    if isinstance(trace, str) and trace.lstrip().startswith("{"):
        try:
            document = json.loads(trace)
        except json.JSONDecodeError:
            document = trace
    log = ReadLog()
    if isinstance(document, dict):
        log.task = document.get("prompt") if isinstance(document.get("prompt"), str) else None
        if log.task:
            log.pending.append(log.task)
        if document.get("run_id") is not None:
            log.question_id = str(document["run_id"])
        text = _text(document.get("content"), "MetaGPT")
    else:
        text = _text(document, "MetaGPT")
    if METAGPT_MESSAGES_LAYOUT.search(text):
        _read_metagpt_messages(text, log)
    else:
        _read_metagpt_loguru(text, log)
    return log


def _read_metagpt_loguru(text: str, log: ReadLog) -> None:
    speaker, body = None, []

    def close():
        if speaker is not None:
            log.say(speaker, _block_text(body))

    for line in text.split("\n"):
        match = LOGURU.match(line)
        if not match:
            if speaker is None:
                log.skip("before the first action")
            else:
                body.append(line)
            continue
        act = METAGPT_ACT.match(match.group("message"))
        close()
        speaker, body = (f"{act.group('name')}({act.group('profile')})", []) if act else (None, [])
        if not act:
            log.skip(f"{match.group('where')} log line")
    close()


def _read_metagpt_messages(text: str, log: ReadLog) -> None:
    """The MMLU runs' log: a FROM/TO requirement, then NEW MESSAGES blocks of `Role: text` separated by rules."""
    blocks, current = [], None
    for line in text.split("\n"):
        if METAGPT_FROM.match(line) or METAGPT_NEW.match(line):
            current = [line]
            blocks.append(current)
        elif line == METAGPT_RULE or current is None:
            log.skip("banner or rule" if line.strip() else "blank line")
            current = None if line == METAGPT_RULE else current
        else:
            current.append(line)
    for block in blocks:
        head, lines = block[0], block[1:]
        sent = METAGPT_FROM.match(head)
        if sent:
            content = "\n".join(lines)
            content = content.split("CONTENT:", 1)[1] if "CONTENT:" in content else content
            log.pending.append(content.strip("\n"))
            log.task = log.task or content.strip("\n")
            continue
        speaker, body = None, []
        for line in lines:
            match = METAGPT_SPEAKER.match(line)
            if match and (speaker is None or not body or not body[-1].strip()):
                if speaker is not None:
                    log.say(speaker, _block_text(body))
                speaker, body = match.group("role"), [match.group("first")]
            elif speaker is None:
                log.skip("blank line" if not line.strip() else "line outside a message")
            else:
                body.append(line)
        if speaker is not None:
            log.say(speaker, _block_text(body))


# --- AG2 and HyperAgent: JSON with a trajectory ------------------------------------------------------------------

def _trajectory_document(trace, system: str) -> dict:
    document = trace
    if isinstance(trace, str):
        try:
            document = json.loads(trace)
        except json.JSONDecodeError as error:
            raise Rejection("malformed_json", f"{system} trace: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("trajectory"), list):
        raise Rejection("missing_field", f"{system} trace has no trajectory list")
    return document


def _common(document: dict, log: ReadLog) -> None:
    problem = document.get("problem_statement")
    log.task = "\n".join(problem) if isinstance(problem, list) else problem if isinstance(problem, str) else None
    if document.get("instance_id") is not None:
        log.question_id = str(document["instance_id"])
    other = document.get("other_data") if isinstance(document.get("other_data"), dict) else {}
    log.correct = other.get("correct") if isinstance(other.get("correct"), bool) else None
    log.note = document.get("note") if isinstance(document.get("note"), dict) else None


def read_ag2(trace) -> ReadLog:
    document = _trajectory_document(trace, "AG2")
    log = ReadLog()
    _common(document, log)
    proxies = set()
    for position, message in enumerate(document["trajectory"]):
        if not isinstance(message, dict):
            raise Rejection("invalid_type", f"AG2 trajectory[{position}] is {type(message).__name__}")
        content = message.get("content")
        content = "\n".join(content) if isinstance(content, list) else content
        if not isinstance(content, str):
            raise Rejection("non_string_content", f"AG2 trajectory[{position}].content")
        speaker = message.get("name") or message.get("role")
        if not isinstance(speaker, str) or not speaker:
            raise Rejection("missing_field", f"AG2 trajectory[{position}] names no speaker")
        if speaker.endswith("proxyagent") or speaker.endswith("proxy"):
            if speaker not in proxies:  # the proxy's first message is the problem, in MathChat's prompt
                proxies.add(speaker)
                log.pending.append(content)
                continue
            log.say(speaker, content, kind="tool_result")  # the result of running the assistant's code
        else:
            log.say(speaker, content)
    return log


HYPERAGENT_LINE = re.compile(r"^HyperAgent_\S+ - (?P<level>[A-Z]+) - (?P<message>.*)$")
HYPERAGENT_RESPONSE = re.compile(r"^(?P<who>[\w-]+)'s Response: ?(?P<first>.*)$")
HYPERAGENT_REPORT = re.compile(r"^(?P<who>\w+)->(?P<to>\w+): ?(?P<first>.*)$")
HYPERAGENT_INTERN = re.compile(r"^Intern Name: (?P<name>.+)$", re.M)
INNER = re.compile(r"^Inner-(?P<intern>\w+)-Assistant$")


def read_hyperagent(trace) -> ReadLog:
    document = _trajectory_document(trace, "HyperAgent")
    log = ReadLog()
    _common(document, log)
    if log.task:
        log.pending.append(log.task)
    current: dict | None = None

    def close():
        if current is not None:
            content = _block_text(current["lines"])
            addressee = current["to"]
            if current["speaker"] == "Planner":
                intern = HYPERAGENT_INTERN.search(content)
                addressee = intern.group("name").split()[-1] if intern else None
            log.say(current["speaker"], content, addressee=addressee)

    for position, line in enumerate(document["trajectory"]):
        if not isinstance(line, str):
            raise Rejection("invalid_type", f"HyperAgent trajectory[{position}] is {type(line).__name__}")
        match = HYPERAGENT_LINE.match(line)
        if not match:
            if current is None:
                log.skip("line outside a message")
            else:
                current["lines"].append(line)
            continue
        message = match.group("message")
        response, report = HYPERAGENT_RESPONSE.match(message), HYPERAGENT_REPORT.match(message)
        close()
        current = None
        if response:
            inner = INNER.match(response.group("who"))
            speaker = inner.group("intern") if inner else response.group("who")
            current = {"speaker": speaker, "to": None, "lines": [response.group("first")]}
        elif report:
            current = {"speaker": report.group("who"), "to": report.group("to"), "lines": [report.group("first")]}
        else:
            log.skip("HyperAgent log line")
    close()
    return log


# --- AppWorld ---------------------------------------------------------------------------------------------------

APPWORLD_TASK = re.compile(r"^\*+ Task \d+/\d+ \((?P<id>[^)]+)\) +\*+$")
APPWORLD_HEAD = re.compile(r"^(?P<indent> *)(?:(?P<response>Response from (?P<responder>.+?) Agent)|"
                           r"(?P<message>Message to (?P<recipient>.+?) Agent)|"
                           r"(?P<reply>Reply from (?P<replier>.+?) Agent to (?P<to>.+))|"
                           r"(?P<output>Code Execution Output)|(?P<api>Response from send_message API)|"
                           r"(?P<loop>(?:Entering|Exiting) .+ Agent message loop))\s*$")
CODE_EXECUTOR = "Code Executor"


def read_appworld(trace) -> ReadLog:
    log = ReadLog()
    names: dict[str, str] = {}  # the log writes an app's agent as "Spotify" and "spotify": one agent

    def name(raw: str) -> str:
        return names.setdefault(raw.lower(), raw[:1].upper() + raw[1:])

    heads: list[tuple[re.Match, list[str]]] = []
    task_lines: list[str] | None = None
    for line in _text(trace, "AppWorld").split("\n"):
        head = APPWORLD_HEAD.match(line)
        if head:
            heads.append((head, []))
        elif heads:
            heads[-1][1].append(line)
        elif APPWORLD_TASK.match(line.strip()):
            log.question_id = APPWORLD_TASK.match(line.strip()).group("id")
            task_lines = []
        elif task_lines is not None:
            task_lines.append(line)
        else:
            log.skip("blank line" if not line.strip() else "before the task")
    if task_lines is not None:
        log.task = _block_text(task_lines).strip()
        log.pending.append(log.task)
    last_speaker = None
    for head, body in heads:
        text = _dedent(body, len(head.group("indent")) + 4)
        if head.group("response"):
            last_speaker = name(head.group("responder"))
            log.say(last_speaker, text)
        elif head.group("message"):
            log.pending.append(text)  # what the agent is sent: a request, or its own code's output
        elif head.group("reply"):
            log.say(name(head.group("replier")), text, addressee=name(head.group("to")))
        elif head.group("output"):
            log.say(CODE_EXECUTOR, text, kind="tool_result")
        else:
            log.skip("send_message API result (the reply again)" if head.group("api") else "message loop banner",
                     1 + len(body))
    return log


def _dedent(lines: list[str], indent: int) -> str:
    return _block_text([line[indent:] if line[:indent].strip() == "" else line for line in lines]).rstrip()


# --- Magentic-One -----------------------------------------------------------------------------------------------

MAGENTIC_START = "SCENARIO.PY STARTING !#!#"
MAGENTIC_HEADER = re.compile(r"^---------- (?P<name>.+?) ----------$")
HARNESS = re.compile(r"^(?:SCENARIO\.PY|RUN\.SH) [A-Z :0-9]*.*!#!#$")
MAGENTIC_EXECUTORS = frozenset({"ComputerTerminal"})


def read_magentic_one(trace) -> ReadLog:
    log = ReadLog()
    text = _text(trace, "Magentic-One")
    before, started, after = text.partition(MAGENTIC_START)
    if not started:
        raise Rejection("missing_field", f"Magentic-One log has no {MAGENTIC_START!r} line")
    log.skip("harness and installer output", before.count("\n") + 1)
    speaker, body = None, []

    def close():
        if speaker == "user":
            log.pending.append(_block_text(body))
            log.task = log.task or _block_text(body)
        elif speaker is not None:
            log.say(speaker, _block_text(body), kind="tool_result" if speaker in MAGENTIC_EXECUTORS else "message")

    for line in after.split("\n")[1:]:
        header = MAGENTIC_HEADER.match(line)
        if header:
            close()
            speaker, body = header.group("name"), []
        elif HARNESS.match(line.strip()):
            log.skip("harness line")
        elif speaker is None:
            log.skip("blank line" if not line.strip() else "before the first message")
        else:
            body.append(line)
    close()
    return log


# --- OpenManus --------------------------------------------------------------------------------------------------

OPENMANUS_USAGE = re.compile(r"Token usage: Input=(?P<input>\d+), Completion=(?P<output>\d+)")
OPENMANUS_THOUGHTS = re.compile(r"^✨ (?P<agent>\w+)'s thoughts: ?(?P<first>.*)$")
OPENMANUS_TOOL_RESULT = re.compile(r"^🎯 Tool '(?P<tool>[^']+)' completed its mission! Result: ?(?P<first>.*)$")
OPENMANUS_CALL = re.compile(r"^(?:🛠️ \w+ selected \d+ tools to use|🧰 Tools being prepared: .*|"
                            r"🔧 Tool arguments: .*)$")
PLANNER = "Planning flow"
NO_USAGE = (None, None)


def read_openmanus(trace) -> ReadLog:
    log = ReadLog()
    caller, agent_name = PLANNER, "Manus"  # who makes the next call: the flow's planner, or the agent at a step
    current: dict | None = None  # the message being read; an empty one is a call whose output is not yet shown
    # the provider's usage of the last call, until the message it produced is said: its output may come on the lines
    # after the usage line, or after other log lines (a fork's raw response dump, the flow marking a step)
    waiting = NO_USAGE

    def close():
        nonlocal waiting
        if current is None or not (current["lines"] or current["kind"] == "tool_result"):
            return
        usage = current["usage"]
        if usage is None:  # a message of the model: the call's usage
            usage, waiting = waiting, NO_USAGE
        log.say(current["speaker"], _block_text(current["lines"]), kind=current["kind"], input_tokens=usage[0],
                output_tokens=usage[1])

    for line in _text(trace, "OpenManus").split("\n"):
        entered, typed, rest = line.partition("Enter your prompt: ")
        if typed and not entered and rest.strip() and not LOGURU.match(rest):  # the user's request, as typed
            log.task = rest.strip()
            log.pending.append(log.task)
            continue
        match = LOGURU.match(rest if typed and not entered else line)
        if not match:
            if current is None:
                log.skip("blank line" if not line.strip() else "line outside a message")
            else:
                current["lines"].append(line)
            continue
        where, message = match.group("where"), match.group("message")
        usage, thoughts = OPENMANUS_USAGE.search(message), OPENMANUS_THOUGHTS.match(message)
        result = OPENMANUS_TOOL_RESULT.match(message)
        if where == "app.llm" and usage:
            close()
            if waiting != NO_USAGE:
                log.skip("usage of a call whose output the log does not show")
            waiting = (int(usage.group("input")), int(usage.group("output")))
            current = {"speaker": caller, "kind": "message", "lines": [], "usage": None}
        elif thoughts:
            close()
            caller = agent_name = thoughts.group("agent")
            current = {"speaker": agent_name, "kind": "message", "usage": None,
                       "lines": [thoughts.group("first")] if thoughts.group("first") else []}
        elif current is not None and current["speaker"] == agent_name and OPENMANUS_CALL.match(message):
            current["lines"].append(message)  # the tool calls the model chose: part of what it wrote
        elif result:
            close()
            current = {"speaker": result.group("tool"), "kind": "tool_result", "usage": NO_USAGE,
                       "lines": [result.group("first")]}
        elif message.startswith("Plan creation result:"):
            close()
            current = {"speaker": PLANNER, "kind": "message", "usage": None,
                       "lines": [message.split(":", 1)[1].strip()]}
        else:
            close()
            current = None  # what follows a program's own line (the flow's printed result) is no agent's message
            caller = PLANNER if where.startswith("app.flow") else agent_name if where == "app.agent.base" else caller
            log.skip(f"{where} log line")
    close()
    if waiting != NO_USAGE:
        log.skip("usage of a call whose output the log does not show")
    return log


def _text(value, system: str) -> str:
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "\n".join(value)
    if not isinstance(value, str):
        raise Rejection("invalid_type", f"{system} trace is {type(value).__name__}, expected its log's text")
    return value.replace("\r\n", "\n")


# The system names as MAST's files write them, lower-cased without punctuation -> (the system, its reader).
SYSTEMS: dict[str, tuple[str, Callable[[object], ReadLog]]] = {
    "chatdev": ("ChatDev", read_chatdev),
    "metagpt": ("MetaGPT", read_metagpt),
    "ag2": ("AG2", read_ag2),
    "hyperagent": ("HyperAgent", read_hyperagent),
    "appworld": ("AppWorld", read_appworld),
    "magentic": ("Magentic-One", read_magentic_one),
    "magenticone": ("Magentic-One", read_magentic_one),
    "openmanus": ("OpenManus", read_openmanus),
}


def system_of(name) -> tuple[str, Callable[[object], ReadLog]] | None:
    return SYSTEMS.get(re.sub(r"[^a-z0-9]", "", name.lower())) if isinstance(name, str) else None
