"""Counted, reasoned rejection of bad input rows: nothing is dropped silently."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

# Every reason a row can be rejected for; the build report and the tests use these codes.
REJECT_REASONS: dict[str, str] = {
    "malformed_json": "the line is not valid JSON",
    "malformed_row": "the row is not a JSON object / mapping",
    "invalid_utf8": "the row holds bytes that are not valid UTF-8 (or lone surrogates)",
    "missing_field": "a required field is missing or null",
    "invalid_type": "a field has the wrong type",
    "empty_conversation": "a conversation has no messages",
    "non_string_content": "a message's content is not a string",
    "broken_role_order": "messages do not alternate user/assistant starting with user and ending with assistant",
    "turn_count_mismatch": "conversation_a and conversation_b have different numbers of turns",
    "prompt_mismatch": "the user prompts of conversation_a and conversation_b differ",
    "null_winner": "the winner is null",
    "unknown_winner": "the winner is not one of model_a, model_b, tie, tie (bothbad), both_bad",
    "text_too_long": "a prompt or answer is longer than --max-text-chars",
    "duplicate_id": "an earlier row already produced this episode id",
    "missing_rounds": "a debate's rounds are not numbered 0..R-1 without gaps (or fewer than the file name's R)",
    "agent_count_changed": "the set of agents changes between rounds",
    "agent_count_mismatch": "the number of agents differs from the file name's N (or from the per-agent lists)",
    "too_few_agents": "an episode needs at least two agents",
    "unknown_topology": "the file name carries a topology suffix other than _SPARSE or _CENTRAL",
    "invalid_value": "a field has the right type but an impossible value (empty id, negative or out-of-range "
                     "integer, NaN or infinite number)",
    "too_deeply_nested": "the row nests objects or lists deeper than the builder reads",
    "duplicate_agent": "two agents of the episode have the same id",
    "duplicate_span": "a span already read (the same trace and span id: a retried export); it is counted once",
    "unread_content": "a trace span records a reply text or tool call that its episode's response does not hold (a "
                      "vocabulary the reader does not map, or two vocabularies that disagree); the episode is kept "
                      "without it",
    "unplaced_content": "a log record names a span (trace and span id) that no trace file of the source holds: its "
                        "content belongs to no conversation",
    "skipped_log_lines": "lines of a multi-agent system's own log that are no agent's message (installer output, a "
    "banner, a program's printout, a repeat of a reply): skipped and counted per trace, never glued to a message; "
    "the episode is kept",
    "corrupt_file": "the rest of a file cannot be read (a compressed stream or Parquet file broken at this point)",
}

EXAMPLES_PER_REASON = 5


@dataclass(frozen=True)
class RowLocation:
    """Where a row came from: the file (or Hub dataset) and its 1-based line (JSONL), item (JSON array) or row."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file} line {self.line}"


class Rejection(Exception):
    """Raised by a normaliser for a row it refuses; `reason` is a key of REJECT_REASONS."""

    def __init__(self, reason: str, detail: str):
        if reason not in REJECT_REASONS:
            raise ValueError(f"unknown rejection reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class RejectLog:
    """Counts rejections per reason and keeps the first few examples of each for the report."""

    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[dict]] = field(default_factory=dict)

    def add(self, location: RowLocation, episode_id: str | None, rejection: Rejection) -> None:
        self.counts[rejection.reason] += 1
        kept = self.examples.setdefault(rejection.reason, [])
        if len(kept) < EXAMPLES_PER_REASON:
            kept.append({"file": location.file, "line": location.line, "episode_id": episode_id,
                         "detail": rejection.detail})

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_report(self) -> dict:
        return {
            "total": self.total,
            "by_reason": {reason: self.counts[reason] for reason in sorted(self.counts)},
            "examples": {reason: self.examples[reason] for reason in sorted(self.examples)},
        }
