"""A kind of episode (a family) as one registered unit. A family declares everything that is its own: its source
option, its configs and their descriptions, its coordinator folder, its outcome statistics, its probe and
evaluation targets, its figures and its card section. The command line, the config, the card, `validate`, `push`
and the pipeline read them from the registry (builder.families.FAMILIES) and never ask a family its name; adding
a kind of episode adds one module and one registry line (`register(NewFamily())`).

A family is stateless. `plan(config)` resolves its sources for one build (every missing path or unrecognisable
file is an error here, before any work) and returns a `FamilyPlan`, or None when the build has no source of
this kind.
"""

from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from builder.provenance import Provenance
from builder.rejections import RowLocation
from builder.selection import EpisodeKey, select_debate_mini
from builder.statistics import UNKNOWN, UNKNOWN_CODE, describe_numbers, numbers


@dataclass(frozen=True)
class SourceOption:
    """A family's source option on the command line: `flag` (repeatable), its help text. The values are kept in
    `BuildConfig.family_sources` under the family's name; `none` builds no config of the family."""

    flag: str
    help: str

    @property
    def dest(self) -> str:
        """The argparse destination of the flag: unique per flag, never a BuildConfig field name."""
        return "family_source_" + self.flag.lstrip("-").replace("-", "_")


@dataclass
class FamilyPlan:
    """One family's sources in one build: its rows (location, row, normalise) and what the report says of them."""

    family: "EpisodeFamily"
    rows: Callable[[], Iterable[tuple[RowLocation, object, Callable]]]
    provenance: list[Provenance] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # its sources as messages name them (a local path by its name)


class EpisodeFamily:
    """The defaults serve N-agent families; pairwise battles override what differs.

    name            the report's key under `families`, the steps' prefix, the key of its sources in the config
    title           how the card and the summary name its episodes
    source_option   its source flag (SourceOption); None for a family whose sources are typed BuildConfig fields
    full_config / mini_config / preview_config   the configs it writes (preview: None for none)
    config_descriptions  each config's description (the card, the YAML; multi_llm_coord.py keeps a copy, checked)
    coordinator_dir the folder of its fitted coordinator
    outcome_key     the name of its outcome statistics inside its section
    sided           its two agents are sides whose order means something (model_a / model_b): the probe adds
                    the ordered per-response latents and an ordered model identity
    sides           a sided family's two outcome labels that trade places when its agents are swapped (the
                    trained coordinators learn from both orders)
    figure_prefix   prefixed to its figures' file names
    figures         the figures it draws (dataset_card/figures.py)
    outcome_colours the outcome groups of the latent figure, with their colours
    card_template   its card section: a Jinja template's text; None reads dataset_card/families/NAME.md
    """

    name: str
    title: str
    source_option: SourceOption | None = None
    full_config: str
    mini_config: str
    preview_config: str | None = None
    config_descriptions: dict[str, str]
    coordinator_dir: str
    outcome_key = "n_agent"  # the key of its outcome statistics (`outcome_tally().report`) in its section
    sided = False
    sides: tuple[str, str] | None = None
    figure_prefix: str
    figures = ("token_distribution", "latent_states", "effective_diversity")
    outcome_colours = {"correct": "#2ca02c", "wrong": "#d62728", UNKNOWN: "#7f7f7f"}
    card_template: str | None = None

    @property
    def configs(self) -> tuple[str, ...]:
        """Its configs, small ones first (the order of the card, the YAML and the summary)."""
        return tuple(name for name in (self.mini_config, self.preview_config, self.full_config) if name)

    def plan(self, config) -> FamilyPlan | None:
        raise NotImplementedError

    def select(self, keys: list[EpisodeKey], config) -> tuple[list[EpisodeKey], list[EpisodeKey]]:
        """The keys of the full config (the sources' order is restored later) and of the mini config."""
        return keys, select_debate_mini(keys)

    def probe_targets(self, episodes: list[dict]) -> dict[str, list[str | None]]:
        """N-agent episodes: was the group's final answer correct; did every agent end on the same answer."""
        correct = [e["outcome"]["final_correct"] for e in episodes]
        consensus = [e["outcome"]["final_consensus"] for e in episodes]
        return {"final_correct": [None if c is None else ("correct" if c else "wrong") for c in correct],
                "consensus": [None if c is None else ("unanimous" if c >= 1.0 else "split") for c in consensus]}

    def split_outcome(self, episode: dict) -> str:
        """The outcome whose balance the report gives per split."""
        return final_correct_group(episode)

    def outcome_tally(self) -> "VoteOutcomes":
        """A new tally of what the family's report reads of its episodes' outcomes (builder/output/tally.py adds
        every written episode to it)."""
        return VoteOutcomes()


def final_correct_group(episode: dict) -> str:
    return {True: "correct", False: "wrong", None: UNKNOWN}[episode["outcome"]["final_correct"]]


@dataclass
class VoteOutcomes:
    """What an N-agent family's report reads of its episodes: topologies, sources and tasks; per round the
    judged answers, the correct ones and the consensus; the final answers; and the `final_correct` column that
    the label validity ranks (1 / 0 / UNKNOWN_CODE)."""

    topologies: Counter = field(default_factory=Counter)
    sources: Counter = field(default_factory=Counter)
    tasks: Counter = field(default_factory=Counter)
    answers_by_round: Counter = field(default_factory=Counter)
    correct_by_round: Counter = field(default_factory=Counter)
    consensus_by_round: defaultdict[int, array] = field(default_factory=lambda: defaultdict(numbers))
    final_known: int = 0
    final_correct: int = 0
    columns: dict[str, array] = field(default_factory=lambda: {"final_correct": numbers()})

    def add(self, episode: dict) -> str:
        """Adds `episode`; returns its outcome group (the label tables and the latent figure group by it)."""
        self.topologies[episode["topology"]] += 1
        self.sources[episode["source"]] += 1
        self.tasks[episode["task"]] += 1
        for turn in episode["turns"]:
            known = [r["is_correct"] for r in turn["responses"] if r["is_correct"] is not None]
            self.answers_by_round[turn["turn_index"]] += len(known)
            self.correct_by_round[turn["turn_index"]] += sum(known)
            if turn["consensus"] is not None:
                self.consensus_by_round[turn["turn_index"]].append(round(turn["consensus"], 6))
        final = episode["outcome"]["final_correct"]
        if final is not None:
            self.final_known += 1
            self.final_correct += bool(final)
        self.columns["final_correct"].append(UNKNOWN_CODE if final is None else final)
        return final_correct_group(episode)

    def report(self, tally) -> dict:
        """Agents, rounds, topologies, and per-round accuracy and consensus of N-agent episodes."""
        answers, correct = self.answers_by_round, self.correct_by_round
        return {
            "agents_per_episode": describe_numbers(tally.agents_per_episode),
            "rounds_per_episode": describe_numbers(tally.turns_per_episode),
            "topologies": dict(sorted(self.topologies.items())),
            "sources": dict(sorted(self.sources.items())),
            "tasks": dict(sorted(self.tasks.items())),
            "models": dict(sorted(tally.models.items())),
            "agent_accuracy_by_round": {str(r): {"answers": n, "accuracy": round(correct[r] / n, 4) if n else None}
                                        for r, n in sorted(answers.items())},
            "consensus_by_round": {str(r): describe_numbers(v) for r, v in sorted(self.consensus_by_round.items())},
            "final_accuracy": {"episodes": self.final_known,
                               "accuracy": round(self.final_correct / self.final_known, 4) if self.final_known
                               else None},
        }
