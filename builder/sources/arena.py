"""Normalise a row in the lmsys/chatbot_arena_conversations layout into an episode.

Also accepts the lmsys/mt_bench_human_judgments variant (integer question_id, no anony / language /
tstamp / moderation) and arena releases that spell the "both bad" verdict `both_bad`.
The episode is a plain dict whose keys are the columns of `multi_llm_coord.episode_features()`; token
fields are left empty here and filled by the token-log stage.
"""

from __future__ import annotations

from multi_llm_coord import WINNER_NAMES

from builder.episode import agent, check_text, empty_outcome, episode, response, turn
from builder.sources.rejections import Rejection

REQUIRED_FIELDS = ("question_id", "model_a", "model_b", "winner", "conversation_a", "conversation_b")
AGENT_SIDES = ("model_a", "model_b")

# Spellings seen across arena releases (55k/140k use both_bad) mapped to the four canonical names.
WINNER_ALIASES = {name: name for name in WINNER_NAMES} | {"both_bad": "tie (bothbad)", "tie(bothbad)": "tie (bothbad)"}


def arena_row_to_episode(row, source: str, max_text_chars: int) -> dict:
    """Return the episode for `row`, or raise `Rejection` saying why the row cannot be one."""
    if not isinstance(row, dict):
        raise Rejection("malformed_row", f"expected an object, got {type(row).__name__}")
    for name in REQUIRED_FIELDS:
        if row.get(name) is None:
            raise Rejection("null_winner" if name == "winner" and name in row else "missing_field", name)

    question_id = row["question_id"]
    if isinstance(question_id, bool) or not isinstance(question_id, (str, int)):
        raise Rejection("invalid_type", f"question_id is {type(question_id).__name__}")
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


def _optional(row: dict, name: str, types: tuple[type, ...]):
    value = row.get(name)
    if value is None:
        return None
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        raise Rejection("invalid_type", f"{name} is {type(value).__name__}")
    return value


def _metadata(row: dict, question_id) -> dict:
    judge = _optional(row, "judge", (str,))
    language = _optional(row, "language", (str,))
    tstamp = _optional(row, "tstamp", (int, float))
    anony = _optional(row, "anony", (bool,))
    judged_turn = _optional(row, "turn", (int,))
    moderation = _optional(row, "openai_moderation", (dict,))
    toxic = _optional(row, "toxic_chat_tag", (dict,))
    categories = (moderation or {}).get("categories") or {}
    return {
        "question_id": str(question_id),
        "judge": judge,
        "language": language,
        "tstamp": float(tstamp) if tstamp is not None else None,
        "anony": anony,
        "judged_turn": judged_turn,
        "moderation_flagged": bool(moderation.get("flagged")) if moderation is not None else None,
        "moderation_categories": sorted(name for name, flagged in categories.items() if flagged is True),
        "toxic_chat_flagged": (
            any(bool((tag or {}).get("flagged")) for tag in toxic.values() if isinstance(tag, dict))
            if toxic is not None else None
        ),
    }
