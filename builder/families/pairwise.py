"""Pairwise battles (Chatbot Arena and its releases): two agents per episode, model_a and model_b, and a
verdict (`winner`). Configs mini, preview and full; the only family whose full config can be selected
(--language, --limit, --stratify)."""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from multi_llm_coord import PREVIEW_MAX_CHARS

from builder.families.base import EpisodeFamily, FamilyPlan
from builder.provenance import arena_provenance, read_text_file
from builder.selection import select_full, select_mini
from builder.sources import iter_source_rows
from builder.sources.arena import arena_row_to_episode
from builder.sources.loaders import SAMPLE_SOURCE, SourceError, check_local_path, looks_like_local_path, source_name
from builder.statistics import UNKNOWN, UNKNOWN_CODE, describe_numbers, numbers


class PairwiseFamily(EpisodeFamily):
    name = "pairwise"
    title = "Pairwise battles"
    # Its sources are BuildConfig.source (--source), typed together with the options that select from them
    # (--source-split, --language, --limit, --stratify, --license, --citation, --judge-kind).
    source_option = None
    full_config, mini_config, preview_config = "full", "mini", "preview"
    config_descriptions = {
        "mini": "3 complete episodes chosen deterministically (the longest multi-turn episode if any, then different "
                "winners).",
        "preview": f"The mini episodes with every text cut to {PREVIEW_MAX_CHARS} characters, for quick inspection.",
        "full": "Every accepted pairwise (arena) episode of the build (after the build's optional selection).",
    }
    coordinator_dir = "coordinator"
    outcome_key = "outcomes"
    sided = True
    sides = ("model_a", "model_b")
    figure_prefix = ""
    outcome_colours = {"model_a": "#1f77b4", "model_b": "#ff7f0e", "tie": "#2ca02c", "tie (bothbad)": "#d62728"}

    def plan(self, config) -> FamilyPlan | None:
        sources = config.pairwise_sources
        if not sources:
            return None
        for source in sources:  # a missing file is one line now, before any work or progress bar
            if looks_like_local_path(source) and not Path(source).exists():
                raise SourceError(f"{source}: no such file or folder")
            if source != SAMPLE_SOURCE and Path(source).exists():
                check_local_path(Path(source))  # a FIFO, a build folder, UTF-16 text
        return FamilyPlan(self, rows=lambda: pairwise_rows(config), provenance=[arena_provenance(
            source, license=config.license, judge_kind=config.judge_kind, citation=citation_of(config))
            for source in sources], sources=[source_name(s) for s in sources])

    def select(self, keys, config):
        chosen = select_full(keys, languages=config.languages, limit=config.limit, stratify=config.stratify,
                             seed=config.seed)
        return chosen, select_mini(chosen)

    def probe_targets(self, episodes):
        winners = [e["winner"] for e in episodes]
        return {"side": [w if w in ("model_a", "model_b") else None for w in winners],
                "decisive": [_decisive(w) if w is not None else None for w in winners]}

    def split_outcome(self, episode):
        return episode["winner"] or UNKNOWN

    def outcome_tally(self) -> "BattleOutcomes":
        return BattleOutcomes()


@dataclass
class BattleOutcomes:
    """What the pairwise report reads of the battles: winners, languages, model pairs, moderation flags, and the
    `not_both_bad` and `decisive` columns that the label validity ranks (1 / 0 / UNKNOWN_CODE)."""

    winners: Counter = field(default_factory=Counter)
    languages: Counter = field(default_factory=Counter)
    model_pairs: Counter = field(default_factory=Counter)
    moderation_flagged: int = 0
    toxic_chat_flagged: int = 0
    columns: dict[str, array] = field(default_factory=lambda: {"not_both_bad": numbers(), "decisive": numbers()})

    def add(self, episode: dict) -> str:
        winner = episode["winner"]
        metadata = episode["metadata"]
        self.winners[winner or UNKNOWN] += 1
        self.languages[metadata["language"] or UNKNOWN] += 1
        self.model_pairs[" vs ".join(sorted(a["model"] for a in episode["agents"]))] += 1
        self.moderation_flagged += bool(metadata["moderation_flagged"])
        self.toxic_chat_flagged += bool(metadata["toxic_chat_flagged"])
        self.columns["not_both_bad"].append(UNKNOWN_CODE if winner is None else winner != "tie (bothbad)")
        self.columns["decisive"].append(UNKNOWN_CODE if winner is None else winner in ("model_a", "model_b"))
        return winner or UNKNOWN

    def report(self, tally) -> dict:
        pairs = self.model_pairs
        return {
            "winner": dict(sorted(self.winners.items())),
            "languages": dict(sorted(self.languages.items())),
            "models": dict(sorted(tally.models.items())),
            "model_pairs": len(pairs),
            "top_model_pairs": dict(sorted(pairs.items(), key=lambda item: (-item[1], item[0]))[:10]),
            "turns_per_episode": describe_numbers(tally.turns_per_episode),
            "agents_per_episode": describe_numbers(tally.agents_per_episode),
            "moderation_flagged": self.moderation_flagged,
            "toxic_chat_flagged": self.toxic_chat_flagged,
        }


def _decisive(winner: str) -> str:
    return "decisive" if winner in ("model_a", "model_b") else "tie"


def pairwise_rows(config) -> Iterable[tuple]:
    """Every pairwise source's rows in turn. With several sources each episode id is prefixed by its source's
    name (`name/id`), so that ids stay unique across sources."""
    several = len(config.pairwise_sources) > 1
    for source in config.pairwise_sources:
        name = source_name(source)
        normalise = partial(arena_row_to_episode, source=name, max_text_chars=config.max_text_chars)
        if several:
            normalise = partial(_prefixed, normalise, f"{name}/")
        for location, row in iter_source_rows(source, config.source_split):
            yield location, row, normalise


def _prefixed(normalise: Callable, prefix: str, row) -> dict:
    episode = normalise(row)
    episode["episode_id"] = prefix + episode["episode_id"]
    return episode


def citation_of(config) -> str | None:
    """--citation as given, or the contents of the file it names with a leading @."""
    if config.citation and config.citation.startswith("@"):
        return read_text_file(Path(config.citation[1:]), "--citation file").strip()
    return config.citation



