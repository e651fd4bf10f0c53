"""Agent-Scaling debate histories (github SafeRL-Lab/Agent-Scaling, `out/history/<name>.jsonl`).

File name: {data}_{solver}_{size}__{model or MIXEDk}_N={n}_R={r}[suffixes]. R is the number of debate
rounds after the first answers, so a history holds R+1 rounds, "0".."R". An all-capitals suffix names the
topology: _SPARSE (each agent reads its ring neighbours i-1 and i+1), _CENTRAL (the first agent is the
hub); none means a full mesh. The run's other markers are known and kept: _BAE (another instruction
suffix), _HETERO_ENHANCED (a persona prompt before every request), _BASEA_LENMATCH, _BASEB_SINGLEP (the
paper's baselines). Any other all-capitals suffix is an unknown topology and every row of the file is
rejected for it; lower-case suffixes (seeds, versions) are ignored.
Each line is one question: {"0": round, "1": round, ...}; a round holds responses {agent name: text},
final_answers, final_answer_iscorr, debate_answer, debate_answer_iscorr, answer (ground truth) and
persona_configs (sampling settings, not names). Agent names are {data}_{size}__{model}__{persona}__Agent{i}
(i from 1; persona `None` when the run had none), in the order the run listed them.
Agent-Scaling sends every debate round as a fresh request (`src/main.py`, `get_new_message`), built from a
template around the question, the agent's own last answer and its peers' last answers (no chat history):
the episode's memory is `last_round`, and `agent_scaling_requests` rebuilds each request so that the token
stage counts what was really sent. The question text is not in the record: it comes from an optional
questions file (JSONL, one question a line, a string or an object with "question"), in the file's order or
in Agent-Scaling's own order (`src/data/gsm8k.py` shuffles the test set with pandas'
`sample(frac=1, random_state=0)` before taking the first `size` items: `--questions-order agent_scaling`);
without one the round-0 prompt is null and the report says so.
Answers and correctness: where the round's `final_answers` / `final_answer_iscorr` hold one value per agent, they
are the log's. Two kinds of run write fewer (checked by running Agent-Scaling's own code: scripts/fixtures/
agent_scaling.py): the centralized topology evaluates only the hub, and BAE runs keep only the answers the
evaluator could parse, so the list cannot be matched to the agents. There every agent's answer is extracted from
its text by the evaluator's own rule (`src/evaluator.py`, `extract_answer` below) and checked against the
round's `answer` the way the evaluator checks it; an answer it cannot parse is null. A round's consensus is
taken over the answers known.
Requests: API agents (Agent-Scaling's Azure and OpenAI-compatible model keys, API_MODELS) are sent the system
message "You are a helpful assistant." before every request (`src/model/model_utils.py`, `engine`): it is part
of the rebuilt request and counted. A local model run through vLLM got it as well, but the log does not say
whether vLLM was used, so for local model keys it is not counted.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from builder.episode import agent, check_bool, check_text, empty_metadata, episode, majority_share, response, turn
from builder.rejections import Rejection
from builder.token_bases import (AGENT_SCALING_NO_PERSONA, AGENT_SCALING_NO_QUESTION, AGENT_SCALING_TEMPLATE,
                                 register_requests)

TOPOLOGY_SUFFIXES = {"SPARSE": "sparse", "CENTRAL": "centralized"}
# Markers of other run options that Agent-Scaling writes into the file name (src/main.py); not topologies.
RUN_MARKERS = {"BAE", "HETERO", "ENHANCED", "BASEA", "LENMATCH", "BASEB", "SINGLEP"}
MCQ_TASKS = ("hellaswag", "pro_medicine", "formal_logic", "arc", "truthfulqa", "winogrande")
# The instruction suffix appended to every request (src/evaluator.py, get_instruction_suffix), by task kind
# and by the _BAE option; runs with --cot (not visible in the file name) used a third variant.
INSTRUCTION_SUFFIXES = {
    ("gsm8k", False): ' Make sure to state your final answer in curly brackets at the very end of your response, '
                      'just like: "{final answer: 123}".',
    ("gsm8k", True): " Make sure to state your answer at the end of the response.",
    ("mcq", False): " Make sure to state your final answer choice in curly brackets at the very end of your "
                    'response, just like: "{final answer: (A)}".',
    ("mcq", True): " Put your final answer in the form (X) at the end of your response.",
}
# Numbers are ASCII digits only: str.isdigit() and \d accept "³" or "٣", which int() then fails on or misreads.
NAME_PATTERN = re.compile(r"^(?P<head>.+?)__(?P<model>.+?)_N=(?P<n>[0-9]+)_R=(?P<r>[0-9]+)(?P<suffix>.*)$")
AGENT_PATTERN = re.compile(r"^(?P<prefix>.*?)__(?P<model>.+?)__(?P<persona>.*?)__Agent(?P<index>[0-9]+)$")
ROUND_KEY = re.compile(r"[0-9]{1,6}")
MAX_ROUNDS = 1_000  # R in a file name: far beyond any real debate; bounds what one row may claim
# Model keys Agent-Scaling runs through a chat API (src/model/model_utils.py: AZURE_OPENAI_MODELS and
# OPENAI_COMPAT_MODELS): their every request starts with its system message.
API_MODELS = frozenset({"gpt-4o", "gpt-4o-mini", "o1", "o3-mini", "o3", "o4-mini", "gpt-4.1", "gpt-4.1-mini",
                        "gpt-4.1-nano", "gpt-5-mini", "gemini-2.5-flash"})
SYSTEM_MESSAGE = "You are a helpful assistant."
CURLY = re.compile(r"\{(.*?)\}")
PARENTHESISED_CHOICE = re.compile(r"\((\w)\)")


def parse_file_name(path: Path) -> dict:
    """Task, solver, N, R and topology from a history file's name; topology None if the suffix is unknown."""
    stem = path.name.removesuffix(".gz").removesuffix(".jsonl")
    match = NAME_PATTERN.match(stem)
    if not match:
        raise ValueError(f"{path.name}: not an Agent-Scaling history name ({{data}}_{{solver}}_{{size}}__{{model}}_N=n_R=r)")
    head = match.group("head").rsplit("_", 2)
    task, solver = (head[0], head[1]) if len(head) == 3 else (head[0], "")
    markers = [token for token in match.group("suffix").split("_") if token and token.isupper()]
    unknown = [m for m in markers if m not in TOPOLOGY_SUFFIXES and m not in RUN_MARKERS]
    topologies = [TOPOLOGY_SUFFIXES[m] for m in markers if m in TOPOLOGY_SUFFIXES]
    topology = None if unknown else topologies[0] if topologies else "full_mesh"
    if int(match.group("r")) > MAX_ROUNDS or int(match.group("n")) > MAX_ROUNDS:
        raise ValueError(f"{path.name}: N={match.group('n')} or R={match.group('r')} is more than {MAX_ROUNDS}")
    return {"task": task, "solver": solver, "model": match.group("model"), "agents": int(match.group("n")),
            "rounds": int(match.group("r")), "topology": topology, "unknown_suffix": "_".join(unknown) or None,
            "bae": "BAE" in markers}


def agent_scaling_row_to_episode(row, index: int, path: Path, file_info: dict, questions: list[str] | None,
                                 max_text_chars: int) -> dict:
    if file_info["topology"] is None:
        raise Rejection("unknown_topology", f"{path.name}: suffix {file_info['unknown_suffix']}")
    if not isinstance(row, dict) or not row:
        raise Rejection("malformed_row", "expected an object of rounds keyed '0'..'R-1'")
    if not all(isinstance(key, str) and ROUND_KEY.fullmatch(key) for key in row):
        raise Rejection("missing_rounds", f"round keys {sorted(row)[:5]} are not round numbers")
    numbers = sorted(int(key) for key in row)
    if numbers != list(range(file_info["rounds"] + 1)):  # R debate rounds after round 0
        raise Rejection("missing_rounds", f"rounds {numbers[:8]}, expected 0..{file_info['rounds']} (R={file_info['rounds']})")
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
    question = None  # unknown without a questions file
    if questions is not None:
        if index >= len(questions):
            raise Rejection("missing_field", f"questions file has no question {index}")
        question = check_text(questions[index], max_text_chars, "question")
    turns = []
    for number, round_ in enumerate(rounds):
        texts = [check_text(round_["responses"][name], max_text_chars, f"{name} round {number}") for name in names]
        answers, correct = _answers(round_, texts, file_info, number)
        responses = [response(a["agent_id"], text, answer, is_correct)
                     for a, text, answer, is_correct in zip(agents, texts, answers, correct)]
        # Only round 0 carries a user message (the question); later rounds are requests built from the
        # peers' answers (counted by the token stage from Agent-Scaling's template), so their prompt is null.
        turns.append(turn(number, question if number == 0 else None, responses, majority_share(answers)))
    last = rounds[-1]
    if question is None:
        basis = AGENT_SCALING_NO_QUESTION
    elif any(a["persona"] for a in agents):
        basis = AGENT_SCALING_NO_PERSONA  # the persona prompts are in Agent-Scaling's code, not in the log
    else:
        basis = AGENT_SCALING_TEMPLATE
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
                 **_final_correct(last.get("debate_answer_iscorr")),
                 "decision_success": None, "final_consensus": turns[-1]["consensus"], "best_judge_score": None},
        metadata=empty_metadata(str(index)),
        memory="last_round",
        input_tokens_basis=basis.name,
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


def _final_correct(value) -> dict:
    correct = check_bool(value, "debate_answer_iscorr")
    return {"final_correct": correct, "correct_by": None if correct is None else "source"}


def _answers(round_: dict, texts: list[str], file_info: dict, number: int) -> tuple[list, list]:
    """Each agent's answer (as a string, null where none was parsed) and its correctness: the log's own lists
    where they hold one value per agent, else extracted from the texts and checked by the evaluator's rules."""
    count = len(texts)
    logged, logged_correct = round_.get("final_answers"), round_.get("final_answer_iscorr")
    for field, values in (("final_answers", logged), ("final_answer_iscorr", logged_correct)):
        if values is not None and not isinstance(values, list):
            raise Rejection("invalid_type", f"round {number} {field} is {type(values).__name__}, expected a list")
        if values is not None and len(values) > count:
            raise Rejection("agent_count_mismatch", f"round {number} {field} has {len(values)} values for {count} agents")
    if isinstance(logged, list) and len(logged) == count:
        answers = [_answer_text(value, f"round {number} final_answers[{i}]") for i, value in enumerate(logged)]
    else:
        answers = [extract_answer(text, file_info["task"], file_info["bae"]) for text in texts]
    if isinstance(logged_correct, list) and len(logged_correct) == count:
        correct = [check_bool(value, f"round {number} final_answer_iscorr[{i}]") for i, value in enumerate(logged_correct)]
    else:
        truth = round_.get("answer")
        correct = [None if a is None or truth is None else answer_is_correct(a, truth, file_info["task"], file_info["bae"])
                   for a in answers]
    return answers, correct


def _answer_text(value, where: str) -> str | None:
    """A logged answer as text; the evaluator writes "" for an answer it could not parse."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise Rejection("invalid_type", f"{where} is {type(value).__name__}")
    return check_text(str(value), 10_000, where)


def extract_answer(text: str, task: str, bae: bool) -> str | None:
    """An agent's answer as Agent-Scaling's evaluator parses it (`src/evaluator.py`), written as the log writes it
    (GSM8K: a float such as "28.0"; multiple choice: "(B)"); None where it parses none.
    - GSM8K: the last {...} in the text, "final answer:" removed, as a number rounded to one decimal;
      BAE: the last space-separated word that is a number, not rounded.
    - multiple choice: the last {...}, "final answer:" removed: a choice of one or two characters is its first
      character, a longer one its second ("(B)" -> B); BAE: the last "(X)" in the text, upper-cased."""
    if task == "gsm8k":
        if bae:
            for word in reversed(text.split(" ")):
                number = _float(word)
                if number is not None:
                    return str(number)
            return None
        found = CURLY.findall(text)
        number = _float(found[-1].replace("final answer:", "").strip()) if found else None
        return None if number is None else str(float(np.round(number, 1)))  # numpy's rounding, as the evaluator's
    if task in MCQ_TASKS:
        if bae:
            choices = PARENTHESISED_CHOICE.findall(text)
            return f"({choices[-1].upper()})" if choices else None
        found = CURLY.findall(text)
        choice = found[-1].replace("final answer:", "").strip() if found else ""
        if not choice:
            return None
        return f"({choice[0]})" if len(choice) < 3 else f"({choice[1]})"
    return None


def answer_is_correct(answer: str, truth, task: str, bae: bool) -> bool | None:
    """The evaluator's check of one answer: GSM8K compares the number with the reference rounded to one decimal,
    multiple choice compares the choice with the reference as written."""
    if task == "gsm8k":
        reference = _float(str(truth))
        return None if reference is None else float(answer) == float(np.round(reference, 1))
    return answer == str(truth)


def _float(text: str) -> float | None:
    try:
        number = float(text)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def agent_scaling_order(questions: list[str]) -> list[str]:
    """The questions in the order Agent-Scaling numbers them (src/data/gsm8k.py: `dataset.sample(frac=1,
    random_state=0)`): pandas draws that permutation as numpy's RandomState(0).permutation(n)."""
    return [questions[i] for i in np.random.RandomState(0).permutation(len(questions))]


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


def instruction_suffix(task: str, bae: bool) -> str:
    """The suffix Agent-Scaling appends to every request of `task` (empty for a task it has none for)."""
    kind = "gsm8k" if task == "gsm8k" else "mcq" if task in MCQ_TASKS else None
    return INSTRUCTION_SUFFIXES.get((kind, bae), "")


def agent_scaling_requests(episode: dict) -> list[list[list[dict]]]:
    """The chat messages each agent was sent in each round ([round][agent] -> [{role, content}]), rebuilt from
    Agent-Scaling's templates (`get_new_message`): round 0 is the question plus the instruction suffix; a later
    round shows the peers' previous answers (sparse: the ring neighbours i-1 and i+1, the same agent twice when
    there are two agents; centralized: the hub reads everyone, the others read the hub), the agent's own previous
    answer, then the question and the suffix again. API agents get the system message first (`engine`). A persona
    prompt, where the run had one, would precede each request; it is not in the log and not counted (the
    episode's basis says so)."""
    question = episode["turns"][0]["prompt"] or ""
    suffix = instruction_suffix(episode["task"], parse_file_name(Path(episode["source"]))["bae"])
    topology = episode["topology"]
    system = [[{"role": "system", "content": SYSTEM_MESSAGE}] if a["model"] in API_MODELS else []
              for a in episode["agents"]]
    texts = [[question + suffix for _ in episode["agents"]]]
    close = ("\n\nUse these opinions carefully as additional advice to revise your recent opinion to give your "
             "final answer to the question:\n" + question + suffix)
    for previous in episode["turns"][:-1]:
        answers = [r["content"] for r in previous["responses"]]
        count, messages = len(answers), []
        for i, own in enumerate(answers):
            if topology == "centralized" and i > 0:
                message = f"This is the recent opinion from another agent: \n{answers[0]}\n"
            else:
                if topology == "sparse":
                    peers = [(i - 1) % count, (i + 1) % count]
                else:  # full mesh, or the hub of a centralized debate
                    peers = [j for j in range(count) if j != i]
                message = "These are the recent opinions from other agents: " + "".join(
                    f"\n\nOne of the agents' response: \n{answers[j]}\n" for j in peers)
            messages.append(message + f"\n\nThis was your most recent opinion:\n{own}\n" + close)
        texts.append(messages)
    return [[system[i] + [{"role": "user", "content": text}] for i, text in enumerate(round_)] for round_ in texts]


# the token-log stage counts these bases from the requests rebuilt here
register_requests((AGENT_SCALING_TEMPLATE, AGENT_SCALING_NO_QUESTION, AGENT_SCALING_NO_PERSONA), agent_scaling_requests)
