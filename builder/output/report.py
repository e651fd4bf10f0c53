"""The build report (stats.json): counts per config, rejections per reason, token and outcome statistics.

It holds no timestamps or timings, so the same input and options give the same report.
"""

from __future__ import annotations

import statistics
from collections import Counter



def describe_numbers(values: list[float]) -> dict:
    """min / median / mean / max / std (population) of a list; all null for an empty list."""
    if not values:
        return {"count": 0, "min": None, "median": None, "mean": None, "max": None, "std": None}
    return {
        "count": len(values),
        "min": round(min(values), 6),
        "median": round(statistics.median(values), 6),
        "mean": round(statistics.fmean(values), 6),
        "max": round(max(values), 6),
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


def n_agent_statistics(episodes: list[dict]) -> dict:
    """Agents, rounds, topologies, and per-round accuracy and consensus of N-agent episodes."""
    by_round: dict[int, list[bool]] = {}
    consensus: dict[int, list[float]] = {}
    for episode in episodes:
        for turn in episode["turns"]:
            known = [r["is_correct"] for r in turn["responses"] if r["is_correct"] is not None]
            by_round.setdefault(turn["turn_index"], []).extend(known)
            if turn["consensus"] is not None:
                consensus.setdefault(turn["turn_index"], []).append(turn["consensus"])
    finals = [e["outcome"]["final_correct"] for e in episodes if e["outcome"]["final_correct"] is not None]
    return {
        "agents_per_episode": describe_numbers([len(e["agents"]) for e in episodes]),
        "rounds_per_episode": describe_numbers([len(e["turns"]) for e in episodes]),
        "topologies": dict(sorted(Counter(e["topology"] for e in episodes).items())),
        "sources": dict(sorted(Counter(e["source"] for e in episodes).items())),
        "tasks": dict(sorted(Counter(e["task"] for e in episodes).items())),
        "models": dict(sorted(Counter(a["model"] for e in episodes for a in e["agents"]).items())),
        "agent_accuracy_by_round": {str(r): {"answers": len(v), "accuracy": round(sum(v) / len(v), 4) if v else None}
                                    for r, v in sorted(by_round.items())},
        "consensus_by_round": {str(r): describe_numbers([round(c, 6) for c in v]) for r, v in sorted(consensus.items())},
        "final_accuracy": {"episodes": len(finals), "accuracy": round(sum(finals) / len(finals), 4) if finals else None},
    }


def family_report(*, family: str, full: list[dict], rows_read: int, rejects, stages: list[dict], probe: dict,
                  label_run, notes: list[str], coordinator_dir: str, provenance: list) -> dict:
    from builder.provenance import count_judge_kinds
    from builder.stages.labels.report import label_statistics, label_validity
    from builder.stages.latents.probe import group_of

    pairwise = family == "pairwise"
    group = (lambda e: e["winner"]) if pairwise else (
        lambda e: {True: "correct", False: "wrong", None: "unknown"}[e["outcome"]["final_correct"]])
    if pairwise:
        outcomes = {"not_both_bad": [None if e["winner"] is None else e["winner"] != "tie (bothbad)" for e in full],
                    "decisive": [None if e["winner"] is None else e["winner"] in ("model_a", "model_b") for e in full]}
    else:
        outcomes = {"final_correct": [e["outcome"]["final_correct"] for e in full]}
    section = {
        "rows_read": rows_read,
        "episodes_accepted": rows_read - rejects.total,
        "rejections": rejects.to_report(),
        "stages": stages,
        "coordinator": coordinator_dir,
        "tokens": token_statistics(full),
        "effective_diversity": diversity_statistics(full),
        "latent_probe": probe,
        "labels": {**label_statistics(full, group), "labeler": label_run.identity, "judge_usage": label_run.judge_usage,
                   "agreement_with_offline": label_run.agreement,
                   "validity": label_validity(full, outcomes, [group_of(e) for e in full])},
        "notes": notes,
        "provenance": [p.to_report() for p in provenance],
        "judge_kinds_in_data": count_judge_kinds(full),
        "warnings": [w for p in provenance for w in p.warnings],
    }
    section["outcomes" if pairwise else "n_agent"] = outcome_statistics(full) if pairwise else n_agent_statistics(full)
    return section


def config_holds(episodes: list[dict]) -> dict:
    """What a small config holds, counted from its episodes (the card says it in words)."""
    from multi_llm_coord import WINNER_NAMES

    winners = [e["winner"] if isinstance(e["winner"], str) or e["winner"] is None else WINNER_NAMES[e["winner"]]
               for e in episodes]
    return {"winners": dict(sorted(Counter(w for w in winners if w is not None).items())),
            "turns": sorted(len(e["turns"]) for e in episodes),
            "agents": sorted(len(e["agents"]) for e in episodes),
            "topologies": sorted({e["topology"] for e in episodes}),
            "languages": sorted({e["metadata"]["language"] for e in episodes if e["metadata"]["language"]})}


def build_report(*, builder_version: str, schema_version: str, options: dict, configs: dict, infos: dict,
                 families: dict[str, dict]) -> dict:
    """The pairwise family's section at the top level (it always exists); N-agent episodes under `debate`."""
    return {
        "builder_version": builder_version,
        "schema_version": schema_version,
        "options": options,
        "configs": {
            name: {
                "episodes": len(episodes),
                "turns": sum(len(e["turns"]) for e in episodes),
                "total_tokens": sum(e["token_totals"]["total_tokens"] for e in episodes),
                "parquet_bytes": infos[name].download_size,
                "episode_ids": [e["episode_id"] for e in episodes] if not name.endswith("full") else None,
                "holds": config_holds(episodes) if not name.endswith("full") else None,
            }
            for name, episodes in configs.items()
        },
        **families["pairwise"],
        "debate": families.get("debate"),
    }
