"""What the report, the card's figures and the label validity read of a family's episodes, gathered in one pass.

The writing pass streams the episodes; each one is added here as it goes by and then dropped. A tally keeps
numbers in typed arrays (8 bytes a value) and names in counters, a few hundred bytes an episode instead of
the ~46 KB of the episode itself, so the report costs no more memory at 24,000 episodes than the build's
other flat parts. `builder/output/report.py` turns a tally into the report's sections.
"""

from __future__ import annotations

import sys
from array import array
from collections import Counter, defaultdict

import numpy as np

from builder.provenance import judge_kind_of
from builder.stages.labels.vocabulary import AGREEMENT_LEVELS, EVENTS
from builder.stages.latents.probe import group_of

EFFICIENCY_NAMES = ("avg_tokens_per_turn", "input_output_ratio", "coordination_overhead", "history_resend_ratio")
TOTAL_NAMES = ("prompt_tokens", "output_tokens", "total_tokens", "agent_input_tokens")



def _numbers() -> array:
    return array("d")


class FamilyTally:
    """One pass over a family's episodes; the family (builder.families) adds what its outcome report reads and
    names each episode's outcome group, by which the labels are grouped."""

    def __init__(self, family):
        self.family = family
        self.episodes = 0
        self.turns = 0
        self.sum_total_tokens = 0
        self.numbers: dict[str, array] = defaultdict(_numbers)     # per-episode values, by name
        self.by_key: dict[str, dict[str, array]] = defaultdict(lambda: defaultdict(_numbers))  # per-key values
        self.counters: dict[str, Counter] = defaultdict(Counter)
        self.judge_kinds_by_source: dict[str, Counter] = defaultdict(Counter)  # what each source's judge ids show
        self.agent_ids: list[str] = []          # the first episode's agents: the token figure's legend
        self.final_states = array("f")          # h_T of every episode, one after another (float32), for the latent figure
        self.outcome_groups: list[str] = []     # per episode: the winner, or correct / wrong / unknown
        self.validity_groups: array = array("q")  # per episode: its prompt or question, as a number
        self._group_numbers: dict[str, int] = {}
        self.label_sums: dict[str, Counter] = defaultdict(Counter)  # outcome group -> sums of the label scores
        self.records: dict[str, list] = {}      # small per-episode records a family keeps (agent teams: attribution)

    def add_all(self, episodes) -> "FamilyTally":
        for episode in episodes:
            self.add(episode)
        return self

    def add(self, episode: dict) -> None:
        self.episodes += 1
        self.turns += len(episode["turns"])
        totals = episode["token_totals"]
        self.sum_total_tokens += totals["total_tokens"]
        for name in TOTAL_NAMES:
            self.numbers[name].append(totals[name])
        for position, agent in enumerate(totals["per_agent"]):
            self.by_key["output_tokens_by_position"][str(position)].append(agent["output_tokens"])
        for name in EFFICIENCY_NAMES:
            if episode["communication_efficiency"][name] is not None:
                self.numbers[name].append(episode["communication_efficiency"][name])
        if not self.agent_ids:
            self.agent_ids = [a["agent_id"] for a in episode["agents"]]
        self.numbers["agents"].append(len(episode["agents"]))
        self.numbers["turns"].append(len(episode["turns"]))
        self.numbers["effective_diversity_mean"].append(round(episode["effective_diversity_mean"], 6))
        self.final_states.extend(np.asarray(episode["turns"][-1]["latent_h"], dtype=np.float32))  # not an array each
        for turn in episode["turns"]:
            self.by_key["diversity_by_turn"][str(turn["turn_index"])].append(round(turn["effective_diversity"], 6))
        self.counters["models"].update(a["model"] for a in episode["agents"])
        judge_kind = judge_kind_of(episode["metadata"]["judge"]) or "not recorded"
        self.counters["judge_kinds"][judge_kind] += 1
        self.judge_kinds_by_source[episode["source"]][judge_kind] += 1
        self.outcome_groups.append(sys.intern(self.family.tally_outcome(self, episode)))
        self._add_labels(episode)
        group = group_of(episode)
        self.validity_groups.append(self._group_numbers.setdefault(group, len(self._group_numbers)))

    def _add_labels(self, episode: dict) -> None:
        labels = episode["labels"]
        signals = self.by_key["label_signal"]
        if labels["missing_reason"] is not None:
            self.counters["missing_reasons"][labels["missing_reason"]] += 1
            for name in ("coordination_success", "efficiency_rating", "agreement_level"):
                signals[name].append(np.nan)
        else:
            group = self.outcome_groups[-1]
            self.counters["coordination_success"][labels["coordination_success"]] += 1
            self.counters["efficiency_rating"][labels["efficiency_rating"]] += 1
            self.counters["agreement_level"][labels["agreement_level"]] += 1
            self.counters["turn_events"].update(e for t in episode["turns"] for e in t["coordination_events"])
            self.label_sums[group].update({"episodes": 1, "coordination_success": labels["coordination_success"],
                                           "efficiency_rating": labels["efficiency_rating"],
                                           f"agreement:{labels['agreement_level']}": 1})
            signals["coordination_success"].append(labels["coordination_success"])
            signals["efficiency_rating"].append(labels["efficiency_rating"])
            signals["agreement_level"].append(np.nan if labels["agreement_level"] is None
                                             else AGREEMENT_LEVELS.index(labels["agreement_level"]))
        signals["length_baseline"].append(episode["token_totals"]["output_tokens"])

    def final_state_matrix(self) -> np.ndarray:
        """[episodes, rank] float32: every episode's h_T (a view of the tally's buffer)."""
        if not self.episodes:
            return np.zeros((0, 0), np.float32)
        return np.frombuffer(self.final_states, dtype=np.float32).reshape(self.episodes, -1)

    @property
    def labelled(self) -> int:
        return self.episodes - sum(self.counters["missing_reasons"].values())

    def main_failure(self) -> str:
        """The most frequent reason an episode got no label, with how many share it ("none" if all labelled)."""
        reasons = self.counters["missing_reasons"]
        if not reasons:
            return "none"
        reason, count = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))[0]
        return f"{reason} ({count} episodes)"

    def events_known(self) -> dict[str, int]:
        return {event: self.counters["turn_events"].get(event, 0) for event in EVENTS}
