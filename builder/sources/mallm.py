"""MALLM / Multi-Agent-LLMs DEBATE records: one record per example.

Used fields: dataset, exampleId, datasetId, instruction, input, context, paradigm, finalAnswer,
decisionSuccess, references, globalMemory (every message: {message_id, turn, agent_id, persona,
contribution, message, agreement, solution, ...}) and optional metadata.model.
Turns are MALLM's turns; each agent's message in a turn is its response (several messages of one agent
in one turn are joined in message_id order); `solution` is its extracted answer. The round's consensus is
the share of agents that state agreement (MALLM's `agreement` flags), or else the majority share of the
solutions. The paradigm sets who reads whom: memory and debate share everything (full_mesh), relay passes
messages along a ring (sparse), report goes through one agent (centralized).
"""

from __future__ import annotations

from builder.episode import agent, check_bool, check_id, check_int, check_text, empty_metadata, episode, majority_share, response, turn
from builder.rejections import Rejection

MAX_TURN = 10_000  # far beyond any real debate; keeps the turn numbers a bounded range
PARADIGM_TOPOLOGY = {"memory": "full_mesh", "debate": "full_mesh", "relay": "sparse", "report": "centralized"}


def is_mallm_record(row) -> bool:
    return isinstance(row, dict) and "globalMemory" in row and "exampleId" in row


def mallm_row_to_episode(row, source: str, max_text_chars: int) -> dict:
    if not isinstance(row, dict):
        raise Rejection("malformed_row", f"expected an object, got {type(row).__name__}")
    for name in ("exampleId", "globalMemory"):
        if row.get(name) is None:
            raise Rejection("missing_field", name)
    check_id(row["exampleId"], "exampleId")
    memory = row["globalMemory"]
    if not isinstance(memory, list) or not memory:
        raise Rejection("empty_conversation", "globalMemory is empty")
    for position, entry in enumerate(memory):
        if not isinstance(entry, dict) or not {"turn", "agent_id", "message"} <= set(entry):
            raise Rejection("invalid_type", f"globalMemory[{position}] lacks turn / agent_id / message")
        check_int(entry["turn"], f"globalMemory[{position}].turn", 0, MAX_TURN)
        if isinstance(entry["agent_id"], (dict, list)) or entry["agent_id"] is None:
            raise Rejection("invalid_type", f"globalMemory[{position}].agent_id is {type(entry['agent_id']).__name__}")
        check_bool(entry.get("agreement"), f"globalMemory[{position}].agreement")
    agent_ids = list(dict.fromkeys(str(entry["agent_id"]) for entry in memory))
    if len(agent_ids) < 2:
        raise Rejection("too_few_agents", f"{len(agent_ids)} agent(s)")
    personas = {str(e["agent_id"]): str(e.get("persona") or "") for e in memory}
    numbers = sorted({entry["turn"] for entry in memory})
    if numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        raise Rejection("missing_rounds", f"turns {numbers}")
    model = str((row.get("metadata") or {}).get("model") or "unknown")
    prompt = "\n\n".join(check_text(part, max_text_chars, name) for name in ("instruction", "input", "context")
                         for part in _texts(row.get(name)))
    turns = []
    for position, number in enumerate(numbers):
        entries = sorted((e for e in memory if e["turn"] == number), key=lambda e: str(e.get("message_id", "")))
        speakers = list(dict.fromkeys(str(e["agent_id"]) for e in entries))
        if sorted(speakers) != sorted(agent_ids):
            raise Rejection("agent_count_changed", f"turn {number} has agents {sorted(speakers)}, expected {sorted(agent_ids)}")
        responses, solutions, agreements = [], [], []
        for agent_id in agent_ids:
            mine = [e for e in entries if str(e["agent_id"]) == agent_id]
            text = "\n\n".join(check_text(e["message"], max_text_chars, f"turn {number} {agent_id}") for e in mine)
            solution = next((e.get("solution") for e in reversed(mine) if e.get("solution") is not None), None)
            solutions.append(solution)
            agreements.extend(e["agreement"] for e in mine if isinstance(e.get("agreement"), bool))
            responses.append(response(agent_id, text, None if solution is None else str(solution)))
        consensus = sum(agreements) / len(agreements) if agreements else majority_share(solutions)
        turns.append(turn(position, prompt if position == 0 else None, responses, consensus))  # no new user text
    references = row.get("references")
    success = check_bool(row.get("decisionSuccess"), "decisionSuccess")
    return episode(
        episode_id=f"mallm:{row.get('datasetId') or row.get('dataset') or 'unknown'}:{row['exampleId']}",
        source=source,
        topology=PARADIGM_TOPOLOGY.get(str(row.get("paradigm", "memory")).lower(), "full_mesh"),
        task=str(row.get("dataset") or "unknown"),
        agents=[agent(agent_id, model, personas[agent_id]) for agent_id in agent_ids],
        turns=turns,
        winner=None,
        outcome={"ground_truth": " | ".join(map(str, references)) if isinstance(references, list) and references
                 else (str(references) if references else None),
                 "final_answer": None if row.get("finalAnswer") is None else str(row["finalAnswer"]),
                 "final_correct": success,
                 "final_consensus": turns[-1]["consensus"], "best_judge_score": None},
        metadata=empty_metadata(str(row["exampleId"])),
    )


def _texts(value) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [v for v in value if v]
    return [value]
