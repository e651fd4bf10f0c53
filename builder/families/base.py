"""A kind of episode (a family) as one registered unit: what the pipeline, the tally, the probe, the report and
the figures ask of it. The pipeline iterates over the registry (builder.families.FAMILIES) and never asks a
family its name; adding a kind of episode adds one module and one registry line.

A family is stateless. `plan(config)` resolves its sources for one build (every missing path or unrecognisable
file is an error here, before any work) and returns a `FamilyPlan`, or None when the build has no source of
this kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from builder.provenance import Provenance
from builder.rejections import RowLocation
from builder.selection import EpisodeKey, select_debate_mini

OUTCOME_NOT_KNOWN = "unknown"


@dataclass
class FamilyPlan:
    """One family's sources in one build: its rows (location, row, normalise) and what the report says of them."""

    family: "EpisodeFamily"
    rows: Callable[[], Iterable[tuple[RowLocation, object, Callable]]]
    provenance: list[Provenance] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class EpisodeFamily:
    """The defaults serve N-agent families; pairwise battles override what differs.

    name            the report's section and the steps' prefix
    full_config / mini_config / preview_config   the configs it writes (preview: None for none)
    coordinator_dir the folder of its fitted coordinator
    report_section  where the report puts its section: None at the top level (one family only), else a key
    outcome_key     the name of its outcome statistics inside its section
    sided           its two agents are sides whose order means something (model_a / model_b): the probe adds
                    the ordered per-response latents and an ordered model identity
    sides           a sided family's two outcome labels that trade places when its agents are swapped (the
                    trained coordinators learn from both orders)
    figure_prefix   prefixed to its figures' file names
    figures         the figures it draws (dataset_card/figures.py)
    outcome_colours the outcome groups of the latent figure, with their colours
    """

    name: str
    full_config: str
    mini_config: str
    preview_config: str | None = None
    coordinator_dir: str
    report_section: str | None
    outcome_key = "n_agent"
    sided = False
    sides: tuple[str, str] | None = None
    figure_prefix: str
    figures = ("token_distribution", "latent_states", "effective_diversity")
    outcome_colours = {"correct": "#2ca02c", "wrong": "#d62728", OUTCOME_NOT_KNOWN: "#7f7f7f"}

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
        return {True: "correct", False: "wrong", None: OUTCOME_NOT_KNOWN}[episode["outcome"]["final_correct"]]

    def tally_outcome(self, tally, episode: dict) -> str:
        """Adds what the family's report reads of `episode` to `tally`; returns its outcome group (the label
        tables and the latent figure group by it)."""
        from builder.output.tally import NOT_KNOWN

        for name in ("topology", "source", "task"):
            tally.counters[name + "s"][episode[name]] += 1
        for turn in episode["turns"]:
            known = [r["is_correct"] for r in turn["responses"] if r["is_correct"] is not None]
            tally.counters["round_answers"][turn["turn_index"]] += len(known)
            tally.counters["round_correct"][turn["turn_index"]] += sum(known)
            if turn["consensus"] is not None:
                tally.by_key["consensus_by_round"][str(turn["turn_index"])].append(round(turn["consensus"], 6))
        final = episode["outcome"]["final_correct"]
        if final is not None:
            tally.counters["final"]["episodes"] += 1
            tally.counters["final"]["correct"] += bool(final)
        tally.by_key["outcome"]["final_correct"].append(NOT_KNOWN if final is None else final)
        return {True: "correct", False: "wrong", None: OUTCOME_NOT_KNOWN}[final]

    def outcome_report(self, tally) -> dict:
        from builder.output.report import n_agent_statistics

        return n_agent_statistics(tally)
