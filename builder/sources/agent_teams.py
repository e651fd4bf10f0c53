"""Agent-team histories: agents with roles that speak in turn, hand off and run tools, as episodes.

Read as the files hold them (checked on all 184 runs of Who&When, ag2ai/Agents_Failure_Attribution, MIT):
- Who&When, Algorithm-Generated (126 runs of an AG2 CaptainAgent team): {history: [{content, role, name}],
  question, question_ID, level, ground_truth, is_correct, system_prompt: {agent: text}, mistake_agent,
  mistake_step, mistake_reason}. The speaker is `name`; `role` is only AG2's user/assistant bookkeeping.
- Who&When, Hand-Crafted (58 runs of Magentic-One): {history: [{content, role}], ..., is_corrected}. The speaker
  is in `role`: "human" (the user's request), "Orchestrator (thought)" (its own reasoning, sent to no agent),
  "Orchestrator (-> WebSurfer)" (an instruction addressed to WebSurfer), "Orchestrator (termination
  condition)", or an agent's plain name ("WebSurfer").
- a plain AutoGen / AG2 group-chat transcript, `groupchat.messages`: [{name, role, content}], either as a
  bare JSON array in a .json file (one run) or as {"messages": [...], "task"?: text, "id"?: text} rows.
- OpenTelemetry traces of any agent framework (OTLP/JSON): builder/sources/otlp.py.

Each message of the history is one turn with one response, its speaker's, in speaking order, so the source's
step numbers stay meaningful: a user's message (Magentic-One's "human", a transcript's nameless "user") is not
an agent's turn but the prompt of the turn that follows it; `turn_of_step` maps a history index to a turn.
The team's code executors (AG2's `Computer_terminal`, Magentic-One's `ComputerTerminal`: every one of their
313 messages in Who&When is the result of running code the previous speaker wrote, or the note that there was
none) speak tool results (`kind` tool_result); Magentic-One's "(thought)" and "(termination condition)" entries
are the orchestrator's thoughts (`kind` thought); everything else is a message, with its addressee where the
log names one. Agents are the speakers in order of first appearance, with their system prompts where logged.

In both systems every message is broadcast to every agent (AG2's GroupChat manager and Magentic-One's
orchestrator publish each message to all participants), and each agent's request carries its whole history:
topology full_mesh, memory full_history, so each turn's input is the speaker's system prompt plus the
transcript so far (builder/stages/token_logs.py). Who&When records no model names and no token counts.

Who&When's human annotation, the decisive mistake (`mistake_agent`, `mistake_step`: a 0-based index into
`history`, stored as a string, `mistake_reason`), goes into `annotations`, apart from the builder's own labels;
every Who&When run is a failure (`is_correct` / `is_corrected` false), kept as `outcome.final_correct`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from builder.sources.loaders import SAMPLE_SOURCE
from builder.episode import (
    agent,
    check_bool,
    check_id,
    check_text,
    empty_annotations,
    empty_metadata,
    episode,
    optional_text,
    response,
    turn,
)
from builder.rejections import Rejection, RowLocation
from builder.sources.loaders import (
    LOCAL_SUFFIXES,
    STREAM_ERRORS,
    SourceError,
    download_hub_file,
    iter_file,
    iter_json_array_items,
    local_files,
    read_json_document,
    sample_dir,
    starts_with_json_array,
    starts_with_json_object_line,
)
from builder.sources import mast
from builder.sources.otlp import read_conversation
from builder.sources.otlp_wire import PROTOBUF_SUFFIXES, SpanLog, protobuf_requests
from builder.sources.span_store import SpanStore
from builder.sources.spans import Span
from builder.sources.trace_exports import trace_spans

TEAM_SUFFIXES = (*LOCAL_SUFFIXES, *PROTOBUF_SUFFIXES)  # the files a --team-source folder is read for
EXECUTORS = frozenset({"Computer_terminal", "ComputerTerminal"})  # the teams' code executors (see above)
USERS = frozenset({"human", "user"})  # the speaker names of a user's message (Magentic-One, plain transcripts)
MAGENTIC_ROLE = re.compile(r"^(?P<agent>[^()]+?)\s*\((?P<note>[^()]*)\)$")
ADDRESSED = re.compile(r"^->\s*(?P<addressee>.+)$")
MAX_STEP = 1_000_000
LAYOUT_TASKS = {"algorithm_generated": "who_and_when:algorithm_generated",
                "hand_crafted": "who_and_when:hand_crafted", "transcript": "agent_team"}


def is_message_list(document) -> bool:
    """A bare group-chat transcript: a non-empty list of {content, role or name} objects."""
    return (isinstance(document, list) and bool(document)
            and all(isinstance(m, dict) and "content" in m and ("name" in m or "role" in m) for m in document))


def speaker_of(message: dict, position: int, max_text_chars: int) -> tuple[str, str, str | None]:
    """(speaker, kind, addressee) of one history entry; speaker "user" for a user's message."""
    where = f"history[{position}]"
    name, role = message.get("name"), message.get("role")
    for field, value in (("name", name), ("role", role)):
        if value is not None and not isinstance(value, str):
            raise Rejection("invalid_type", f"{where}.{field} is {type(value).__name__}")
    label = check_text(name if name else role or "", max_text_chars, f"{where} speaker").strip()
    if not label:
        raise Rejection("missing_field", f"{where} names no speaker (name or role)")
    if name is None and label in USERS:  # without a name the speaker is the role: "human" or "user" is the user
        return "user", "message", None
    kind, addressee = "message", None
    match = MAGENTIC_ROLE.match(label)
    if match:  # Magentic-One: "Orchestrator (thought)", "Orchestrator (-> WebSurfer)"
        label, note = match.group("agent").strip(), match.group("note").strip()
        addressed = ADDRESSED.match(note)
        if addressed:
            addressee = addressed.group("addressee").strip()
        else:
            kind = "thought"  # (thought), (termination condition): the orchestrator's own reasoning
    if label in EXECUTORS:
        kind = "tool_result"
    return label, kind, addressee


def team_row_to_episode(row, source: str, max_text_chars: int, layout: str | None = None) -> dict:
    """A Who&When run or a group-chat transcript as an episode; `layout` (algorithm_generated / hand_crafted)
    comes from the file's folder where it says, else from the messages."""
    if not isinstance(row, dict):
        raise Rejection("malformed_row", f"expected an object, got {type(row).__name__}")
    if "history" not in row and "messages" not in row:
        raise Rejection("malformed_row", "neither a team run (history or messages) nor an OpenTelemetry "
                                         "ExportTraceServiceRequest (resourceSpans)")
    history = row.get("history") if "history" in row else row.get("messages")
    if not isinstance(history, list) or not history:
        raise Rejection("empty_conversation", "history is empty")
    speakers = []
    for position, message in enumerate(history):
        if not isinstance(message, dict):
            raise Rejection("invalid_type", f"history[{position}] is {type(message).__name__}, expected an object")
        content = check_text(message.get("content"), max_text_chars, f"history[{position}].content")
        speakers.append((*speaker_of(message, position, max_text_chars), content))
    if layout is None:
        layout = ("transcript" if "history" not in row else
                  "algorithm_generated" if any("name" in m for m in history) else "hand_crafted")
    system_prompts = _system_prompts(row.get("system_prompt"), max_text_chars)
    question = _optional_text(row, "question", max_text_chars) or _optional_text(row, "task", max_text_chars)

    turns, turn_of_step, pending_prompt = [], {}, []
    if layout == "algorithm_generated" and question is not None:
        pending_prompt.append(question)  # the team's task; AG2's first message restates it with the plan
    agent_ids: list[str] = []
    for step, (name, kind, addressee, content) in enumerate(speakers):
        if name == "user":
            pending_prompt.append(content)
            continue
        if name not in agent_ids:
            agent_ids.append(name)
        turn_of_step[step] = len(turns)
        prompt = "\n\n".join(pending_prompt) if pending_prompt else None
        pending_prompt = []
        turns.append(turn(len(turns), prompt, [response(name, content, kind=kind, addressee=addressee)]))
    if pending_prompt and turns:
        raise Rejection("invalid_value", "the history ends with a user message that no agent answered")
    # One agent alone is no team, except in a run a person annotated: there the agent that never delegated is the
    # recorded failure (Who&When's Hand-Crafted 24: the Orchestrator answers alone), worth keeping with its label.
    if len(agent_ids) < 2 and not (agent_ids and row.get("mistake_agent") is not None):
        raise Rejection("too_few_agents", f"{len(agent_ids)} agent(s) speak")
    correct = check_bool(_flag(row.get("is_correct", row.get("is_corrected"))), "is_correct")
    question_id = row.get("question_ID", row.get("id"))
    return episode(
        episode_id=f"team:{layout}:{check_id(question_id, 'question_ID') if question_id is not None else source}",
        source=source,
        topology="full_mesh",
        task=LAYOUT_TASKS[layout],
        agents=[agent(a, "unknown", system_prompt=system_prompts.get(a)) for a in agent_ids],
        turns=turns,
        winner=None,
        outcome={"ground_truth": _optional_text(row, "ground_truth", max_text_chars), "final_answer": None,
                 "final_correct": correct, "correct_by": None if correct is None else "source",
                 "decision_success": None, "final_consensus": None, "best_judge_score": None},
        metadata=empty_metadata(None if question_id is None else check_id(question_id, "question_ID")),
        memory="full_history",
        annotations=_annotations(row, history, speakers, turn_of_step, max_text_chars),
    )


def _annotations(row: dict, history: list, speakers: list, turn_of_step: dict, max_text_chars: int) -> dict:
    """The source's human annotation of the decisive mistake, as the file states it, and the turn it points at."""
    annotations = empty_annotations()
    if all(row.get(k) is None for k in ("mistake_agent", "mistake_step", "mistake_reason")):
        return annotations
    step = row.get("mistake_step")
    if isinstance(step, str) and step.strip().isascii() and step.strip().isdigit():
        step = int(step.strip())
    if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
        raise Rejection("invalid_type", f"mistake_step is {type(step).__name__} {str(step)[:20]!r}, expected an index")
    if step is not None and not 0 <= step < min(len(history), MAX_STEP):
        raise Rejection("invalid_value", f"mistake_step {step} is outside the history's {len(history)} messages")
    annotations.update(
        mistake_agent=_optional_text(row, "mistake_agent", max_text_chars),
        mistake_step=step,
        mistake_turn_index=turn_of_step.get(step),
        mistake_reason=_optional_text(row, "mistake_reason", max_text_chars),
        annotator="human",
    )
    return annotations


def _system_prompts(value, max_text_chars: int) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Rejection("invalid_type", f"system_prompt is {type(value).__name__}, expected an object of agents")
    return {str(k): check_text(v, max_text_chars, f"system_prompt[{k!r}]") for k, v in value.items()}


def _optional_text(row: dict, field: str, max_text_chars: int) -> str | None:
    """A text field of a Who&When row; a number (a numeric ground truth) is read as its text."""
    value = row.get(field)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    return optional_text(value, max_text_chars, field)


def _flag(value):
    """Who&When writes the flag as a JSON boolean; some copies write "False" / "True"."""
    return {"True": True, "False": False}.get(value, value) if isinstance(value, str) else value


# --- the sources: files and folders, recognised before the build ----------------------------------------------

FOLDER_LAYOUTS = {"Algorithm-Generated": "algorithm_generated", "Hand-Crafted": "hand_crafted"}


@dataclass
class TeamFile:
    path: Path
    layout: str | None  # from a Who&When folder name, else decided per row
    subset: str | None = None  # the Who&When folder it is in (Algorithm-Generated, Hand-Crafted)
    hub_id: str | None = None  # the Hub dataset it was downloaded from

    @property
    def name(self) -> str:
        """How the file is named in episodes and messages: with its Who&When subset (`Hand-Crafted/24.json`),
        since both subsets number their runs from 1, or its Hub dataset (`mcemri/MAST-Data/MAD_full_dataset.json`)."""
        prefix = self.subset or self.hub_id
        return f"{prefix}/{self.path.name}" if prefix else self.path.name

    def rows(self) -> Iterator[tuple[RowLocation, object]]:
        if self.path.name.endswith(PROTOBUF_SUFFIXES):  # OTLP protobuf, as a collector's file exporter writes it
            for number, row in protobuf_requests(self.path):
                yield RowLocation(self.name, number), row
            return
        if self.path.name.endswith((".json", ".json.gz")) and starts_with_json_array(self.path):
            # read item by item (MAST's full dataset is one array of large traces); a group-chat transcript is a
            # bare array of messages, which is one run: read whole
            items = iter_json_array_items(self.path, self.name)
            first = next(items, None)
            if first is None or not is_message_list([first[1]]):
                if first is not None:
                    yield first
                yield from items
                return
            items.close()
        if self.path.name.endswith((".json", ".json.gz")):
            try:
                document = read_json_document(self.path)
            except STREAM_ERRORS:
                document = None  # iter_file reports the broken file as a counted rejection
            if is_message_list(document):  # a bare group-chat transcript: the file is one run
                yield RowLocation(self.name, 1), {"messages": document}
                return
            if isinstance(document, Rejection) and starts_with_json_object_line(self.path):
                # JSON lines in a .json file (the OpenTelemetry Collector's documented example name)
                yield from iter_file(self.path, self.name, json_lines=True)
                return
        yield from iter_file(self.path, self.name)


def plan_team_sources(sources: tuple[str, ...]) -> list[TeamFile]:
    """The files of every --team-source (a file, a folder, or `sample`), each with its Who&When layout where its
    folder says; a missing path or a folder without readable files is an error before any work."""
    planned = []
    for source in sources:
        path = sample_dir() / "teams" if source == SAMPLE_SOURCE else Path(source)
        if not path.exists() and source.split("@")[0] == mast.HUB_ID:  # MAST's traces, from the Hub
            repo, _, revision = source.partition("@")
            planned.append(TeamFile(download_hub_file(repo, mast.HUB_FILE, revision or None), None, hub_id=repo))
            continue
        if not path.exists():
            raise SourceError(f"--team-source {source}: no such file or folder (or {mast.HUB_ID}, MAST on the Hub)")
        found = local_files(path, "--team-source", TEAM_SUFFIXES)
        if not found:
            raise SourceError(f"--team-source {source}: holds no {', '.join(TEAM_SUFFIXES)} files")
        for file in found:
            subset = next((part for part in reversed(file.parts) if part in FOLDER_LAYOUTS), None)
            planned.append(TeamFile(file, FOLDER_LAYOUTS.get(subset), subset))
    return planned


def iter_team_rows(files: list[TeamFile], max_text_chars: int) -> Iterator[tuple[RowLocation, object, Callable]]:
    """(location, row, normalise) of every run. Each row is read for what it holds: an OpenTelemetry trace or logs
    request (builder/sources/otlp_wire.py) or a trace store's export of a trace (builder/sources/trace_exports.py)
    gives spans and the log records tied to them, kept on disk until every file is read, since one conversation's
    spans may lie in several traces and files; anything else is a team run. Then each conversation is one row at
    the line of its first span, after a rejection for each text of its spans that it does not hold (the episode is
    kept). A span that cannot be read, or is read twice, and a log record whose span no file holds, are counted
    rejections of their own, naming their file and line."""
    store = SpanStore()
    try:
        for team_file in files:
            normalise = partial(team_row_to_episode, source=team_file.name, max_text_chars=max_text_chars,
                                layout=team_file.layout)
            for location, row in team_file.rows():
                if mast.is_mast_row(row):
                    yield from _mast_rows(location, row, team_file.name, max_text_chars)
                    continue
                spans = trace_spans(row, location)
                if spans is None:
                    yield location, row, normalise
                    continue
                for found in spans:
                    if isinstance(found, SpanLog):
                        store.add_log(found)
                    elif not isinstance(found, Span):
                        yield found[0], found[1], None
                    elif not store.add(found):
                        yield location, Rejection("duplicate_span", f"span {found.span_id} of trace {found.trace_id} "
                                                  "read before (a retried export?): counted once"), None
        for conversation in store.conversations():
            first = conversation.spans[0].location
            try:
                episode, losses = read_conversation(conversation, first.file, max_text_chars)
            except Rejection as rejection:
                yield first, rejection, None
                continue
            for location, rejection in losses:
                yield location, rejection, None
            yield first, episode, _as_read
        for location, trace, span, name in store.unplaced_logs():
            yield location, Rejection("unplaced_content", f"log record {name or '(unnamed)'} names span {span} of "
                                      f"trace {trace}, which no file holds"), None
    finally:
        store.close()


def _mast_rows(location: RowLocation, row: dict, source: str, max_text_chars: int):
    """A MAST trace read whole here, its skipped log lines counted before it (builder/sources/mast.py)."""
    try:
        episode, skipped = mast.mast_row(row, source, max_text_chars)
    except Rejection as rejection:
        yield location, rejection, None
        return
    if skipped:
        yield location, Rejection("skipped_log_lines", mast.skipped_detail(episode["task"], episode["episode_id"],
                                                                          skipped)), None
    yield location, episode, _as_read


def _as_read(episode: dict) -> dict:
    """A trace episode is read whole with its conversation (its losses come before it as rejections)."""
    return episode
