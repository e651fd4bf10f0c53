"""The offline labeler: deterministic formulas over an episode's texts, token counts and embeddings.

It never reads the outcome (`winner`, `outcome`, correctness, judge scores): labels made from the verdict
could not be compared with the verdict. A test shuffles the winners of a build's input and checks that
every label is unchanged.

Inputs per turn: the agents' answer embeddings (mean pairwise cosine = agreement), each answer's cosine
to the turn's prompt (relevance; a round without a new prompt is compared with the episode's first
prompt, and an episode with no prompt text has no relevance term), output tokens, refusals (a phrase
list, English and a few common openers in de/fr/es/zh), empty answers, and the prompt's similarity to
the previous prompt. Inputs per episode: the token totals.

    agreement      = mean over turns of the mean pairwise cosine of the answers; a turn with one speaker (an
                     agent team) compares its message with the previous message of another agent, the one it
                     answers (no value for the first speaker)
    agreement_level: high if agreement >= 0.80, medium if >= 0.60, else low
    relevance      = mean over turns and agents of cos(e(prompt), e(answer))
    coordination_success = clip(round(2 + 5 * clip((relevance - 0.1) / 0.5, 0, 1)
                                      + 3 * clip((agreement - 0.4) / 0.6, 0, 1)
                                      - 2 * refusing_turn_share - 3 * all_refuse_turn_share - 2 * empty_answer_share), 0, 10)
        (on-topic answers add up to 5, converging answers up to 3, refusals and empty answers subtract;
         without any prompt text the relevance term is its midpoint, 2.5)
    efficiency_rating = clip(round(10 * (0.5 * balance + 0.3 * resend + 0.2 * useful)), 0, 10)
        balance = 1 - (max_i out_i - min_i out_i) / output_tokens  (1 = equal output budgets)
        resend  = 1 / history_resend_ratio  (1 for one turn; lower as re-sent history grows)
        useful  = share of output tokens in answers that are neither refusals nor empty
The same formulas serve 2 and N agents, and agent teams that speak one at a time.

Events of turns with one speaker (agent-team transcripts), from the text alone: repetition (the speaker's
message has cosine >= 0.95 to one of its own earlier messages: agents caught in a loop), off_task (a message or
thought with cosine < 0.10 to the episode's first prompt, the task), tool_error (a tool result that reports an
error: a non-zero exit code, a traceback, or a line starting with an error name); converge, diverge and
length_imbalance compare several answers and need several.
"""

from __future__ import annotations

import re
from itertools import combinations

import numpy as np

NAME = "offline_rules"
VERSION = "offline_rules_v3"  # v2: reads no outcome (v1 started from the winner); v3: one-speaker turns, repetition, tool_error, off_task

HIGH_AGREEMENT, MEDIUM_AGREEMENT = 0.80, 0.60
CONVERGE, DIVERGE, TOPIC_SHIFT, IMBALANCE = 0.80, 0.50, 0.30, 3.0
REPETITION, OFF_TASK = 0.95, 0.10
TOOL_ERROR = re.compile(r"exitcode: [1-9]|Traceback \(most recent call last\)|^\w*(Error|Exception):", re.MULTILINE)
RELEVANT_FROM, RELEVANT_SPAN = 0.1, 0.5

REFUSAL = re.compile(
    r"^\W*(i('m| am)? (sorry|afraid)[^.]{0,40}\b(can(no|')t|unable|won't)|i can(no|')t (help|assist|provide|write|do)"
    r"|i('m| am) (unable|not able) to|i won't|as an ai\b|i must decline|i do not feel comfortable"
    r"|ich kann (dir |ihnen )?(dabei )?nicht|je ne peux pas|no puedo (ayudar|hacer)|抱歉，我(不能|无法))",
    re.IGNORECASE,
)


def is_refusal(text: str) -> bool:
    return bool(REFUSAL.search(text.strip()[:200]))


def mean_pairwise_cosine(vectors: np.ndarray) -> float:
    pairs = list(combinations(range(len(vectors)), 2))
    if not pairs:
        return 1.0
    return float(np.mean([np.dot(vectors[i], vectors[j]) for i, j in pairs]))


def agreement_level(agreement: float) -> str:
    return "high" if agreement >= HIGH_AGREEMENT else "medium" if agreement >= MEDIUM_AGREEMENT else "low"


def clip(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def agreement_bonus(agreement: float) -> float:
    """0 to 3 points: converging answers are coordination (cosine 0.4 gives nothing, 1.0 the full 3)."""
    return 3 * clip((agreement - 0.4) / 0.6, 0, 1)


def relevance_points(relevance: float | None) -> float:
    """0 to 5 points: answers close to what was asked (cosine 0.1 gives nothing, 0.6 and above the full 5)."""
    return 2.5 if relevance is None else 5 * clip((relevance - RELEVANT_FROM) / RELEVANT_SPAN, 0, 1)


FAILURE_EVENTS = ("tool_error", "repetition", "off_task", "refusal", "all_refuse", "empty_answer")
# The offline rule below does not beat a constant: on Who&When, the best trivial baseline chosen on the tuning
# split (Algorithm-Generated) finds the annotated mistake agent of the held-out Hand-Crafted runs more often than
# the rule does (the build's own attribution table measures both, builder/benchmark/attribution.py). So the
# offline labeler emits no failure_agent / failure_turn_index (null), rather than a label worse than a constant;
# the rule is kept, and measured, as the attribution table's `offline_rule` row.
RULE_SILENT = ("the offline labeler gives no failure_agent / failure_turn_index (null): on Who&When's held-out "
               "Hand-Crafted runs its rule does not beat the best trivial baseline chosen on the tuning split "
               "(Algorithm-Generated), that is, the lower end of its 95% interval is not above the baseline's "
               "accuracy for the agent and for the step; the rule is measured as `offline_rule` instead")


def failure_attribution(episode: dict, events: list[list[str]]) -> dict:
    """{failure_agent, failure_turn_index} of an episode whose agents speak one at a time: the first turn with a
    failure event (a tool error points at the agent whose code failed: the last earlier turn that is not a tool
    result), else the last turn that is not a tool result; both null for other episodes. Text-based events only:
    neither the outcome nor the source's annotations are read."""
    turns = episode["turns"]
    if not turns or any(len(t["responses"]) != 1 for t in turns):
        return {"failure_agent": None, "failure_turn_index": None}
    tools = [t["responses"][0].get("kind") == "tool_result" for t in turns]
    answered = [t for t, tool in enumerate(tools) if not tool] or list(range(len(turns)))
    flagged = next((t for t, names in enumerate(events) if set(names) & set(FAILURE_EVENTS)), None)
    if flagged is not None and tools[flagged]:
        flagged = max((t for t in answered if t < flagged), default=flagged)
    step = answered[-1] if flagged is None else flagged
    return {"failure_agent": turns[step]["responses"][0]["agent_id"], "failure_turn_index": step}


class OfflineLabeler:
    """Labels from the embedding table of the build (vectors are L2-normalised)."""

    identity = {"name": NAME, "version": VERSION, "model": None, "prompt_version": None}

    def __init__(self, table):
        self.table = table

    def turn_signals(self, episode: dict) -> list[dict]:
        signals, previous_prompt = [], None
        question = next((t["prompt"] for t in episode["turns"] if t["prompt"]), None)
        question_vector = self.table.of([question])[0] if question else None
        said: dict[str, list[np.ndarray]] = {}  # each agent's earlier messages (one-speaker turns)
        last = None  # (agent, vector) of the previous one-speaker turn
        for turn in episode["turns"]:
            answers = [r["content"] for r in turn["responses"]]
            answer_vectors = self.table.of(answers)
            alone = len(answers) == 1
            speaker = turn["responses"][0]["agent_id"]
            replied = alone and last is not None and last[0] != speaker
            earlier = said.get(speaker, []) if alone else []
            # A round without a new user message (null) is neither embedded nor compared with the previous
            # prompt; its answers are compared with the episode's question for relevance.
            prompt_vector = self.table.of([turn["prompt"]])[0] if turn["prompt"] else None
            reference = prompt_vector if prompt_vector is not None else question_vector
            refusals = [is_refusal(a) for a in answers]
            empties = [not a.strip() for a in answers]
            tokens = [r["output_tokens"] for r in turn["responses"]]
            signals.append({
                "several": not alone,
                "agreement": (mean_pairwise_cosine(answer_vectors) if not alone
                              else float(np.dot(answer_vectors[0], last[1])) if replied else None),
                "repetition": bool(earlier) and max(float(np.dot(answer_vectors[0], v)) for v in earlier) >= REPETITION,
                "off_task": (alone and question_vector is not None and turn["responses"][0].get("kind") != "tool_result"
                             and turn["prompt"] is None and float(np.dot(answer_vectors[0], question_vector)) < OFF_TASK),
                "tool_error": any(r.get("kind") == "tool_result" and bool(TOOL_ERROR.search(r["content"]))
                                  for r in turn["responses"]),
                "relevance": None if reference is None else float(np.mean(answer_vectors @ reference)),
                "refusals": sum(refusals),
                "agents": len(answers),
                "empty": sum(empties),
                "wasted_tokens": sum(t for t, r, e in zip(tokens, refusals, empties) if r or e),
                "imbalance": max(tokens) >= IMBALANCE * max(min(tokens), 1) and max(tokens) > 0,
                "prompt_similarity": (None if previous_prompt is None or prompt_vector is None
                                      else float(np.dot(prompt_vector, previous_prompt))),
            })
            if prompt_vector is not None:
                previous_prompt = prompt_vector
            if alone:
                said.setdefault(speaker, []).append(answer_vectors[0])
                last = (speaker, answer_vectors[0])
        return signals

    @staticmethod
    def events(signal: dict) -> list[str]:
        events = []
        if signal["several"] and signal["agreement"] >= CONVERGE:
            events.append("converge")
        elif signal["several"] and signal["agreement"] < DIVERGE:
            events.append("diverge")
        if signal["refusals"] == signal["agents"]:
            events.append("all_refuse")
        elif signal["refusals"]:
            events.append("refusal")
        if signal["empty"]:
            events.append("empty_answer")
        if signal["several"] and signal["imbalance"]:
            events.append("length_imbalance")
        if signal["prompt_similarity"] is not None and signal["prompt_similarity"] < TOPIC_SHIFT:
            events.append("topic_shift")
        events += [name for name in ("repetition", "tool_error", "off_task") if signal[name]]
        return events

    def label(self, episode: dict) -> tuple[dict, list[list[str]]]:
        signals = self.turn_signals(episode)
        turns = len(signals)
        measured = [s["agreement"] for s in signals if s["agreement"] is not None]
        agreement = float(np.mean(measured)) if measured else 1.0  # one agent's answers agree with themselves
        related = [s["relevance"] for s in signals if s["relevance"] is not None]
        relevance = float(np.mean(related)) if related else None
        refusing = sum(1 for s in signals if 0 < s["refusals"] < s["agents"]) / turns
        all_refusing = sum(1 for s in signals if s["refusals"] == s["agents"]) / turns
        empty = sum(s["empty"] / s["agents"] for s in signals) / turns
        penalty = 2 * refusing + 3 * all_refusing + 2 * empty
        success = clip(round(2 + relevance_points(relevance) + agreement_bonus(agreement) - penalty), 0, 10)

        totals, efficiency_metrics = episode["token_totals"], episode["communication_efficiency"]
        outputs = {a["agent_id"]: a["output_tokens"] for a in totals["per_agent"]}
        output_total = totals["output_tokens"]
        balance = 1 - (max(outputs.values()) - min(outputs.values())) / output_total if output_total else 1.0
        resend = 1 / efficiency_metrics["history_resend_ratio"] if efficiency_metrics["history_resend_ratio"] else 1.0
        useful = 1 - sum(s["wasted_tokens"] for s in signals) / output_total if output_total else 0.0
        efficiency = clip(round(10 * (0.5 * balance + 0.3 * resend + 0.2 * useful)), 0, 10)

        labels = {
            "coordination_success": int(success),
            "agreement_level": agreement_level(agreement),
            "efficiency_rating": int(efficiency),
            "rationale": self.rationale(agreement, relevance, outputs, refusing + all_refusing, empty),
            "failure_agent": None, "failure_turn_index": None,  # RULE_SILENT
            "labeler": dict(self.identity),
            "missing_reason": None,
        }
        return labels, [self.events(s) for s in signals]

    @staticmethod
    def rationale(agreement: float, relevance: float | None, outputs: dict[str, int], refusal_share: float,
                  empty_share: float) -> str:
        """What the numbers say, in words; it states no verdict (the labeler never sees one)."""
        strength = {"high": "agree strongly", "medium": "partly agree", "low": "disagree"}[agreement_level(agreement)]
        parts = [f"answers {strength} (cos {agreement:.2f})"]
        if relevance is not None:
            topic = "on topic" if relevance >= 0.4 else "partly on topic" if relevance >= 0.2 else "off topic"
            parts.append(f"{topic} (prompt cos {relevance:.2f})")
        parts.append("output tokens " + " vs ".join(str(v) for v in outputs.values()))
        if refusal_share:
            parts.append(f"refusals in {refusal_share:.0%} of turns")
        if empty_share:
            parts.append(f"{empty_share:.0%} of answers empty")
        return "; ".join(parts) + "."
