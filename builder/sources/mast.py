"""MAST's traces (Cemri et al., "Why Do Multi-Agent LLM Systems Fail?"; the MAD dataset, mcemri/MAST-Data on the
Hub, CC-BY-4.0) as agent-team episodes, each system's log read by builder/sources/mast_logs.py, with MAST's failure
modes as the source's own annotations.

Two layouts, both JSON arrays:
- MAD_full_dataset.json: {mas_name, llm_name, benchmark_name, trace_id, trace: {key, index, trajectory},
  mast_annotation: {"1.1": 0|1, ..., "3.3": 0|1}}, labelled by the authors' LLM judge; `(trace.key, trace_id)` is
  unique; a few rows have every code null (an annotation with no verdict: no failure modes are recorded).
- MAD_human_labelled_dataset.json: 19 traces, {round, mas_name, benchmark_name, trace_id, trace (text),
  annotations: [{"failure mode": "<code> <title>\\n\\n<definition>", annotator_1..3: bool or NaN}]}. Rounds 1 to 3
  use earlier versions of the taxonomy (18 and 17 modes, numbered differently), the last round the final 14; two
  records have mas_name and benchmark_name swapped (mas_name "GAIA"): the system is whichever names one.

An earlier version's mode is mapped to a final code only where the file itself says they are the same mode: the
final definition is the earlier one's definition word for word, or opens with the earlier title (the final
2.6, 3.1, 3.2 and 3.3 do: "Inconsistency between reasoning and action ...", "Ill specified termination condition
...", "Lack of critical verification ...", "Lack of result verification ..."). Four earlier modes have no
counterpart and keep a null code. Nothing derived from a failure mode enters the turn events or the latents: they
are read from the turns alone.

Each system's input tokens are counted from the contents under full_history (every system's agents see the
conversation before them: AG2's group chat, ChatDev's and HyperAgent's chats, MetaGPT's environment, the
orchestrators' ledgers), and the provider's own usage is kept per response where the log records it (ChatDev's
OpenAI_Usage_Info, OpenManus's Token usage lines).
"""

from __future__ import annotations

import math
import re

from builder.episode import (agent, check_id, check_text, empty_annotations, empty_metadata, empty_outcome, episode,
                             response, turn)
from builder.rejections import Rejection
from builder.sources.mast_logs import system_of

HUB_ID = "mcemri/MAST-Data"
HUB_FILE = "MAD_full_dataset.json"
TAXONOMY = "mast_14"

# MAST's final taxonomy as the human-labelled file's last round writes it (CC-BY-4.0): code -> (title, definition);
# the definitions without the earlier title that opens four of them, and without the annotators' working notes in
# 3.1 and 3.2 (what counts as necessary information; "verifier exists ..."), which the card does not need.
FAILURE_MODES: dict[str, tuple[str, str]] = {
    "1.1": ("Disobey Task Specification", "Failure to adhere to the specified constraints or requirements of a given "
            "task, leading to suboptimal or incorrect outcomes."),
    "1.2": ("Disobey Role Specification", "Failure to adhere to the defined responsibilities and constraints of an "
            "assigned role, potentially leading to an agent behaving like another."),
    "1.3": ("Step Repetition", "Unnecessary reiteration of previously completed steps in a process, potentially "
            "causing delays or errors in task completion."),
    "1.4": ("Loss of Conversation History", "Unexpected context truncation, disregarding recent interaction history "
            "and reverting to an antecedent conversational state."),
    "1.5": ("Unaware of Termination Conditions", "Lack of recognition or understanding of the criteria that should "
            "trigger the termination of the agents’ interaction, potentially leading to unnecessary continuation."),
    "2.1": ("Conversation reset", "Unexpected or unwarranted restarting of a dialogue, potentially losing context and "
            "progress made in the interaction."),
    "2.2": ("Fail to ask for clarification", "(between agents) Inability to request additional information between "
            "agent when faced with unclear or incomplete data, potentially resulting in incorrect actions."),
    "2.3": ("Task derailment", "Deviation from the intended objective or focus of a given task, potentially resulting "
            "in irrelevant or unproductive actions."),
    "2.4": ("Information Witholding", "Failure to share or communicate important data that an agent has obtained "
            "before and did not share that information with other agents potentially leading to failures or "
            "inefficiencies."),
    "2.5": ("Ignored Other Agents' Input", "Disregarding or failing to adequately consider input or recommendations "
            "provided by other agents in the system, potentially leading to suboptimal decisions or missed "
            "opportunities for collaboration."),
    "2.6": ("Reasoning-Action Mismatch", "Discrepancy between the logical reasoning process and the actual actions "
            "taken by the agent, potentially resulting in unexpected or undesired behaviors."),
    "3.1": ("Premature Termination", "Ending a dialogue, interaction or task before all necessary information has "
            "been exchanged or objectives have been met."),
    "3.2": ("No or Incomplete Verification", "Failure to adequately validate or cross-check crucial information or "
            "decisions during the iterations, potentially leading to errors or vulnerabilities in the system."),
    "3.3": ("Incorrect Verification", "Omission of proper checking or confirmation of task outcomes or system outputs, "
            "potentially allowing errors or inconsistencies to propagate undetected."),
}

# Earlier titles (lower-cased) -> the final code, where the file's final definitions restate them (see above).
EARLIER_TITLES = {
    "poor task constraint compliance": "1.1", "disobey role specification": "1.2", "step repetition": "1.3",
    "backtracking interruption": "1.4", "unaware of stopping conditions": "1.5", "conversation reset": "2.1",
    "fail to elicit clarification": "2.2", "derailment from task": "2.3", "withholding relevant information": "2.4",
    "ignoring suggestions from agents": "2.5", "inconsistency between reasoning and action": "2.6",
    "ill specified termination condition leading to premature termination": "3.1",
    "lack of critical verification": "3.2", "lack of result verification": "3.3",
}
FINAL_TITLES = {title.lower(): code for code, (title, _) in FAILURE_MODES.items()}
ANNOTATORS = ("annotator_1", "annotator_2", "annotator_3")
MODE_HEAD = re.compile(r"^\s*(?P<code>\d+\.\d+)\s+(?P<title>[^\n]+)")


def is_mast_row(row) -> bool:
    return isinstance(row, dict) and "mas_name" in row and "trace" in row


def mast_row(row: dict, source: str, max_text_chars: int) -> tuple[dict, dict]:
    """(the episode, the lines of its log that are no agent's message, by kind)."""
    system, reader = _system(row)
    benchmark = row.get("benchmark_name") if system_of(row.get("mas_name")) else row.get("mas_name")
    trace = row["trace"]
    human = "annotations" in row
    if not human:
        if not isinstance(trace, dict) or "trajectory" not in trace:
            raise Rejection("missing_field", f"{system} trace {row.get('trace_id')!r} has no trace.trajectory")
        key, trace = trace.get("key"), trace["trajectory"]
    log = reader(trace)
    trace_id = check_id(row.get("trace_id"), "trace_id")
    collection = "human" if human else check_id(key, "trace.key") if key is not None else system
    name = f"mast:{collection}:{trace_id}"
    if not log.said:
        raise Rejection("empty_conversation", f"{system} trace {trace_id}: its log holds no agent's message")
    turns, agent_ids = [], []
    for said in log.said:
        if said.speaker not in agent_ids:
            agent_ids.append(said.speaker)
        answer = response(said.speaker, check_text(said.content, max_text_chars, f"{system} message"),
                          kind=said.kind, addressee=said.addressee)
        answer["provider_input_tokens"], answer["provider_output_tokens"] = said.input_tokens, said.output_tokens
        prompt = None if said.prompt is None else check_text(said.prompt, max_text_chars, f"{system} prompt")
        turns.append(turn(len(turns), prompt, [answer]))
    if len(agent_ids) < 2:
        raise Rejection("too_few_agents", f"{system} trace {trace_id}: {len(agent_ids)} agent(s) speak")
    model = row.get("llm_name") if isinstance(row.get("llm_name"), str) and row.get("llm_name") else "unknown"
    outcome = empty_outcome()
    if log.correct is not None:
        outcome.update(final_correct=log.correct, correct_by="source")
    annotations = empty_annotations()
    modes = _human_modes(row["annotations"]) if human else _judged_modes(row.get("mast_annotation"))
    annotations.update(annotator="human" if human else "llm", failure_modes=modes + _note_checklist(log.note),
                       note=_note_text(log.note))
    metadata = empty_metadata(log.question_id or trace_id)
    return episode(
        episode_id=name, source=source, topology="full_mesh",
        task=f"mast:{system}:{benchmark if isinstance(benchmark, str) else 'unknown'}",
        agents=[agent(a, model, system_prompt=log.system_prompts.get(a)) for a in agent_ids],
        turns=turns, winner=None, outcome=outcome, metadata=metadata, memory="full_history",
        annotations=annotations,
    ), dict(log.skipped)


def _system(row: dict):
    """The system and its reader: mas_name names it, or benchmark_name where the two are swapped."""
    for field in ("mas_name", "benchmark_name"):
        found = system_of(row.get(field))
        if found:
            return found
    raise Rejection("invalid_value", f"MAST trace {row.get('trace_id')!r}: mas_name {row.get('mas_name')!r} is none of "
                    "ChatDev, MetaGPT, AG2, HyperAgent, AppWorld, Magentic-One, OpenManus")


def _judged_modes(value) -> list[dict]:
    """The full dataset's {code: 0|1} from the LLM judge; a code left null is no verdict (not recorded)."""
    if value is None:
        return []
    if not isinstance(value, dict):
        raise Rejection("invalid_type", f"mast_annotation is {type(value).__name__}, expected an object of codes")
    modes = []
    for code, flag in value.items():
        if flag is None:
            continue
        if code not in FAILURE_MODES or flag not in (0, 1) or isinstance(flag, float) and math.isnan(flag):
            raise Rejection("invalid_value",
                            f"mast_annotation[{code!r}] = {flag!r}: expected a code 1.1-3.3 and 0 or 1")
        modes.append(_mode(code, code, FAILURE_MODES[code][0], TAXONOMY, [bool(flag)]))
    return modes


def _human_modes(annotations) -> list[dict]:
    if not isinstance(annotations, list):
        raise Rejection("invalid_type", "annotations is not a list")
    taxonomy = {14: "mast_14", 17: "mast_17", 18: "mast_18"}.get(len(annotations), f"mast_{len(annotations)}")
    modes = []
    for position, entry in enumerate(annotations):
        head = MODE_HEAD.match(entry.get("failure mode", "")) if isinstance(entry, dict) else None
        if head is None:
            raise Rejection("invalid_value", f"annotations[{position}] names no failure mode (\"<code> <title>\")")
        title = head.group("title").strip()
        final = FINAL_TITLES.get(title.lower()) if taxonomy == TAXONOMY else EARLIER_TITLES.get(title.lower())
        flags = [_flag(entry.get(name), position) for name in ANNOTATORS]
        modes.append(_mode(final, head.group("code"), title, taxonomy, flags))
    return modes


def _flag(value, position: int) -> bool | None:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float) and math.isnan(value):
        return None  # the annotator left it empty
    raise Rejection("invalid_type",
                    f"annotations[{position}]: an annotator's verdict is {value!r}, expected true/false")


def _note_checklist(note: dict | None) -> list[dict]:
    """An annotator's yes/no checklist in the trace's note (AG2's and HyperAgent's traces carry one)."""
    options = note.get("options") if note else None
    if not isinstance(options, dict):
        return []
    return [_mode(EARLIER_TITLES.get(title.lower()), None, title, "note_checklist",
                  [{"yes": True, "no": False}.get(str(answer).strip().lower())])
            for title, answer in options.items()]


def _note_text(note: dict | None) -> str | None:
    text = note.get("text") if note else None
    if isinstance(text, list):
        text = "\n".join(str(line) for line in text)
    return text.strip() or None if isinstance(text, str) else None


def majority_of(flags: list[bool | None]) -> bool | None:
    """Whether more than half of the annotators who gave a verdict flagged the mode; None where none gave one."""
    given = [flag for flag in flags if flag is not None]
    return sum(given) * 2 > len(given) if given else None


def _mode(code, source_code, title, taxonomy, flags) -> dict:
    return {"code": code, "source_code": source_code, "title": title, "taxonomy": taxonomy, "flags": flags,
            "majority": majority_of(flags)}


def skipped_detail(system_task: str, trace: str, skipped: dict) -> str:
    kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(skipped.items(), key=lambda item: -item[1]))
    return f"{system_task} trace {trace}: {sum(skipped.values())} log lines are no agent's message ({kinds})"


__all__ = ["FAILURE_MODES", "HUB_FILE", "HUB_ID", "is_mast_row", "majority_of", "mast_row", "skipped_detail"]
