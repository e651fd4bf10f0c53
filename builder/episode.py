"""Constructors for the one record type, the episode: a plain dict whose keys are the columns of
`multi_llm_coord.episode_features()`. Normalisers build episodes with these; enrichment stages fill
the token, latent and label fields afterwards."""

from __future__ import annotations

import math

from builder.rejections import Rejection
from builder.token_bases import CONTENT_ONLY

INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1  # the int32 columns' bound (and of options that size them)


def response(agent_id: str, content: str, extracted_answer: str | None = None, is_correct: bool | None = None,
             judge_score: float | None = None, read_from: list[dict] | None = None, kind: str = "message",
             addressee: str | None = None) -> dict:
    """One agent's response at one turn; `read_from` lists the responses ({turn_index, agent_id}) the log
    records this agent was given (None where the log does not say); `kind` is one of RESPONSE_KINDS."""
    return {"agent_id": agent_id, "content": content, "extracted_answer": extracted_answer,
            "is_correct": is_correct, "judge_score": judge_score, "read_from": read_from, "kind": kind,
            "addressee": addressee, "provider_input_tokens": None, "provider_output_tokens": None}


def turn(index: int, prompt: str, responses: list[dict], consensus: float | None = None) -> dict:
    return {"turn_index": index, "prompt": prompt, "responses": responses, "consensus": consensus}


def agent(agent_id: str, model: str, persona: str = "", system_prompt: str | None = None) -> dict:
    return {"agent_id": agent_id, "model": model, "persona": persona, "system_prompt": system_prompt}


def empty_annotations() -> dict:
    return {"mistake_agent": None, "mistake_step": None, "mistake_turn_index": None, "mistake_reason": None,
            "annotator": None, "failure_modes": [], "note": None}


def empty_outcome() -> dict:
    return {"ground_truth": None, "final_answer": None, "final_correct": None, "correct_by": None,
            "decision_success": None, "final_consensus": None, "best_judge_score": None}


def empty_metadata(question_id: str) -> dict:
    return {"question_id": question_id, "judge": None, "language": None, "tstamp": None, "anony": None,
            "judged_turn": None, "moderation_flagged": None, "moderation_categories": [], "toxic_chat_flagged": None}


def episode(*, episode_id: str, source: str, topology: str, task: str, agents: list[dict], turns: list[dict],
            winner: str | None, outcome: dict, metadata: dict, memory: str = "full_history",
            input_tokens_basis: str = CONTENT_ONLY.name, annotations: dict | None = None) -> dict:
    """The episode, or a Rejection when its agents cannot be told apart (every per-agent list is keyed by id)."""
    ids = [a["agent_id"] for a in agents]
    if len(set(ids)) != len(ids):
        raise Rejection("duplicate_agent", f"agent ids {ids}")
    return {"episode_id": episode_id, "source": source, "topology": topology, "memory": memory,
            "input_tokens_basis": input_tokens_basis, "task": task, "agents": agents, "turns": turns, "winner": winner,
            "outcome": outcome, "metadata": metadata, "annotations": annotations or empty_annotations(),
            "is_truncated": False}


def topology_from_reads(agent_ids: list[str], turns: list[dict]) -> str:
    """The topology that the recorded reads (`read_from`) show, over the whole episode: independent (nobody
    reads a peer), full_mesh (everyone reads everyone), centralized (one hub reads everyone, the others only the
    hub), sparse (each reads its ring neighbours i-1 and i+1), relay (each reads only its predecessor i-1, the
    first agent the last), else recorded (no regular pattern: see read_from)."""
    count = len(agent_ids)
    position = {agent_id: i for i, agent_id in enumerate(agent_ids)}
    peers = [set() for _ in agent_ids]
    for turn_ in turns:
        for reply in turn_["responses"]:
            reader = position[reply["agent_id"]]
            peers[reader].update(position[read["agent_id"]] for read in reply["read_from"] or ())
    for reader, read in enumerate(peers):
        read.discard(reader)  # an agent re-reading its own earlier answers says nothing about who reads whom
    everyone = [set(range(count)) - {i} for i in range(count)]
    if not any(peers):
        return "independent"
    if peers == everyone:
        return "full_mesh"
    for hub in range(count):
        if peers[hub] == everyone[hub] and all(peers[i] == {hub} for i in range(count) if i != hub):
            return "centralized"
    if count > 2 and peers == [{(i - 1) % count, (i + 1) % count} for i in range(count)]:
        return "sparse"
    if count > 2 and peers == [{(i - 1) % count} for i in range(count)]:
        return "relay"
    return "recorded"


def check_text(text, max_text_chars: int, where: str = "text") -> str:
    """The text itself, or a Rejection: not a string, not encodable as UTF-8, or too long."""
    if not isinstance(text, str):
        raise Rejection("non_string_content", f"{where} is {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise Rejection("invalid_utf8", f"lone surrogate at character {error.start} of {where}") from None
    if len(text) > max_text_chars:
        raise Rejection("text_too_long", f"{where}: {len(text)} characters > {max_text_chars}")
    return text


def optional_text(value, max_text_chars: int, where: str) -> str | None:
    """check_text for a field that may be absent: None stays None."""
    return None if value is None else check_text(value, max_text_chars, where)


def check_id(value, where: str) -> str:
    """A source id as a non-empty string: a string with visible characters or a non-negative 64-bit integer."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise Rejection("invalid_type", f"{where} is {type(value).__name__}")
    if isinstance(value, int):
        return str(check_int(value, where, 0, INT64_MAX))
    if not value.strip():
        raise Rejection("invalid_value", f"{where} is empty")
    return value


def check_int(value, where: str, low: int, high: int) -> int:
    """An integer (not a bool) within [low, high]: the range the schema's integer column can hold."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Rejection("invalid_type", f"{where} is {type(value).__name__}, expected an integer")
    if not low <= value <= high:
        shown = str(value) if abs(value) < 10**20 else f"an integer of {len(str(abs(value)))} digits"
        raise Rejection("invalid_value", f"{where} is {shown}, outside {low}..{high}")
    return value


def check_number(value, where: str, low: float = -math.inf) -> float:
    """A finite number (not a bool) at least `low`, as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Rejection("invalid_type", f"{where} is {type(value).__name__}, expected a number")
    try:
        number = float(value)
    except OverflowError:
        raise Rejection("invalid_value", f"{where} is too large for a float") from None
    if not math.isfinite(number) or number < low:
        raise Rejection("invalid_value", f"{where} is {number}" + (f", below {low}" if math.isfinite(number) else ""))
    return number


def check_bool(value, where: str) -> bool | None:
    """A JSON boolean or null; the string "false" is not a boolean (bool("false") would be True)."""
    if value is not None and not isinstance(value, bool):
        raise Rejection("invalid_type", f"{where} is {type(value).__name__} {str(value)[:20]!r}, expected true/false")
    return value


def majority_share(answers: list[str | None]) -> float | None:
    """Among the agents whose answer is known, the share whose (normalised) answer is the most common one; None
    without a known answer. An unparsed answer is unknown, not a dissent."""
    from collections import Counter

    given = [str(a).strip().lower() for a in answers if a is not None and str(a).strip()]
    if not given:
        return None
    return Counter(given).most_common(1)[0][1] / len(given)
