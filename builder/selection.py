"""Which episodes go into each config: `full` (optional selection), `mini` (3 complete), `preview` (3 truncated)."""

from __future__ import annotations

import copy
import random
from collections import defaultdict

from multi_llm_coord import PREVIEW_MAX_CHARS, TRUNCATION_MARKER

MINI_SIZE = 3


def select_full(episodes: list[dict], *, languages=(), limit=None, stratify=False, seed=0) -> list[dict]:
    """Episodes sorted by id, filtered by language, then cut to `limit`.

    With `stratify`, the cut draws round-robin over (model pair, winner) strata in a seeded order, so a
    small selection still spans many model pairs and all verdicts (the seed report's "200 examples
    across 42 model pairs" is `--limit 200 --stratify`).
    """
    selected = sorted(episodes, key=lambda episode: episode["episode_id"])
    if languages:
        wanted = {language.lower() for language in languages}
        selected = [e for e in selected if (e["metadata"]["language"] or "").lower() in wanted]
    if limit is None or limit >= len(selected):
        return selected
    if not stratify:
        return selected[:limit]
    strata: dict[tuple, list[dict]] = defaultdict(list)
    for episode in selected:
        strata[stratum_key(episode)].append(episode)
    rng = random.Random(seed)
    queues = []
    for key in sorted(strata):
        members = strata[key][:]
        rng.shuffle(members)
        queues.append(members)
    rng.shuffle(queues)
    chosen = []
    while len(chosen) < limit:
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop())
    return sorted(chosen, key=lambda episode: episode["episode_id"])


def stratum_key(episode: dict) -> tuple:
    pair = tuple(sorted(agent["model"] for agent in episode["agents"]))
    return pair, episode["winner"]


def select_mini(episodes: list[dict], size: int = MINI_SIZE) -> list[dict]:
    """`size` complete episodes, chosen deterministically: the multi-turn episode with the most turns first,
    then the smallest ids that bring a winner value not yet covered, then the smallest remaining ids."""
    ordered = sorted(episodes, key=lambda episode: episode["episode_id"])
    chosen: list[dict] = []
    multi_turn = [e for e in ordered if len(e["turns"]) > 1]
    if multi_turn:
        chosen.append(max(multi_turn, key=lambda episode: len(episode["turns"])))
    for episode in ordered:
        if len(chosen) >= size:
            break
        if episode not in chosen and episode["winner"] not in {c["winner"] for c in chosen}:
            chosen.append(episode)
    for episode in ordered:
        if len(chosen) >= size:
            break
        if episode not in chosen:
            chosen.append(episode)
    return sorted(chosen, key=lambda episode: episode["episode_id"])


def select_debate_mini(episodes: list[dict], size: int = MINI_SIZE) -> list[dict]:
    """`size` complete N-agent episodes: the smallest id of each topology (in name order) first, so that the
    mini config shows different topologies, then the smallest remaining ids."""
    ordered = sorted(episodes, key=lambda episode: episode["episode_id"])
    chosen_ids: list[str] = []
    for topology in sorted({e["topology"] for e in ordered}):
        if len(chosen_ids) < size:
            chosen_ids.append(next(e["episode_id"] for e in ordered if e["topology"] == topology))
    chosen_ids += [e["episode_id"] for e in ordered if e["episode_id"] not in chosen_ids][:size - len(chosen_ids)]
    return [e for e in ordered if e["episode_id"] in chosen_ids]


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
