"""Which episodes go into each config: `full` (optional selection), `mini` (3 complete), `preview` (3 truncated).

Each is chosen on the episodes' keys from the reading pass, by id; the writing pass then streams the chosen
episodes in the sources' order."""

from __future__ import annotations

import copy
import random
import sys
from collections import defaultdict
from dataclasses import dataclass

from multi_llm_coord import PREVIEW_MAX_CHARS, TRUNCATION_MARKER

MINI_SIZE = 3


@dataclass(frozen=True, slots=True)  # slots: no per-key __dict__, half the bytes of a key
class EpisodeKey:
    """What selection needs of an episode, kept for every episode of the reading pass (a few hundred bytes,
    not the episode): the configs are chosen on keys, then the writing pass streams the chosen episodes."""

    episode_id: str
    language: str | None
    models: tuple[str, ...]
    winner: str | None
    turns: int
    topology: str

    @classmethod
    def of(cls, episode: dict) -> "EpisodeKey":
        return cls(episode["episode_id"], _interned(episode["metadata"]["language"]),
                   tuple(_interned(a["model"]) for a in episode["agents"]), _interned(episode["winner"]),
                   len(episode["turns"]), sys.intern(episode["topology"]))


def _interned(value: str | None) -> str | None:
    return None if value is None else sys.intern(value)  # thousands of keys share a few model names


def select_full(keys: list[EpisodeKey], *, languages=(), limit=None, stratify=False, seed=0) -> list[EpisodeKey]:
    """Keys sorted by id, filtered by language, then cut to `limit` (the smallest ids).

    With `stratify`, the cut draws round-robin over (model pair, winner) strata in a seeded order, so a
    small selection still spans many model pairs and all verdicts ("200 examples
    across 42 model pairs" is `--limit 200 --stratify`).
    """
    selected = sorted(keys, key=lambda key: key.episode_id)
    if languages:
        wanted = {language.lower() for language in languages}
        selected = [k for k in selected if (k.language or "").lower() in wanted]
    if limit is None or limit >= len(selected):
        return selected
    if not stratify:
        return selected[:limit]
    strata: dict[tuple, list[EpisodeKey]] = defaultdict(list)
    for key in selected:
        strata[stratum_key(key)].append(key)
    rng = random.Random(seed)
    queues = []
    for stratum in sorted(strata):
        members = strata[stratum][:]
        rng.shuffle(members)
        queues.append(members)
    rng.shuffle(queues)
    chosen = []
    while len(chosen) < limit:
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop())
    return sorted(chosen, key=lambda key: key.episode_id)


def stratum_key(key: EpisodeKey) -> tuple:
    return tuple(sorted(key.models)), key.winner


def select_mini(keys: list[EpisodeKey], size: int = MINI_SIZE) -> list[EpisodeKey]:
    """`size` complete episodes, chosen deterministically: the multi-turn episode with the most turns first,
    then the smallest ids that bring a winner value not yet covered, then the smallest remaining ids."""
    ordered = sorted(keys, key=lambda key: key.episode_id)
    chosen: list[EpisodeKey] = []
    multi_turn = [k for k in ordered if k.turns > 1]
    if multi_turn:
        chosen.append(max(multi_turn, key=lambda key: key.turns))
    for key in ordered:
        if len(chosen) >= size:
            break
        if key not in chosen and key.winner not in {c.winner for c in chosen}:
            chosen.append(key)
    for key in ordered:
        if len(chosen) >= size:
            break
        if key not in chosen:
            chosen.append(key)
    return sorted(chosen, key=lambda key: key.episode_id)


def select_debate_mini(keys: list[EpisodeKey], size: int = MINI_SIZE) -> list[EpisodeKey]:
    """`size` complete N-agent episodes: the smallest id of each topology (in name order) first, so that the
    mini config shows different topologies, then the smallest remaining ids."""
    ordered = sorted(keys, key=lambda key: key.episode_id)
    chosen: list[EpisodeKey] = []
    for topology in sorted({k.topology for k in ordered}):
        if len(chosen) < size:
            chosen.append(next(k for k in ordered if k.topology == topology))
    chosen += [k for k in ordered if k not in chosen][:size - len(chosen)]
    return sorted(chosen, key=lambda key: key.episode_id)


def truncate_text(text: str | None, max_chars: int = PREVIEW_MAX_CHARS) -> str | None:
    return text if text is None or len(text) <= max_chars else text[:max_chars] + TRUNCATION_MARKER


def make_preview(episodes: list[dict]) -> list[dict]:
    """Copies of the episodes with every prompt and answer truncated; token fields keep the full counts."""
    previews = []
    for episode in episodes:
        preview = copy.deepcopy(episode)
        for turn in preview["turns"]:
            turn["prompt"] = truncate_text(turn["prompt"])
            for response in turn["responses"]:
                response["content"] = truncate_text(response["content"])
        preview["is_truncated"] = True
        previews.append(preview)
    return previews
