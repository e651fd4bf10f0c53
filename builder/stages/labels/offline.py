"""The offline labeler: deterministic formulas over what an episode already has.

Inputs per turn: the agents' answer embeddings (mean pairwise cosine = agreement), output tokens,
refusals (a phrase list, English and a few common openers in de/fr/es/zh), empty answers, and the
prompt's similarity to the previous prompt. Inputs per episode: the winner and the token totals.

    agreement      = mean over turns of the mean pairwise cosine of the answers
    agreement_level: high if agreement >= 0.80, medium if >= 0.60, else low
    coordination_success = clip(round(base[winner] + 3 * clip((agreement - 0.4) / 0.6, 0, 1)
                                      - 2 * refusing_turn_share - 3 * all_refuse_turn_share), 0, 10)
        base: tie 7, model_a / model_b 6, tie (bothbad) 1   (the human verdict dominates;
        converging answers add up to 3; refusals subtract)
    efficiency_rating = clip(round(10 * value * (0.5 * balance + 0.3 * resend + 0.2 * economy)), 0, 10)
        value   = 0.2 for tie (bothbad) (tokens spent for no good answer), else 1
        balance = 1 - coordination_overhead * total_tokens / output_tokens  (1 = equal output budgets)
        resend  = 1 / history_resend_ratio  (1 for one turn; lower as re-sent history grows)
        economy = for a decisive verdict min(1, loser_output / winner_output) (a winner that needed
                  fewer tokens is more efficient), for ties the balance
For N agents the same formulas run over all agents; where there is no arena verdict (debates, answer
sets) the outcome replaces it:
    coordination_success = clip(round(10 * (0.6 * final_correct + 0.4 * share of final-round answers that
                                are correct)) - refusal terms)   when correctness is known (debates),
                         = clip(round(best judge score) - refusal terms)   when answers are scored,
                         = clip(round(5 + 3 * clip((agreement - 0.4) / 0.6, 0, 1)) - refusal terms) otherwise
    efficiency value = 0.2 when the final answer is wrong or the best score is <= 3, else 1; economy = balance
"""

from __future__ import annotations

import re
from itertools import combinations

import numpy as np

NAME = "offline_rules"
VERSION = "offline_rules_v1"

HIGH_AGREEMENT, MEDIUM_AGREEMENT = 0.80, 0.60
CONVERGE, DIVERGE, TOPIC_SHIFT, IMBALANCE = 0.80, 0.50, 0.30, 3.0
SUCCESS_BASE = {"tie": 7, "model_a": 6, "model_b": 6, "tie (bothbad)": 1}

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


class OfflineLabeler:
    """Labels from the embedding table of the build (answer vectors are L2-normalised)."""

    identity = {"name": NAME, "version": VERSION, "model": None, "prompt_version": None}

    def __init__(self, table):
        self.table = table

    def turn_signals(self, episode: dict) -> list[dict]:
        signals, previous_prompt = [], None
        for turn in episode["turns"]:
            answers = [r["content"] for r in turn["responses"]]
            prompt_vector = self.table.of([turn["prompt"]])[0]
            refusals = [is_refusal(a) for a in answers]
            tokens = [r["output_tokens"] for r in turn["responses"]]
            signals.append({
                "agreement": mean_pairwise_cosine(self.table.of(answers)),
                "refusals": sum(refusals),
                "agents": len(answers),
                "empty": any(not a.strip() for a in answers),
                "imbalance": max(tokens) >= IMBALANCE * max(min(tokens), 1) and max(tokens) > 0,
                "prompt_similarity": None if previous_prompt is None else float(np.dot(prompt_vector, previous_prompt)),
            })
            previous_prompt = prompt_vector
        return signals

    @staticmethod
    def events(signal: dict) -> list[str]:
        events = []
        if signal["agreement"] >= CONVERGE:
            events.append("converge")
        elif signal["agreement"] < DIVERGE:
            events.append("diverge")
        if signal["refusals"] == signal["agents"]:
            events.append("all_refuse")
        elif signal["refusals"]:
            events.append("refusal")
        if signal["empty"]:
            events.append("empty_answer")
        if signal["imbalance"]:
            events.append("length_imbalance")
        if signal["prompt_similarity"] is not None and signal["prompt_similarity"] < TOPIC_SHIFT:
            events.append("topic_shift")
        return events

    def label(self, episode: dict) -> tuple[dict, list[list[str]]]:
        signals = self.turn_signals(episode)
        turns = len(signals)
        agreement = float(np.mean([s["agreement"] for s in signals]))
        refusing = sum(1 for s in signals if 0 < s["refusals"] < s["agents"]) / turns
        all_refusing = sum(1 for s in signals if s["refusals"] == s["agents"]) / turns
        winner = episode["winner"]
        penalty = 2 * refusing + 3 * all_refusing
        if winner is not None:
            success = clip(round(SUCCESS_BASE.get(winner, 5) + agreement_bonus(agreement) - penalty), 0, 10)
        else:
            success = clip(round(self.outcome_success(episode, agreement) - penalty), 0, 10)

        totals, efficiency_metrics = episode["token_totals"], episode["communication_efficiency"]
        outputs = {a["agent_id"]: a["output_tokens"] for a in totals["per_agent"]}
        output_total = totals["output_tokens"]
        balance = 1 - (max(outputs.values()) - min(outputs.values())) / output_total if output_total else 1.0
        resend = 1 / efficiency_metrics["history_resend_ratio"] if efficiency_metrics["history_resend_ratio"] else 1.0
        losers = [out for agent, out in outputs.items() if agent != winner]
        if winner in outputs and outputs[winner]:
            economy = min(1.0, float(np.mean(losers)) / outputs[winner])
        else:
            economy = balance
        value = 0.2 if winner == "tie (bothbad)" or self.failed(episode) else 1.0
        efficiency = clip(round(10 * value * (0.5 * balance + 0.3 * resend + 0.2 * economy)), 0, 10)

        labels = {
            "coordination_success": int(success),
            "agreement_level": agreement_level(agreement),
            "efficiency_rating": int(efficiency),
            "rationale": self.rationale(episode, agreement, outputs, refusing + all_refusing),
            "labeler": dict(self.identity),
            "missing_reason": None,
        }
        return labels, [self.events(s) for s in signals]

    @staticmethod
    def outcome_success(episode: dict, agreement: float) -> float:
        """Success of an episode without an arena verdict, from its outcome (see the module docstring)."""
        outcome = episode["outcome"]
        if outcome["final_correct"] is not None:
            known = [r["is_correct"] for r in episode["turns"][-1]["responses"] if r["is_correct"] is not None]
            share = sum(known) / len(known) if known else float(outcome["final_correct"])
            return 10 * (0.6 * outcome["final_correct"] + 0.4 * share)
        if outcome["best_judge_score"] is not None:
            return outcome["best_judge_score"]
        return 5 + agreement_bonus(agreement)

    @staticmethod
    def failed(episode: dict) -> bool:
        outcome = episode["outcome"]
        return outcome["final_correct"] is False or (outcome["best_judge_score"] is not None
                                                     and outcome["best_judge_score"] <= 3)

    @staticmethod
    def rationale(episode: dict, agreement: float, outputs: dict[str, int], refusal_share: float) -> str:
        strength = {"high": "agree strongly", "medium": "partly agree", "low": "disagree"}[agreement_level(agreement)]
        parts = [f"answers {strength} (cos {agreement:.2f})"]
        winner = episode["winner"]
        if winner in outputs:
            others = [out for agent, out in outputs.items() if agent != winner]
            mine, theirs = outputs[winner], float(np.mean(others)) if others else 0.0
            side = winner.replace("model_", "").upper() if winner.startswith("model_") else winner
            if theirs and mine < theirs:
                parts.append(f"{side} won with {100 * (1 - mine / theirs):.0f}% fewer tokens ({mine} vs {theirs:.0f})")
            elif mine and theirs < mine:
                parts.append(f"{side} won using {100 * (mine / theirs - 1) if theirs else 100:.0f}% more tokens "
                             f"({mine} vs {theirs:.0f})")
            else:
                parts.append(f"{side} won with the same token budget ({mine})")
        elif winner == "tie (bothbad)":
            parts.append("the judge found both answers bad")
        elif winner is not None:
            parts.append(f"the judge saw a tie ({' vs '.join(str(v) for v in outputs.values())} output tokens)")
        else:
            parts.append(OfflineLabeler.outcome_phrase(episode))
        if refusal_share:
            parts.append(f"refusals in {refusal_share:.0%} of turns")
        return "; ".join(parts) + "."

    @staticmethod
    def outcome_phrase(episode: dict) -> str:
        outcome, last = episode["outcome"], episode["turns"][-1]["responses"]
        if outcome["final_correct"] is not None:
            known = [r["is_correct"] for r in last if r["is_correct"] is not None]
            verdict = "correct" if outcome["final_correct"] else f"wrong (truth {outcome['ground_truth']})"
            agents = f", {sum(known)}/{len(known)} agents right in the last round" if known else ""
            return f"final answer {outcome['final_answer']} {verdict}{agents} after {len(episode['turns'])} rounds"
        if outcome["best_judge_score"] is not None:
            best = next(a for a in episode["agents"] if a["agent_id"] == outcome["final_answer"])
            return f"best judge score {outcome['best_judge_score']:g} ({best['model']}) among {len(episode['agents'])} answers"
        return f"{len(episode['agents'])} agents over {len(episode['turns'])} rounds"

