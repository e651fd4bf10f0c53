"""MALLM records (github Multi-Agent-LLMs/mallm; Multi-Agent-LLMs/DEBATE on the Hub): one record per example.

MALLM's scheduler (`mallm/scheduler.py`) writes a JSON array of records with native types; the mallm-demo
repository keeps one record per `.json` file (an indented object). Both are read (builder.sources.loaders).
Some exports hold the memory entries' values as strings ("turn": "1", "message_id": "3", "agreement":
"False", "memory_ids": "[0, 1]"): a decimal string is read as the integer, "True" / "False" (Python's own
spelling, which is what such exports write) as the boolean, a JSON list as the list; anything else is a
counted rejection naming the field.

Fields read, checked on MALLM's real records (mallm-demo, Apache-2.0):
- `globalMemory`: every message {message_id, turn, agent_id, persona, message, agreement, solution,
  memory_ids}. Turns are MALLM's turns, in numeric order; within a turn messages go by numeric message_id.
  Each agent's message(s) in a turn are its response; `solution` is its extracted answer.
- `memory_ids`: the ids of the messages that agent was given with this message (MALLM's agent memory:
  `additional_args.agent_memory` holds exactly those messages, the agent's own as `assistant` and the others as
  `user` "Persona: text"; checked on all 7,812 messages of the demo's 372 records). They are the truth of who
  read what: each response's `read_from`, the episode's topology (builder.episode.topology_from_reads) and its
  input tokens (basis `recorded_reads`) come from them. In the memory paradigm agents speak in sequence, so in
  turn 1 the second agent read the first agent's message and the third read both.
- `personas[]`: {agentId, model, persona, personaDescription}: each agent's model (MALLM leaves `metadata`
  null) and persona name; `metadata.model` is the fallback for agents missing there.
- `decisionSuccess`: whether the decision protocol reached a decision (`paradigm.py` `discuss`). It is NOT
  correctness and is kept as `outcome.decision_success`.
- `references`: the reference answers. Correctness is MALLM's own multiple-choice metric
  (`mallm/evaluation/metrics/qa.py`, MultiChoiceBoolean: the letter after "Final Solution:", else the first
  capital letter followed by ")", "]", ":" or the end, compared with the reference's first character), applied
  where the references are option letters ("E", "A) Yes"). For other references (free text, numbers) MALLM
  leaves the metric to the user, so `final_correct` stays null, as it does without references.
- `dataset`: the path of the input file MALLM read (`data/datasets/mmlu_pro.json`): the task is its stem.
  `datasetId` is the example's id within that data set (the question id); `exampleId` a per-run UUID.
- the prompt: `instruction`, `input` and `context` joined, as MALLM puts them into every request.
Without `memory_ids` (older exports), the paradigm sets who reads whom: memory and debate share everything
(full_mesh), relay passes messages along a ring (sparse), report goes through one agent (centralized).
The round's consensus is the share of agents that state agreement (MALLM's `agreement` flags), or else the
majority share of the solutions.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath

from builder.episode import (
    agent,
    check_bool,
    check_id,
    check_int,
    check_text,
    empty_metadata,
    episode,
    majority_share,
    optional_text,
    response,
    topology_from_reads,
    turn,
)
from builder.rejections import Rejection
from builder.token_bases import CONTENT_ONLY, RECORDED_READS

MAX_TURN = 10_000  # far beyond any real debate; keeps the turn numbers a bounded range
MAX_MESSAGE_ID = 10_000_000
PARADIGM_TOPOLOGY = {"memory": "full_mesh", "debate": "full_mesh", "relay": "sparse", "report": "centralized"}
CORRECT_BY_MULTICHOICE = "mallm_multichoice"
# MALLM's MultiChoiceBoolean: the letter after "Final Solution:", else the first capital letter that ends a token
# with ")", "]", ":" or the end of the text.
FINAL_SOLUTION = re.compile(r"(?i)Final Solution\s*:\s*([A-Z])")
OPTION_LETTER = re.compile(r"([A-Z])([)\]:]|$)")
OPTION_REFERENCE = re.compile(r"^[A-Z](?:[)\]:.]|\s|$)")  # "E", "A) Yes": a reference that is an option letter
DECIMAL = re.compile(r"[0-9]{1,19}")


def is_mallm_record(row) -> bool:
    return isinstance(row, dict) and "globalMemory" in row and "exampleId" in row


def multichoice_correct(answer: str, references: list[str]) -> bool:
    """MALLM's multiple-choice metric: the answer's option letter equals the first reference's first character."""
    match = FINAL_SOLUTION.search(answer) or OPTION_LETTER.search(answer)
    return bool(match) and match.group(1) == references[0][0]


def mallm_row_to_episode(row, source: str, max_text_chars: int) -> dict:
    if not isinstance(row, dict):
        raise Rejection("malformed_row", f"expected an object, got {type(row).__name__}")
    for name in ("exampleId", "globalMemory"):
        if row.get(name) is None:
            raise Rejection("missing_field", name)
    check_id(row["exampleId"], "exampleId")
    metadata = row.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise Rejection("invalid_type", f"metadata is {type(metadata).__name__}, expected an object or null")
    memory = row["globalMemory"]
    if not isinstance(memory, list) or not memory:
        raise Rejection("empty_conversation", "globalMemory is empty")
    messages = [_message(entry, position, max_text_chars) for position, entry in enumerate(memory)]
    by_id = {}
    for message in messages:
        if message["id"] in by_id:
            raise Rejection("invalid_value", f"message_id {message['id']} appears twice in globalMemory")
        by_id[message["id"]] = message
    messages.sort(key=lambda m: (m["turn"], m["id"]))
    models, persona_names, agent_order = _personas(row.get("personas"), max_text_chars)
    fallback_model = optional_text((metadata or {}).get("model"), max_text_chars, "metadata.model") or "unknown"
    agent_ids = list(dict.fromkeys([a for a in agent_order if any(m["agent"] == a for m in messages)]
                                   + [m["agent"] for m in messages]))
    if len(agent_ids) < 2:
        raise Rejection("too_few_agents", f"{len(agent_ids)} agent(s)")
    numbers = sorted({m["turn"] for m in messages})
    if numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        raise Rejection("missing_rounds", f"turns {numbers}")
    turn_of = {number: position for position, number in enumerate(numbers)}
    recorded = [m["memory_ids"] is not None for m in messages]
    if any(recorded) and not all(recorded):
        raise Rejection("missing_field", f"memory_ids on {sum(recorded)} of {len(messages)} messages")
    prompt = "\n\n".join(check_text(part, max_text_chars, name) for name in ("instruction", "input", "context")
                         for part in _texts(row.get(name), name))
    turns = []
    for number in numbers:
        entries = [m for m in messages if m["turn"] == number]
        speakers = {m["agent"] for m in entries}
        if speakers != set(agent_ids):
            raise Rejection("agent_count_changed", f"turn {number} has agents {sorted(speakers)}, expected {sorted(agent_ids)}")
        responses, solutions, agreements = [], [], []
        for agent_id in agent_ids:
            mine = [m for m in entries if m["agent"] == agent_id]
            solution = next((m["solution"] for m in reversed(mine) if m["solution"] is not None), None)
            solutions.append(solution)
            agreements.extend(m["agreement"] for m in mine if m["agreement"] is not None)
            read_from = _read_from(mine, by_id, turn_of) if all(recorded) else None
            responses.append(response(agent_id, "\n\n".join(m["text"] for m in mine), solution, read_from=read_from))
        consensus = sum(agreements) / len(agreements) if agreements else majority_share(solutions)
        turns.append(turn(turn_of[number], prompt if number == numbers[0] else None, responses, consensus))
    references = _references(row.get("references"), max_text_chars)
    final_answer = optional_text(row.get("finalAnswer"), max_text_chars, "finalAnswer")
    correct, correct_by = None, None
    if references and final_answer is not None and all(OPTION_REFERENCE.match(r) for r in references):
        correct, correct_by = multichoice_correct(final_answer, references), CORRECT_BY_MULTICHOICE
    task = _task(row.get("dataset"))
    question_id = row.get("datasetId") if row.get("datasetId") not in (None, "") else row["exampleId"]
    paradigm = str(row.get("paradigm") or "memory").lower()
    return episode(
        episode_id=f"mallm:{task}:{row['exampleId']}",
        source=source,
        topology=topology_from_reads(agent_ids, turns) if all(recorded) else PARADIGM_TOPOLOGY.get(paradigm, "full_mesh"),
        task=task,
        agents=[agent(a, models.get(a, fallback_model), persona_names.get(a) or _persona_of(a, messages))
                for a in agent_ids],
        turns=turns,
        winner=None,
        outcome={"ground_truth": " | ".join(references) if references else None,
                 "final_answer": final_answer, "final_correct": correct, "correct_by": correct_by,
                 "decision_success": _flag(row.get("decisionSuccess"), "decisionSuccess"),
                 "final_consensus": turns[-1]["consensus"], "best_judge_score": None},
        metadata=empty_metadata(check_id(question_id, "datasetId")),
        input_tokens_basis=(RECORDED_READS if all(recorded) else CONTENT_ONLY).name,
    )


def _message(entry, position: int, max_text_chars: int) -> dict:
    where = f"globalMemory[{position}]"
    if not isinstance(entry, dict) or not {"turn", "agent_id", "message"} <= set(entry):
        raise Rejection("invalid_type", f"{where} lacks turn / agent_id / message")
    agent_id = entry["agent_id"]
    if isinstance(agent_id, bool) or not isinstance(agent_id, (str, int)):
        raise Rejection("invalid_type", f"{where}.agent_id is {type(agent_id).__name__}")
    return {
        "id": _integer(entry.get("message_id", position), f"{where}.message_id", MAX_MESSAGE_ID),
        "turn": _integer(entry["turn"], f"{where}.turn", MAX_TURN),
        "agent": check_id(str(agent_id), f"{where}.agent_id"),
        "persona": optional_text(entry.get("persona"), max_text_chars, f"{where}.persona"),
        "text": check_text(entry["message"], max_text_chars, f"{where}.message"),
        "agreement": _flag(entry.get("agreement"), f"{where}.agreement"),
        "solution": optional_text(entry.get("solution"), max_text_chars, f"{where}.solution"),
        "memory_ids": _id_list(entry.get("memory_ids"), f"{where}.memory_ids"),
    }


def _integer(value, where: str, high: int) -> int:
    """MALLM's integer, or its decimal string as some exports write it."""
    if isinstance(value, str) and DECIMAL.fullmatch(value.strip()):
        value = int(value.strip())
    return check_int(value, where, 0, high)


def _flag(value, where: str) -> bool | None:
    """A boolean or null; "True" / "False" (Python's spelling, as string-valued exports write it) too."""
    if isinstance(value, str) and value in ("True", "False"):
        return value == "True"
    return check_bool(value, where)


def _id_list(value, where: str) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise Rejection("invalid_type", f"{where} is the string {value[:20]!r}, not a list of ids") from None
    if not isinstance(value, list):
        raise Rejection("invalid_type", f"{where} is {type(value).__name__}, expected a list of message ids")
    return [_integer(item, f"{where}[{i}]", MAX_MESSAGE_ID) for i, item in enumerate(value)]


def _read_from(mine: list[dict], by_id: dict[int, dict], turn_of: dict[int, int]) -> list[dict]:
    """The responses ({turn_index, agent_id}) whose messages this agent's messages of the turn were given, in the
    order they were written; a message id the record does not hold, or one written later, is a rejection."""
    read = {}
    for message in mine:
        for message_id in message["memory_ids"]:
            source = by_id.get(message_id)
            if source is None:
                raise Rejection("invalid_value", f"memory_ids names message {message_id}, which globalMemory lacks")
            if (source["turn"], source["id"]) >= (message["turn"], message["id"]):
                raise Rejection("invalid_value", f"message {message['id']} was given message {message_id}, "
                                                 "which was written after it")
            if source["turn"] == message["turn"] and source["agent"] == message["agent"]:
                continue  # an earlier message of the same response
            read[(source["turn"], source["id"])] = {"turn_index": turn_of[source["turn"]], "agent_id": source["agent"]}
    unique = {}
    for key in sorted(read):
        unique[(read[key]["turn_index"], read[key]["agent_id"])] = read[key]
    return list(unique.values())


def _personas(value, max_text_chars: int) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """{agent id: model}, {agent id: persona name} and the agents' order from `personas[]`."""
    if value is None:
        return {}, {}, []
    if not isinstance(value, list):
        raise Rejection("invalid_type", f"personas is {type(value).__name__}, expected a list")
    models, names, order = {}, {}, []
    for position, persona in enumerate(value):
        if not isinstance(persona, dict) or persona.get("agentId") is None:
            raise Rejection("invalid_type", f"personas[{position}] needs an agentId")
        agent_id = check_id(persona["agentId"], f"personas[{position}].agentId")
        order.append(agent_id)
        model = optional_text(persona.get("model"), max_text_chars, f"personas[{position}].model")
        if model:
            models[agent_id] = model
        names[agent_id] = optional_text(persona.get("persona"), max_text_chars, f"personas[{position}].persona") or ""
    return models, names, order


def _persona_of(agent_id: str, messages: list[dict]) -> str:
    return next((m["persona"] for m in messages if m["agent"] == agent_id and m["persona"]), "")


def _references(value, max_text_chars: int) -> list[str]:
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    references = []
    for position, item in enumerate(values):
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise Rejection("invalid_type", f"references[{position}] is {type(item).__name__}")
        text = check_text(str(item), max_text_chars, f"references[{position}]").strip()
        if text:
            references.append(text)
    return references


def _task(dataset) -> str:
    """The task: the stem of the input file MALLM read (`data/datasets/mmlu_pro.json` -> mmlu_pro)."""
    if dataset is None or dataset == "":
        return "unknown"
    if not isinstance(dataset, str):
        raise Rejection("invalid_type", f"dataset is {type(dataset).__name__}")
    check_text(dataset, 10_000, "dataset")
    stem = PurePosixPath(dataset.replace("\\", "/")).name
    for suffix in (".gz", ".jsonl", ".json"):
        stem = stem.removesuffix(suffix)
    return stem or "unknown"


def _texts(value, where: str) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [v for v in value if v]
    return [value]
