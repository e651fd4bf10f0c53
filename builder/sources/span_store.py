"""Gathering spans into conversations: the spans of every trace file of a source wait on disk until all are read,
then come back a conversation at a time.

A conversation is the spans that share the gen_ai.conversation.id or session.id of the outermost span of their
lineage that has one (an agent run nested in another's, as Pydantic AI's delegation is, has an id of its own but
is part of the outer run); traces are joined by those ids and by autogen-agentchat's team id, which its runtime
writes into every agent id and message destination though it starts a new trace for each message it delivers;
a trace that nothing joins is a conversation of its own. How it was joined is its `JoinKind`.
"""

from __future__ import annotations

import json
import pickle
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from builder.rejections import RowLocation
from builder.sources.otlp_wire import SpanLog
from builder.sources.spans import JoinKind, Span, SpanEvent

AUTOGEN_TEAM = re.compile(r"_(?P<team>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?=[/.]|$)")


@dataclass(frozen=True)
class JoinKey:
    """What ties traces together: a conversation (or session) id, or an autogen-agentchat team id."""

    kind: JoinKind
    value: str

    def sort_key(self) -> tuple[str, str]:
        return self.kind.value, self.value


@dataclass
class Conversation:
    """The spans of one conversation (a row of the agent-team family), in the order they were read; `key` is its
    id (the conversation id, the team id, or the trace id) and `join` how its spans were gathered."""

    key: str
    join: JoinKind
    spans: list[Span] = field(default_factory=list)

    @property
    def question_id(self) -> str:
        """The episode's question id: the id, after what kind of id it is (conversation:, team:, trace:)."""
        return f"{JOIN_PREFIXES[self.join]}:{self.key}"


JOIN_PREFIXES = {JoinKind.CONVERSATION: "conversation", JoinKind.TEAM: "team", JoinKind.TRACE: "trace"}


def lineage(span: Span, by_id: dict[str, Span]):
    """The span, its parent, its parent's parent, ... (as far as the spans read reach; cycles end it)."""
    seen = set()
    while span is not None and span.span_id not in seen:
        seen.add(span.span_id)
        yield span
        span = by_id.get(span.parent_id) if span.parent_id else None


def conversation_id(span: Span) -> str | None:
    value = span.attributes.get("gen_ai.conversation.id") or span.attributes.get("session.id")
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value) else None


def conversations(spans: list[Span], default: JoinKey | None = None) -> list[Conversation]:
    """The spans grouped by conversation: the conversation id of the outermost span of its lineage that has one,
    else `default` (the key the traces were joined by, see SpanStore), else the trace; in the order each
    conversation's first span was read."""
    by_id = {s.span_id: s for s in spans}
    grouped: dict[tuple, Conversation] = {}
    for span in spans:
        outermost = None
        for node in lineage(span, by_id):
            outermost = conversation_id(node) or outermost
        found = ((JoinKind.CONVERSATION, outermost) if outermost is not None else
                 (default.kind, default.value) if default is not None else (JoinKind.TRACE, span.trace_id))
        if found not in grouped:
            grouped[found] = Conversation(found[1], found[0])
        grouped[found].spans.append(span)
    return list(grouped.values())


def join_keys(span: Span) -> set[JoinKey]:
    """What ties the span's trace to others of the same conversation: its conversation or session id, and
    autogen-agentchat's team id (`writer_<team uuid>/<team uuid>`, `group_topic_<team uuid>.(<team uuid>)-T`)."""
    keys = set()
    conversation = conversation_id(span)
    if conversation is not None:
        keys.add(JoinKey(JoinKind.CONVERSATION, conversation))
    for name in ("gen_ai.agent.id", "messaging.destination"):
        value = span.attributes.get(name)
        match = AUTOGEN_TEAM.search(value) if isinstance(value, str) else None
        if match:
            keys.add(JoinKey(JoinKind.TEAM, match.group("team")))
    return keys


class SpanStore:
    """The spans and span-tied log records of every trace file of a source, kept on disk (SQLite in a temporary
    folder of its own, removed on close) and handed back a conversation at a time once all are read, since a
    conversation's spans may lie in several traces (autogen-agentchat starts one per message) and several files (a
    collector rotating its file exporter; logs written beside traces). Memory holds a few ids per trace and one
    conversation's spans, never all the spans. A span read twice (the same trace and span id: a retried export)
    is kept once; so is a log record read twice."""

    def __init__(self):
        self._folder = tempfile.TemporaryDirectory(prefix="multi-llm-coord-spans-")
        self._db = sqlite3.connect(Path(self._folder.name) / "spans.sqlite")
        self._db.execute("CREATE TABLE spans (trace TEXT, span TEXT, seq INTEGER, record BLOB, "
                         "PRIMARY KEY (trace, span))")
        self._db.execute("CREATE TABLE logs (trace TEXT, span TEXT, seq INTEGER, record TEXT, file TEXT, line INTEGER,"
                         " UNIQUE (trace, span, record))")
        self._first_seen: dict[str, int] = {}  # trace id -> the order its first span was read in
        self._keys: dict[str, set[JoinKey]] = {}  # trace id -> its join keys
        self.count = 0
        self._logs = 0

    def add(self, span: Span) -> bool:
        """Keep the span; False where it was read before."""
        record = [span.parent_id, span.name, span.start, span.attributes, span.resource,
                  span.location.file, span.location.line, span.end, [e.to_record() for e in span.events]]
        # pickled, not JSON: the record only comes back to this process, and a span is written and read once (JSON
        # was a sixth of reading a trace); the logs stay JSON, whose text is their identity for UNIQUE
        cursor = self._db.execute("INSERT OR IGNORE INTO spans VALUES (?, ?, ?, ?)", (
            span.trace_id, span.span_id, self.count, pickle.dumps(record, pickle.HIGHEST_PROTOCOL)))
        if cursor.rowcount == 0:
            return False
        self._first_seen.setdefault(span.trace_id, self.count)
        self.count += 1
        keys = join_keys(span)
        if keys:
            self._keys.setdefault(span.trace_id, set()).update(keys)
        return True

    def add_log(self, log: SpanLog) -> None:
        """Keep a log record for the span it names (read in any file, before or after that span)."""
        self._db.execute("INSERT OR IGNORE INTO logs VALUES (?, ?, ?, ?, ?, ?)", (
            log.trace_id, log.span_id, self._logs, _json(log.event.to_record()), log.location.file, log.location.line))
        self._logs += 1

    def conversations(self) -> Iterator[Conversation]:
        """Each conversation, its traces joined by any key they share, in the order its first span was read."""
        for traces in self._joined_traces():
            keys = set().union(*(self._keys.get(trace, set()) for trace in traces))
            named = sorted((k for k in keys if k.kind is JoinKind.CONVERSATION), key=JoinKey.sort_key)
            teams = sorted((k for k in keys if k.kind is JoinKind.TEAM), key=JoinKey.sort_key)
            default = named[0] if len(named) == 1 else teams[0] if teams else None
            yield from conversations(self._spans_of(traces), default)

    def unplaced_logs(self) -> Iterator[tuple[RowLocation, str, str, str]]:
        """(location, trace id, span id, event name) of each log record whose span was never read."""
        for trace, span, record, file, line in self._db.execute(
                "SELECT trace, span, record, file, line FROM logs WHERE NOT EXISTS "
                "(SELECT 1 FROM spans WHERE spans.trace = logs.trace AND spans.span = logs.span) ORDER BY seq"):
            yield RowLocation(file, line), trace, span, json.loads(record)[0]

    def _joined_traces(self) -> list[list[str]]:
        """The trace ids grouped by the keys they share (union-find), each group and the groups in read order."""
        parent = {trace: trace for trace in self._first_seen}

        def root(trace: str) -> str:
            while parent[trace] != trace:
                parent[trace] = parent[parent[trace]]
                trace = parent[trace]
            return trace

        holder: dict[JoinKey, str] = {}
        for trace, keys in self._keys.items():
            for key in sorted(keys, key=JoinKey.sort_key):
                other = holder.setdefault(key, trace)
                a, b = root(trace), root(other)
                if a != b:
                    parent[max(a, b, key=self._first_seen.get)] = min(a, b, key=self._first_seen.get)
        groups: dict[str, list[str]] = {}
        for trace in sorted(self._first_seen, key=self._first_seen.get):
            groups.setdefault(root(trace), []).append(trace)
        return list(groups.values())

    def _spans_of(self, traces: list[str]) -> list[Span]:
        found, logs = [], {}
        for start in range(0, len(traces), 500):  # SQLite's bound on parameters
            chunk = traces[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            found += self._db.execute(f"SELECT trace, span, seq, record FROM spans WHERE trace IN ({marks})", chunk)
            for trace, span, record in self._db.execute(
                    f"SELECT trace, span, record FROM logs WHERE trace IN ({marks}) ORDER BY seq", chunk):
                logs.setdefault((trace, span), []).append(SpanEvent.from_record(json.loads(record)))
        spans = []
        for trace, span_id, _, record in sorted(found, key=lambda row: row[2]):
            parent, name, start, attributes, resource, file, line, end, events = pickle.loads(record)
            spans.append(Span(trace, span_id, parent, name, start, attributes, resource, RowLocation(file, line), end,
                              [SpanEvent.from_record(e) for e in events] + logs.get((trace, span_id), [])))
        return spans

    def close(self) -> None:
        self._db.close()
        self._folder.cleanup()


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
