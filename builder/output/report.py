"""The build report (stats.json): counts per config, rejections per reason, token and outcome statistics.

It holds no timestamps or timings, so the same input and options give the same report.
"""

from __future__ import annotations

import statistics
from collections import Counter

REPORT_FILE = "stats.json"


def describe_numbers(values: list[float]) -> dict:
    """min / median / mean / max / std (population) of a list; all null for an empty list."""
    if not values:
        return {"count": 0, "min": None, "median": None, "mean": None, "max": None, "std": None}
    return {
        "count": len(values),
        "min": min(values),
        "median": statistics.median(values),
        "mean": round(statistics.fmean(values), 6),
        "max": max(values),
        "std": round(statistics.pstdev(values), 6),
    }


def token_statistics(episodes: list[dict]) -> dict:
    per_position: dict[int, list[int]] = {}
    for episode in episodes:
        for position, agent in enumerate(episode["token_totals"]["per_agent"]):
            per_position.setdefault(position, []).append(agent["output_tokens"])
    efficiency_names = ("avg_tokens_per_turn", "input_output_ratio", "coordination_overhead", "history_resend_ratio")
    return {
        "prompt_tokens": describe_numbers([t["prompt_tokens"] for t in _totals(episodes)]),
        "output_tokens": describe_numbers([t["output_tokens"] for t in _totals(episodes)]),
        "total_tokens": describe_numbers([t["total_tokens"] for t in _totals(episodes)]),
        "agent_input_tokens": describe_numbers([t["agent_input_tokens"] for t in _totals(episodes)]),
        "output_tokens_by_agent_position": {str(k): describe_numbers(v) for k, v in sorted(per_position.items())},
        "communication_efficiency": {
            name: describe_numbers([e["communication_efficiency"][name] for e in episodes
                                    if e["communication_efficiency"][name] is not None])
            for name in efficiency_names
        },
        "sum_total_tokens": sum(t["total_tokens"] for t in _totals(episodes)),
    }


def _totals(episodes):
    return [episode["token_totals"] for episode in episodes]


def outcome_statistics(episodes: list[dict]) -> dict:
    pairs = Counter(" vs ".join(sorted(a["model"] for a in e["agents"])) for e in episodes)
    return {
        "winner": dict(sorted(Counter(e["winner"] for e in episodes).items())),
        "languages": dict(sorted(Counter(e["metadata"]["language"] or "unknown" for e in episodes).items())),
        "models": dict(sorted(Counter(a["model"] for e in episodes for a in e["agents"]).items())),
        "model_pairs": len(pairs),
        "top_model_pairs": dict(sorted(pairs.items(), key=lambda item: (-item[1], item[0]))[:10]),
        "turns_per_episode": describe_numbers([len(e["turns"]) for e in episodes]),
        "agents_per_episode": describe_numbers([len(e["agents"]) for e in episodes]),
        "moderation_flagged": sum(1 for e in episodes if e["metadata"]["moderation_flagged"]),
        "toxic_chat_flagged": sum(1 for e in episodes if e["metadata"]["toxic_chat_flagged"]),
    }


def diversity_statistics(episodes: list[dict]) -> dict:
    by_turn: dict[int, list[float]] = {}
    for episode in episodes:
        for turn in episode["turns"]:
            by_turn.setdefault(turn["turn_index"], []).append(turn["effective_diversity"])
    return {
        "episode_mean": describe_numbers([round(e["effective_diversity_mean"], 6) for e in episodes]),
        "by_turn_index": {str(t): describe_numbers([round(v, 6) for v in values]) for t, values in sorted(by_turn.items())},
    }


def build_report(*, builder_version: str, schema_version: str, options: dict, stages: list[dict], rows_read: int,
                 rejects, configs: dict, infos: dict, probe: dict, labels: dict) -> dict:
    full = configs["full"]
    return {
        "builder_version": builder_version,
        "schema_version": schema_version,
        "options": options,
        "stages": stages,
        "rows_read": rows_read,
        "episodes_accepted": rows_read - rejects.total,
        "rejections": rejects.to_report(),
        "configs": {
            name: {
                "episodes": len(episodes),
                "turns": sum(len(e["turns"]) for e in episodes),
                "total_tokens": sum(e["token_totals"]["total_tokens"] for e in episodes),
                "parquet_bytes": infos[name].download_size,
                "episode_ids": [e["episode_id"] for e in episodes] if name != "full" else None,
            }
            for name, episodes in configs.items()
        },
        "tokens": token_statistics(full),
        "outcomes": outcome_statistics(full),
        "effective_diversity": diversity_statistics(full),
        "latent_probe": probe,
        "labels": labels,
    }
