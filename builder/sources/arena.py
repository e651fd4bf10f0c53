"""Normalise a row in the lmsys/chatbot_arena_conversations layout into an episode.

Also accepts the lmsys/mt_bench_human_judgments variant (integer question_id, no anony / language /
tstamp / moderation) and arena releases that spell the "both bad" verdict `both_bad`.
The episode is a plain dict whose keys are the columns of `multi_llm_coord.episode_features()`; token
fields are left empty here and filled by the token-log stage.
"""

from __future__ import annotations

from multi_llm_coord import WINNER_NAMES

from builder.episode import INT32_MAX
from builder.episode import (
    agent,
    check_bool,
    check_id,
    check_int,
    check_number,
    check_text,
    empty_outcome,
    episode,
    response,
    turn,
)
from builder.rejections import Rejection
from builder.sources.arena_releases import from_55k, from_140k, is_55k_row, is_140k_row

REQUIRED_FIELDS = ("question_id", "model_a", "model_b", "winner", "conversation_a", "conversation_b")
AGENT_SIDES = ("model_a", "model_b")

# Spellings seen across arena releases (55k/140k use both_bad) mapped to the four canonical names.
WINNER_ALIASES = {name: name for name in WINNER_NAMES} | {"both_bad": "tie (bothbad)", "tie(bothbad)": "tie (bothbad)"}


def arena_row_to_episode(row, source: str, max_text_chars: int) -> dict:
    """Return the episode for `row`, or raise `Rejection` saying why the row cannot be one. Rows of the
    55k and 140k arena releases are first rewritten into this layout (builder.sources.arena_releases)."""
    if not isinstance(row, dict):
        raise Rejection("malformed_row", f"expected an object, got {type(row).__name__}")
    if is_55k_row(row):
        row = from_55k(row)
    elif is_140k_row(row):
        row = from_140k(row)
    for name in REQUIRED_FIELDS:
        if row.get(name) is None:
            raise Rejection("null_winner" if name == "winner" and name in row else "missing_field", name)

    question_id = row["question_id"]
    check_id(question_id, "question_id")
    for side in AGENT_SIDES:
        if not isinstance(row[side], str) or not row[side].strip():
            raise Rejection("invalid_type", f"{side} must be a non-empty string")

    winner = row["winner"]
    if not isinstance(winner, str) or winner.strip().lower() not in WINNER_ALIASES:
        raise Rejection("unknown_winner", repr(winner)[:80])
    winner = WINNER_ALIASES[winner.strip().lower()]

    turns_a = _conversation_turns(row["conversation_a"], "conversation_a")
    turns_b = _conversation_turns(row["conversation_b"], "conversation_b")
    if len(turns_a) != len(turns_b):
        raise Rejection("turn_count_mismatch", f"{len(turns_a)} turns in conversation_a, {len(turns_b)} in conversation_b")
    for index, ((prompt_a, _), (prompt_b, _)) in enumerate(zip(turns_a, turns_b)):
        if prompt_a != prompt_b:
            raise Rejection("prompt_mismatch", f"user prompt of turn {index} differs")

    for text in (row["model_a"], row["model_b"], *(t for pair in turns_a for t in pair), *(t for _, t in turns_b)):
        check_text(text, max_text_chars)

    return episode(
        episode_id=_episode_id(row, question_id),
        source=source,
        topology="pairwise_chat",
        task="chat",
        agents=[agent(side, row[side]) for side in AGENT_SIDES],
        turns=[turn(index, prompt, [response("model_a", answer_a), response("model_b", answer_b)])
               for index, ((prompt, answer_a), (_, answer_b)) in enumerate(zip(turns_a, turns_b))],
        winner=winner,
        outcome=empty_outcome(),
        metadata=_metadata(row, question_id),
    )


def _episode_id(row: dict, question_id) -> str:
    if isinstance(question_id, str):
        return question_id
    # MT-Bench: the integer names the question, which many battles share; the battle is the question plus
    # the two models, the judge and the judged turn.
    return f"mtbench-{question_id}-{row['model_a']}-vs-{row['model_b']}-{row.get('judge')}-turn{row.get('turn')}"


def _conversation_turns(conversation, name: str) -> list[tuple[str, str]]:
    """[(user prompt, assistant answer), ...] from an alternating message list."""
    if not isinstance(conversation, list):
        raise Rejection("invalid_type", f"{name} is {type(conversation).__name__}, expected a list of messages")
    if not conversation:
        raise Rejection("empty_conversation", name)
    turns = []
    for position, message in enumerate(conversation):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise Rejection("invalid_type", f"{name}[{position}] is not a {{role, content}} message")
        if not isinstance(message["content"], str):
            raise Rejection("non_string_content", f"{name}[{position}].content is {type(message['content']).__name__}")
        expected = "user" if position % 2 == 0 else "assistant"
        if message["role"] != expected:
            raise Rejection("broken_role_order", f"{name}[{position}] is {message['role']!r}, expected {expected!r}")
    if len(conversation) % 2:
        raise Rejection("broken_role_order", f"{name} ends with a user message that has no answer")
    for position in range(0, len(conversation), 2):
        turns.append((conversation[position]["content"], conversation[position + 1]["content"]))
    return turns


def _optional(row: dict, name: str, check):
    """None for an absent or null field, else `check(value, name)` (which raises a Rejection)."""
    value = row.get(name)
    return None if value is None else check(value, name)


def _string(value, where: str) -> str:
    if not isinstance(value, str):
        raise Rejection("invalid_type", f"{where} is {type(value).__name__}, expected a string")
    return value


def _object(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise Rejection("invalid_type", f"{where} is {type(value).__name__}, expected an object")
    return value


def _moderation(moderation: dict | None) -> tuple[bool | None, list[str]]:
    """(flagged, flagged categories) of an openai_moderation object, every nested field type-checked."""
    if moderation is None:
        return None, []
    categories = _optional(moderation, "categories", _object) or {}
    flagged_categories = sorted(name for name, flagged in categories.items()
                                if check_bool(flagged, f"openai_moderation.categories.{name}"))
    return check_bool(moderation.get("flagged"), "openai_moderation.flagged"), flagged_categories


def _toxic_chat_flagged(toxic: dict | None) -> bool | None:
    if toxic is None:
        return None
    flags = [check_bool(_object(tag, f"toxic_chat_tag.{name}").get("flagged"), f"toxic_chat_tag.{name}.flagged")
             for name, tag in toxic.items() if tag is not None]
    return any(flags)


def _metadata(row: dict, question_id) -> dict:
    moderation_flagged, categories = _moderation(_optional(row, "openai_moderation", _object))
    return {
        "question_id": str(question_id),
        "judge": _optional(row, "judge", _string),
        "language": _optional(row, "language", _string),
        "tstamp": _optional(row, "tstamp", lambda v, where: check_number(v, where, low=0.0)),
        "anony": _optional(row, "anony", check_bool),
        "judged_turn": _optional(row, "turn", lambda v, where: check_int(v, where, 1, INT32_MAX)),
        "moderation_flagged": moderation_flagged,
        "moderation_categories": categories,
        "toxic_chat_flagged": _toxic_chat_flagged(_optional(row, "toxic_chat_tag", _object)),
    }
