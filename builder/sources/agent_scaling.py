"""Agent-Scaling debate histories (github SafeRL-Lab/Agent-Scaling, `out/history/<name>.jsonl`).

File name: {data}_{solver}_{size}__{model or MIXEDk}_N={n}_R={r}[suffixes]. An all-capitals suffix
names the topology: _SPARSE (each agent reads its ring neighbours i-1 and i+1), _CENTRAL (agent 0 is the
hub); none means a full mesh. Any other all-capitals suffix is an unknown topology and every row of the
file is rejected for it; lower-case suffixes (seeds, versions) are ignored.
Each line is one question: {"0": round, "1": round, ...}; a round holds responses {agent name: text},
final_answers, final_answer_iscorr, debate_answer, debate_answer_iscorr, answer (ground truth) and
persona_configs (sampling settings, not names). Agent names are {data}_{size}__{model}__{persona}__Agent{i}
(i from 1; persona `None` when the run had none), in the order the run listed them.
Agent-Scaling sends every debate round as a fresh request holding the question, the agent's own last
answer and its peers' last answers (no chat history): the episode's memory is `last_round`. The question text is not in
the record: it comes from an optional questions file (JSONL, line i = question i, a string or an object
with "question"), otherwise the round-0 prompt is empty and the report says so.
In the centralized topology only agent 0's answer is evaluated: the others' correctness stays null.
"""

from __future__ import annotations

import re
from pathlib import Path

from builder.episode import agent, check_bool, check_text, empty_metadata, episode, majority_share, response, turn
from builder.rejections import Rejection

TOPOLOGY_SUFFIXES = {"SPARSE": "sparse", "CENTRAL": "centralized"}
# Numbers are ASCII digits only: str.isdigit() and \d accept "³" or "٣", which int() then fails on or misreads.
NAME_PATTERN = re.compile(r"^(?P<head>.+?)__(?P<model>.+?)_N=(?P<n>[0-9]+)_R=(?P<r>[0-9]+)(?P<suffix>.*)$")
AGENT_PATTERN = re.compile(r"^(?P<prefix>.*?)__(?P<model>.+?)__(?P<persona>.*?)__Agent(?P<index>[0-9]+)$")
ROUND_KEY = re.compile(r"[0-9]{1,6}")


def parse_file_name(path: Path) -> dict:
    """Task, solver, N, R and topology from a history file's name; topology None if the suffix is unknown."""
    stem = path.name.removesuffix(".gz").removesuffix(".jsonl")
    match = NAME_PATTERN.match(stem)
    if not match:
        raise ValueError(f"{path.name}: not an Agent-Scaling history name ({{data}}_{{solver}}_{{size}}__{{model}}_N=n_R=r)")
    head = match.group("head").rsplit("_", 2)
    task, solver = (head[0], head[1]) if len(head) == 3 else (head[0], "")
    markers = [token for token in match.group("suffix").split("_") if token and token.isupper()]
    unknown = [m for m in markers if m not in TOPOLOGY_SUFFIXES]
    topology = None if unknown else TOPOLOGY_SUFFIXES.get(markers[0], "full_mesh") if markers else "full_mesh"
    return {"task": task, "solver": solver, "model": match.group("model"), "agents": int(match.group("n")),
            "rounds": int(match.group("r")), "topology": topology, "unknown_suffix": "_".join(unknown) or None}


def agent_scaling_row_to_episode(row, index: int, path: Path, file_info: dict, questions: list[str] | None,
                                 max_text_chars: int) -> dict:
    if file_info["topology"] is None:
        raise Rejection("unknown_topology", f"{path.name}: suffix {file_info['unknown_suffix']}")
    if not isinstance(row, dict) or not row:
        raise Rejection("malformed_row", "expected an object of rounds keyed '0'..'R-1'")
    if not all(isinstance(key, str) and ROUND_KEY.fullmatch(key) for key in row):
        raise Rejection("missing_rounds", f"round keys {sorted(row)[:5]} are not round numbers")
    numbers = sorted(int(key) for key in row)
    if numbers != list(range(len(numbers))) or len(numbers) < file_info["rounds"]:
        raise Rejection("missing_rounds", f"rounds {numbers}, expected 0..{file_info['rounds'] - 1}")
    rounds = [row[str(n)] for n in numbers]
    for number, round_ in zip(numbers, rounds):
        if not isinstance(round_, dict) or not isinstance(round_.get("responses"), dict):
            raise Rejection("missing_field", f"round {number} has no responses object")
    names = sorted(rounds[0]["responses"], key=_agent_index)
    if len(names) < 2:
        raise Rejection("too_few_agents", f"{len(names)} agent(s)")
    if len(names) != file_info["agents"]:
        raise Rejection("agent_count_mismatch", f"{len(names)} agents, the file name says N={file_info['agents']}")
    for number, round_ in zip(numbers, rounds):
        if sorted(round_["responses"], key=_agent_index) != names:
            raise Rejection("agent_count_changed", f"round {number} has agents {sorted(round_['responses'])}")

    agents = [_agent(name) for name in names]
    question = ""
    if questions is not None:
        if index >= len(questions):
            raise Rejection("missing_field", f"questions file has no question {index}")
        question = check_text(questions[index], max_text_chars, "question")
    turns = []
    for number, round_ in enumerate(rounds):
        answers = _per_agent(round_.get("final_answers"), len(names), "final_answers", file_info["topology"])
        correct = _per_agent(round_.get("final_answer_iscorr"), len(names), "final_answer_iscorr", file_info["topology"])
        responses = [response(a["agent_id"], check_text(round_["responses"][name], max_text_chars, f"{name} round {number}"),
                              None if answers[i] is None else str(answers[i]),
                              check_bool(correct[i], f"round {number} final_answer_iscorr[{i}]"))
                     for i, (name, a) in enumerate(zip(names, agents))]
        turns.append(turn(number, question if number == 0 else "", responses, majority_share(answers)))
    last = rounds[-1]
    return episode(
        episode_id=f"{path.name.removesuffix('.gz').removesuffix('.jsonl')}#q{index}",
        source=path.name,
        topology=file_info["topology"],
        task=file_info["task"],
        agents=agents,
        turns=turns,
        winner=None,
        outcome={"ground_truth": None if last.get("answer") is None else str(last["answer"]),
                 "final_answer": None if last.get("debate_answer") is None else str(last["debate_answer"]),
                 "final_correct": check_bool(last.get("debate_answer_iscorr"), "debate_answer_iscorr"),
                 "final_consensus": turns[-1]["consensus"], "best_judge_score": None},
        metadata=empty_metadata(str(index)),
        memory="last_round",
    )


def _agent_index(name: str) -> tuple[int, str]:
    match = re.search(r"Agent([0-9]{1,9})$", name)
    return (int(match.group(1)) if match else 10**6, name)


def _agent(name: str) -> dict:
    match = AGENT_PATTERN.match(name)
    if not match:
        return agent(name, "unknown")
    persona = match.group("persona")
    return agent(f"Agent{match.group('index')}", match.group("model"), "" if persona == "None" else persona)


def _per_agent(values, agents: int, field: str, topology: str) -> list:
    """A per-agent list; in the centralized topology a single value is agent 0's and the rest are unknown."""
    if values is None:
        return [None] * agents
    if not isinstance(values, list):
        raise Rejection("invalid_type", f"{field} is {type(values).__name__}, expected a list")
    if len(values) == agents:
        return values
    if topology == "centralized" and len(values) == 1:
        return values + [None] * (agents - 1)
    raise Rejection("agent_count_mismatch", f"{field} has {len(values)} values for {agents} agents")


def read_questions(path: Path) -> list[str]:
    import json

    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        value = json.loads(line)
        if isinstance(value, dict):
            value = value.get("question")
        if not isinstance(value, str):
            raise ValueError(f"{path}: line {number + 1} is neither a string nor an object with 'question'")
        questions.append(value)
    return questions
