"""The build report (stats.json): counts per config, rejections per reason, token and outcome statistics.

It holds no timestamps or timings, so the same input and options give the same report.
"""

from __future__ import annotations

import statistics
from collections import Counter

import numpy as np

from builder.output.tally import EFFICIENCY_NAMES, TOTAL_NAMES


class ReportError(Exception):
    """A report file that is not a report of this builder (corrupt, or of another shape); one line."""


NUMBER = (int, float)
# What `stats` and `validate` read of a report, and of what type: a file of another shape is refused by name.
CONFIG_SHAPE = {"episodes": int, "turns": int, "total_tokens": int, "parquet_bytes": int}
SECTION_SHAPE = {
    "rows_read": int, "episodes_accepted": int, "coordinator": str, "warnings": list, "latent_probe": dict,
    "rejections": {"total": int, "by_reason": dict, "examples": dict},
    "tokens": {"total_tokens": {"min": (*NUMBER, type(None)), "median": (*NUMBER, type(None)),
                                "max": (*NUMBER, type(None))}},
    "labels": {"labeler": {"name": str}, "labelled": int, "missing": int},
}
RUN_LOG_SHAPE = {"elapsed_seconds": dict, "total_seconds": NUMBER, "caches": dict}


def shape_problems(value, shape, where: str = "") -> list[str]:
    """Where `value` departs from `shape` (a type, a tuple of types, or {key: shape} for an object)."""
    if not isinstance(shape, dict):
        if isinstance(value, bool) and bool not in (shape if isinstance(shape, tuple) else (shape,)):
            return [f"{where or 'the file'} is a boolean"]
        return [] if isinstance(value, shape) else [f"{where or 'the file'} is {type(value).__name__}"]
    if not isinstance(value, dict):
        return [f"{where or 'the file'} is {type(value).__name__}, expected an object"]
    problems = []
    for key, inner in shape.items():
        path = f"{where}.{key}" if where else key
        problems += [f"{path} is missing"] if key not in value else shape_problems(value[key], inner, path)
    return problems


def report_problems(report) -> list[str]:
    """Why `report` is not a build report this builder can read (empty: it is)."""
    from builder.families import FAMILIES

    problems = shape_problems(report, {"builder_version": str, "schema_version": str, "options": {"rank": int,
                                       "encoding": str}, "configs": dict})
    if problems:
        return problems
    for name, summary in report["configs"].items():
        problems += shape_problems(summary, CONFIG_SHAPE, f"configs.{name}")
    for family in FAMILIES:
        if family.report_section is None:
            problems += shape_problems(report, SECTION_SHAPE)
        elif report.get(family.report_section) is not None:
            problems += shape_problems(report[family.report_section], SECTION_SHAPE, family.report_section)
    return problems


def read_report(path) -> dict:
    """A build's stats.json, checked for the shape `stats` and `validate` read; ReportError names the file."""
    import json
    from pathlib import Path

    path = Path(path)
    try:
        report = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file (is this a build folder?)") from None
    except OSError as error:
        raise ReportError(f"{path}: cannot be read ({error.strerror or error})") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ReportError(f"{path}: not a JSON report ({str(error)[:200]}); rebuild the folder") from None
    problems = report_problems(report)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ReportError(f"{path}: not a report of this builder, corrupt or of another shape: {problems[0]}{more}; "
                          "rebuild the folder")
    return report


def describe_numbers(values) -> dict:
    """min / median / mean / max / std (population) of a sequence of numbers; all null when it is empty."""
    values = list(values)
    if not values:
        return {"count": 0, "min": None, "median": None, "mean": None, "max": None, "std": None}
    return {
        "count": len(values),
        "min": _whole(round(min(values), 6)),
        "median": _whole(round(statistics.median(values), 6)),
        "mean": round(statistics.fmean(values), 6),
        "max": _whole(round(max(values), 6)),
        "std": round(statistics.pstdev(values), 6),
    }


def _whole(value: float) -> int | float:
    """A count stays a count: tallies keep numbers as floats, so 15.0 tokens is written as 15."""
    return int(value) if float(value).is_integer() else value


def token_statistics(tally) -> dict:
    return {
        **{name: describe_numbers(tally.numbers[name]) for name in TOTAL_NAMES},
        "output_tokens_by_agent_position": {k: describe_numbers(v) for k, v in
                                            sorted(tally.by_key["output_tokens_by_position"].items(), key=_numeric_key)},
        "communication_efficiency": {name: describe_numbers(tally.numbers[name]) for name in EFFICIENCY_NAMES},
        "sum_total_tokens": tally.sum_total_tokens,
    }


def _numeric_key(item) -> int:
    return int(item[0])


def outcome_statistics(tally) -> dict:
    pairs = tally.counters["model_pairs"]
    return {
        "winner": dict(sorted(tally.counters["winner"].items(), key=lambda item: str(item[0]))),
        "languages": dict(sorted(tally.counters["languages"].items())),
        "models": dict(sorted(tally.counters["models"].items())),
        "model_pairs": len(pairs),
        "top_model_pairs": dict(sorted(pairs.items(), key=lambda item: (-item[1], item[0]))[:10]),
        "turns_per_episode": describe_numbers(tally.numbers["turns"]),
        "agents_per_episode": describe_numbers(tally.numbers["agents"]),
        "moderation_flagged": tally.counters["flags"]["moderation_flagged"],
        "toxic_chat_flagged": tally.counters["flags"]["toxic_chat_flagged"],
    }


def diversity_statistics(tally) -> dict:
    return {
        "episode_mean": describe_numbers(tally.numbers["effective_diversity_mean"]),
        "by_turn_index": {t: describe_numbers(v) for t, v in sorted(tally.by_key["diversity_by_turn"].items(),
                                                                     key=_numeric_key)},
    }


def n_agent_statistics(tally) -> dict:
    """Agents, rounds, topologies, and per-round accuracy and consensus of N-agent episodes."""
    answers, correct, final = tally.counters["round_answers"], tally.counters["round_correct"], tally.counters["final"]
    return {
        "agents_per_episode": describe_numbers(tally.numbers["agents"]),
        "rounds_per_episode": describe_numbers(tally.numbers["turns"]),
        "topologies": dict(sorted(tally.counters["topologys"].items())),
        "sources": dict(sorted(tally.counters["sources"].items())),
        "tasks": dict(sorted(tally.counters["tasks"].items())),
        "models": dict(sorted(tally.counters["models"].items())),
        "agent_accuracy_by_round": {str(r): {"answers": n, "accuracy": round(correct[r] / n, 4) if n else None}
                                    for r, n in sorted(answers.items())},
        "consensus_by_round": {r: describe_numbers(v) for r, v in sorted(tally.by_key["consensus_by_round"].items(),
                                                                          key=_numeric_key)},
        "final_accuracy": {"episodes": final["episodes"],
                           "accuracy": round(final["correct"] / final["episodes"], 4) if final["episodes"] else None},
    }


def family_report(*, family, tally, rows_read: int, rejects, stages: list[dict], probe: dict,
                  label_run, notes: list[str], provenance: list) -> dict:
    """One family's section of the report; `family` (builder.families) supplies its outcome statistics."""
    from builder.stages.labels.report import label_statistics, label_validity

    outcomes = {name: np.asarray(values) for name, values in tally.by_key["outcome"].items()}
    section = {
        "rows_read": rows_read,
        "episodes_accepted": rows_read - rejects.total,
        "rejections": rejects.to_report(),
        "stages": stages,
        "coordinator": family.coordinator_dir,
        "tokens": token_statistics(tally),
        "effective_diversity": diversity_statistics(tally),
        "latent_probe": probe,
        "labels": {**label_statistics(tally), "labeler": label_run.identity, "judge_usage": label_run.judge_usage,
                   "agreement_with_offline": label_run.agreement,
                   "validity": label_validity({k: np.asarray(v) for k, v in tally.by_key["label_signal"].items()},
                                              outcomes, np.asarray(tally.validity_groups))},
        "notes": notes,
        "provenance": [p.to_report() for p in provenance],
        "judge_kinds_in_data": dict(sorted(tally.counters["judge_kinds"].items())),
        "judge_kinds_by_source": {source: dict(sorted(counts.items()))
                                  for source, counts in sorted(tally.judge_kinds_by_source.items())},
        "warnings": [w for p in provenance for w in p.warnings],
    }
    section[family.outcome_key] = family.outcome_report(tally)
    return section


def config_summary(name: str, episodes: list[dict], parquet_bytes: int) -> dict:
    """A small config's line in the report: its counts, its ids and what it holds."""
    return {"episodes": len(episodes), "turns": sum(len(e["turns"]) for e in episodes),
            "total_tokens": sum(e["token_totals"]["total_tokens"] for e in episodes), "parquet_bytes": parquet_bytes,
            "episode_ids": [e["episode_id"] for e in episodes], "holds": config_holds(episodes)}


def full_summary(tally, parquet_bytes: int) -> dict:
    """A full config's line in the report, from the tally of its writing pass."""
    return {"episodes": tally.episodes, "turns": tally.turns, "total_tokens": tally.sum_total_tokens,
            "parquet_bytes": parquet_bytes, "episode_ids": None, "holds": None}


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


def build_report(*, builder_version: str, schema_version: str, options: dict, configs: dict[str, dict],
                 families: list[tuple]) -> dict:
    """Each (family, section): the section of the family whose `report_section` is None at the top level (the
    pairwise battles, always built), every other family's under its key, null when the build had none of it.
    `configs` holds each config's summary (`config_summary`, `full_summary`)."""
    from builder.families import FAMILIES

    report = {"builder_version": builder_version, "schema_version": schema_version, "options": options,
              "configs": configs}
    report |= {family.report_section: None for family in FAMILIES if family.report_section}
    for family, section in families:
        report |= section if family.report_section is None else {family.report_section: section}
    return report
