"""What the report, the card's figures and the label validity read of a family's episodes, gathered in one pass.

The writing pass streams the episodes; each one is added here as it goes by and then dropped. A tally keeps
numbers in typed arrays (8 bytes a value) and names in counters, a few hundred bytes an episode instead of
the ~46 KB of the episode itself, so the report costs no more memory at 24,000 episodes than the build's
other flat parts. Every part is a typed field: the tokens, the effective diversity, the labels, and the family's
own outcomes (`family.outcome_tally()`, builder/families). `builder/output/report.py` turns a tally into the
report's sections.
"""

from __future__ import annotations

import sys
from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from builder.provenance import judge_kind_of
from builder.splits import group_of
from builder.stages.labels.report import LABEL_SIGNALS
from builder.stages.labels.vocabulary import AGREEMENT_LEVELS, EVENTS
from builder.statistics import UNKNOWN, numbers

EFFICIENCY_NAMES = ("avg_tokens_per_turn", "input_output_ratio", "coordination_overhead", "history_resend_ratio")
TOTAL_NAMES = ("prompt_tokens", "output_tokens", "total_tokens", "agent_input_tokens")


@dataclass
class TokenTally:
    """Per episode: the token totals and the efficiency metrics (those an episode has); per agent position: the
    output tokens."""

    totals: dict[str, array] = field(default_factory=lambda: {name: numbers() for name in TOTAL_NAMES})
    efficiency: dict[str, array] = field(default_factory=lambda: {name: numbers() for name in EFFICIENCY_NAMES})
    output_by_position: defaultdict[int, array] = field(default_factory=lambda: defaultdict(numbers))
    sum_total: int = 0

    def add(self, episode: dict) -> None:
        totals = episode["token_totals"]
        self.sum_total += totals["total_tokens"]
        for name in TOTAL_NAMES:
            self.totals[name].append(totals[name])
        for position, agent in enumerate(totals["per_agent"]):
            self.output_by_position[position].append(agent["output_tokens"])
        for name in EFFICIENCY_NAMES:
            if episode["communication_efficiency"][name] is not None:
                self.efficiency[name].append(episode["communication_efficiency"][name])


@dataclass
class DiversityTally:
    """The effective diversity N*: each episode's mean, and every turn's value by turn index."""

    episode_mean: array = field(default_factory=numbers)
    by_turn: defaultdict[int, array] = field(default_factory=lambda: defaultdict(numbers))

    def add(self, episode: dict) -> None:
        self.episode_mean.append(round(episode["effective_diversity_mean"], 6))
        for turn in episode["turns"]:
            self.by_turn[turn["turn_index"]].append(round(turn["effective_diversity"], 6))


@dataclass
class OutcomeLabelSums:
    """The sums of the labels of one outcome group's labelled episodes (their means per group)."""

    episodes: int = 0
    coordination_success: int = 0
    efficiency_rating: int = 0
    agreement_level: Counter = field(default_factory=Counter)


@dataclass
class LabelTally:
    """The labelled episodes' labels and turn events, the reasons of the others, the sums per outcome group, and
    per episode the signals the label validity ranks the outcomes by (NaN where an episode has no label; the
    length baseline for every episode)."""

    missing_reasons: Counter = field(default_factory=Counter)
    coordination_success: Counter = field(default_factory=Counter)
    efficiency_rating: Counter = field(default_factory=Counter)
    agreement_level: Counter = field(default_factory=Counter)
    turn_events: Counter = field(default_factory=Counter)
    by_outcome: defaultdict[str, OutcomeLabelSums] = field(default_factory=lambda: defaultdict(OutcomeLabelSums))
    signals: dict[str, array] = field(default_factory=lambda: {name: numbers()
                                                               for name in (*LABEL_SIGNALS, "length_baseline")})

    def add(self, episode: dict, outcome_group: str) -> None:
        labels = episode["labels"]
        if labels["missing_reason"] is not None:
            self.missing_reasons[labels["missing_reason"]] += 1
            for name in LABEL_SIGNALS:
                self.signals[name].append(np.nan)
        else:
            self.coordination_success[labels["coordination_success"]] += 1
            self.efficiency_rating[labels["efficiency_rating"]] += 1
            self.agreement_level[labels["agreement_level"]] += 1
            self.turn_events.update(e for t in episode["turns"] for e in t["coordination_events"])
            sums = self.by_outcome[outcome_group]
            sums.episodes += 1
            sums.coordination_success += labels["coordination_success"]
            sums.efficiency_rating += labels["efficiency_rating"]
            sums.agreement_level[labels["agreement_level"]] += 1
            self.signals["coordination_success"].append(labels["coordination_success"])
            self.signals["efficiency_rating"].append(labels["efficiency_rating"])
            self.signals["agreement_level"].append(np.nan if labels["agreement_level"] is None
                                                   else AGREEMENT_LEVELS.index(labels["agreement_level"]))
        self.signals["length_baseline"].append(episode["token_totals"]["output_tokens"])

    @property
    def missing(self) -> int:
        return sum(self.missing_reasons.values())

    def events_known(self) -> dict[str, int]:
        return {event: self.turn_events.get(event, 0) for event in EVENTS}


class FamilyTally:
    """One pass over a family's episodes: what every family's report reads, and the family's own outcomes
    (`outcomes`, from `family.outcome_tally()`), which also name each episode's outcome group (the label tables
    and the latent figure group by it)."""

    def __init__(self, family):
        self.family = family
        self.episodes = 0
        self.turns = 0
        self.tokens = TokenTally()
        self.diversity = DiversityTally()
        self.labels = LabelTally()
        self.outcomes = family.outcome_tally()
        self.agents_per_episode = numbers()
        self.turns_per_episode = numbers()
        self.models: Counter = Counter()
        self.judge_kinds: Counter = Counter()       # who decided the outcomes, from the episodes' judge ids
        self.judge_kinds_by_source: defaultdict[str, Counter] = defaultdict(Counter)
        self.final_states = array("f")              # h_T of every episode, one after another (float32)
        self.outcome_groups: list[str] = []         # per episode: its outcome group
        self.validity_groups: array = array("q")    # per episode: its prompt or question, as a number
        self._group_numbers: dict[str, int] = {}

    def add_all(self, episodes) -> "FamilyTally":
        for episode in episodes:
            self.add(episode)
        return self

    def add(self, episode: dict) -> None:
        self.episodes += 1
        self.turns += len(episode["turns"])
        self.tokens.add(episode)
        self.diversity.add(episode)
        self.agents_per_episode.append(len(episode["agents"]))
        self.turns_per_episode.append(len(episode["turns"]))
        self.final_states.extend(np.asarray(episode["turns"][-1]["latent_h"], dtype=np.float32))  # not an array each
        self.models.update(a["model"] for a in episode["agents"])
        judge_kind = judge_kind_of(episode["metadata"]["judge"]) or UNKNOWN
        self.judge_kinds[judge_kind] += 1
        self.judge_kinds_by_source[episode["source"]][judge_kind] += 1
        group = sys.intern(self.outcomes.add(episode))
        self.outcome_groups.append(group)
        self.labels.add(episode, group)
        prompt_group = group_of(episode)
        self.validity_groups.append(self._group_numbers.setdefault(prompt_group, len(self._group_numbers)))

    @property
    def sum_total_tokens(self) -> int:
        return self.tokens.sum_total

    def final_state_matrix(self) -> np.ndarray:
        """[episodes, rank] float32: every episode's h_T (a view of the tally's buffer)."""
        if not self.episodes:
            return np.zeros((0, 0), np.float32)
        return np.frombuffer(self.final_states, dtype=np.float32).reshape(self.episodes, -1)

    @property
    def labelled(self) -> int:
        return self.episodes - self.labels.missing

    def main_failure(self) -> str:
        """The most frequent reason an episode got no label, with how many share it ("none" if all labelled)."""
        reasons = self.labels.missing_reasons
        if not reasons:
            return "none"
        reason, count = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))[0]
        return f"{reason} ({count} episodes)"
