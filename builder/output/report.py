"""The build report (stats.json): counts per config, and for every family, in one shape, its rows, rejections
per reason, token and outcome statistics, probe, labels, splits and evaluation.

    {"builder_version", "schema_version", "report_version", "options", "configs",
     "families": {NAME: SECTION or null, ...}}   every registered family, null where the build had none of it

It holds no timestamps or timings, so the same input and options give the same report. Reports of version 1 (the
pairwise section at the top level, the others under their names) are read as version 2 (`upgrade_report`).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from multi_llm_coord import WINNER_NAMES

from builder.benchmark.label_validity import label_validity
from builder.families import FAMILIES
from builder.output.tally import EFFICIENCY_NAMES, TOTAL_NAMES
from builder.stages.labels.report import label_statistics
from builder.statistics import describe_numbers


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
REPORT_VERSION = 2  # 2: every family under `families`; 1: the pairwise section at the top level
META_KEYS = ("builder_version", "schema_version", "report_version", "options", "configs")
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
    """Why `report` (of this version: see `upgrade_report`) is not a build report this builder can read (empty: it
    is)."""
    problems = shape_problems(report, {"builder_version": str, "schema_version": str, "report_version": int,
                                       "options": {"rank": int, "encoding": str}, "configs": dict,
                                       "families": dict})
    if problems:
        return problems
    for name, summary in report["configs"].items():
        problems += shape_problems(summary, CONFIG_SHAPE, f"configs.{name}")
    for name, section in report["families"].items():
        if section is not None:
            problems += shape_problems(section, SECTION_SHAPE, f"families.{name}")
    return problems


def upgrade_report(report):
    """A report of version 1 (no `report_version`: the pairwise section at the top level, `debate` and `agents`
    under their names) in the shape of this version; a report of this version, or anything else, as it is (the
    shape check says what is wrong with it)."""
    if not isinstance(report, dict) or "report_version" in report or "families" in report:
        return report
    old_sections = ("debate", "agents")  # the only families version 1 knew besides the top-level pairwise one
    meta = {key: report[key] for key in META_KEYS if key in report}
    pairwise = {key: value for key, value in report.items() if key not in (*META_KEYS, *old_sections)}
    return meta | {"report_version": REPORT_VERSION,
                   "families": {"pairwise": pairwise} | {name: report.get(name) for name in old_sections}}


def family_sections(report: dict) -> list[tuple]:
    """(family, section) of every registered family that the report holds, in the registry's order: the one
    lookup every reader of a report uses."""
    sections = report["families"]
    return [(family, sections[family.name]) for family in FAMILIES if sections.get(family.name)]


def read_report(path) -> dict:
    """A build's stats.json (of this version or the previous one, read as this one), checked for the shape `stats`
    and `validate` read; ReportError names the file."""
    path = Path(path)
    try:
        report = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file (is this a build folder?)") from None
    except OSError as error:
        raise ReportError(f"{path}: cannot be read ({error.strerror or error})") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ReportError(f"{path}: not a JSON report ({str(error)[:200]}); rebuild the folder") from None
    report = upgrade_report(report)
    problems = report_problems(report)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ReportError(f"{path}: not a report of this builder, corrupt or of another shape: {problems[0]}{more}; "
                          "rebuild the folder")
    return report


def token_statistics(tally) -> dict:
    tokens = tally.tokens
    return {
        **{name: describe_numbers(tokens.totals[name]) for name in TOTAL_NAMES},
        "output_tokens_by_agent_position": {str(position): describe_numbers(values) for position, values
                                            in sorted(tokens.output_by_position.items())},
        "communication_efficiency": {name: describe_numbers(tokens.efficiency[name]) for name in EFFICIENCY_NAMES},
        "sum_total_tokens": tokens.sum_total,
    }


def diversity_statistics(tally) -> dict:
    return {
        "episode_mean": describe_numbers(tally.diversity.episode_mean),
        "by_turn_index": {str(turn): describe_numbers(values)
                          for turn, values in sorted(tally.diversity.by_turn.items())},
    }


def family_report(*, family, tally, rows_read: int, rejects, stages: list[dict], probe: dict,
                  label_run, notes: list[str], provenance: list, sources: list[str]) -> dict:
    """One family's section of the report; `family` (builder.families) supplies its outcome statistics."""
    outcomes = {name: np.asarray(values) for name, values in tally.outcomes.columns.items()}
    section = {
        "sources": sources,
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
                   "validity": label_validity({k: np.asarray(v) for k, v in tally.labels.signals.items()},
                                              outcomes, np.asarray(tally.validity_groups))},
        "notes": notes,
        "provenance": [p.to_report() for p in provenance],
        "judge_kinds_in_data": dict(sorted(tally.judge_kinds.items())),
        "judge_kinds_by_source": {source: dict(sorted(counts.items()))
                                  for source, counts in sorted(tally.judge_kinds_by_source.items())},
        "warnings": [w for p in provenance for w in p.warnings],
    }
    section[family.outcome_key] = tally.outcomes.report(tally)
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
    winners = [e["winner"] if isinstance(e["winner"], str) or e["winner"] is None else WINNER_NAMES[e["winner"]]
               for e in episodes]
    return {"winners": dict(sorted(Counter(w for w in winners if w is not None).items())),
            "turns": sorted(len(e["turns"]) for e in episodes),
            "agents": sorted(len(e["agents"]) for e in episodes),
            "topologies": sorted({e["topology"] for e in episodes}),
            "languages": sorted({e["metadata"]["language"] for e in episodes if e["metadata"]["language"]})}


def build_report(*, builder_version: str, schema_version: str, options: dict, configs: dict[str, dict],
                 families: list[tuple]) -> dict:
    """Each (family, section) under `families`, every registered family that the build had none of as null.
    `configs` holds each config's summary (`config_summary`, `full_summary`)."""
    return {"builder_version": builder_version, "schema_version": schema_version, "report_version": REPORT_VERSION,
            "options": options, "configs": configs,
            "families": {family.name: None for family in FAMILIES} | {family.name: section
                                                                       for family, section in families}}
