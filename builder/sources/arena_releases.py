"""The current LMArena releases, rewritten into the lmsys/chatbot_arena_conversations layout that
builder.sources.arena normalises (so every check and rejection reason applies to them too).

- lmarena-ai/arena-human-preference-55k (CSV): id, model_a, model_b, prompt, response_a, response_b — each a
  JSON-encoded list of strings, one per turn — and one-hot winner_model_a / winner_model_b / winner_tie
  (tie and tie (bothbad) are merged in this release, so both map to `tie`).
- lmarena-ai/arena-human-preference-140k (Parquet): id, model_a, model_b, winner (`both_bad` for both bad),
  conversation_a / conversation_b with each message's content a list of typed parts {type, text, image,
  mimeType}; text parts are joined, a message with an image part is rejected (episodes are text), and
  `language` is kept where present.
"""

from __future__ import annotations

from builder.rejections import Rejection
from builder.sources.loaders import embedded_json

ONE_HOT = {"winner_model_a": "model_a", "winner_model_b": "model_b", "winner_tie": "tie"}


def is_55k_row(row) -> bool:
    return isinstance(row, dict) and "response_a" in row and "winner_model_a" in row


def is_140k_row(row) -> bool:
    if not isinstance(row, dict) or not isinstance(row.get("conversation_a"), list) or not row["conversation_a"]:
        return False
    first = row["conversation_a"][0]
    return isinstance(first, dict) and isinstance(first.get("content"), list)


def from_55k(row: dict) -> dict:
    """A 55k row as an arena-layout row, or a Rejection."""
    turns = {}
    for column in ("prompt", "response_a", "response_b"):
        value = row.get(column)
        if value is None:
            raise Rejection("missing_field", column)
        if isinstance(value, str):
            try:
                value = embedded_json(value, column)
            except Rejection as rejection:
                if rejection.reason != "invalid_value":
                    raise
                raise Rejection("invalid_type", f"{column} is not a JSON-encoded list of turns") from None
        turns[column] = value
        if not isinstance(turns[column], list):
            raise Rejection("invalid_type", f"{column} is {type(turns[column]).__name__}, expected a list of turns")
    flags = {}
    for column in ONE_HOT:
        value = row.get(column)
        if str(value).strip() not in ("0", "1"):
            raise Rejection("unknown_winner", f"{column} is {str(value)[:20]!r}, expected 0 or 1")
        flags[column] = str(value).strip() == "1"
    if sum(flags.values()) != 1:
        raise Rejection("unknown_winner", f"winner columns {[int(f) for f in flags.values()]} are not one-hot")
    winner = next(ONE_HOT[column] for column, flag in flags.items() if flag)

    def conversation(answers: list) -> list[dict]:
        messages = []
        for prompt, answer in zip(turns["prompt"], answers):
            messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
        return messages

    if not len(turns["prompt"]) == len(turns["response_a"]) == len(turns["response_b"]):
        raise Rejection("turn_count_mismatch", f"{len(turns['prompt'])} prompts, {len(turns['response_a'])} and "
                                               f"{len(turns['response_b'])} answers")
    return {"question_id": row.get("id"), "model_a": row.get("model_a"), "model_b": row.get("model_b"),
            "winner": winner, "conversation_a": conversation(turns["response_a"]),
            "conversation_b": conversation(turns["response_b"])}


def _text_of(content: list, where: str) -> str:
    texts = []
    for position, part in enumerate(content):
        if not isinstance(part, dict):
            raise Rejection("invalid_type", f"{where}.content[{position}] is not a typed part")
        if part.get("type") == "text":
            if not isinstance(part.get("text"), str):
                raise Rejection("non_string_content", f"{where}.content[{position}].text is not a string")
            texts.append(part["text"])
        elif part.get("image") is not None or part.get("type") == "image":
            raise Rejection("non_string_content", f"{where}.content[{position}] is an image; episodes are text")
    return "\n".join(texts)


def from_140k(row: dict) -> dict:
    """A 140k row as an arena-layout row (content parts joined into text), or a Rejection."""
    converted = {key: value for key, value in row.items()
                 if key in ("model_a", "model_b", "winner", "language", "turn", "anony", "tstamp", "judge")}
    converted["question_id"] = row.get("id")
    if "tstamp" not in row and row.get("timestamp") is not None:
        converted["tstamp"] = _unix_seconds(row["timestamp"])
    for side in ("conversation_a", "conversation_b"):
        conversation = row.get(side)
        if conversation is not None and not isinstance(conversation, list):
            raise Rejection("invalid_type", f"{side} is {type(conversation).__name__}, expected a list of messages")
        messages = []
        for position, message in enumerate(conversation or []):
            if not isinstance(message, dict) or not isinstance(message.get("content"), list):
                raise Rejection("invalid_type", f"{side}[{position}] is not a message with a list of parts")
            messages.append({"role": message.get("role"), "content": _text_of(message["content"], f"{side}[{position}]")})
        converted[side] = messages
    return converted


def _unix_seconds(value) -> float:
    """The 140k release's `timestamp` (a Parquet timestamp, read as a datetime; an ISO 8601 string where a copy
    stored it as text; Unix seconds where it is a number) as Unix seconds. A datetime without a zone is UTC."""
    import datetime

    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise Rejection("invalid_value", f"timestamp {value[:40]!r} is not an ISO 8601 date and time") from None
    if isinstance(value, datetime.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)).timestamp()
    return value  # a number (checked as tstamp by the arena reader) or a wrong type (rejected there)
