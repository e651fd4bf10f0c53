"""The analyses of a written dataset: what the stored state keeps (the latent probe), the benchmark table, the rank
curve of trained coordinators and failure attribution against human annotations, each read from a family's
published full config (its Parquet files, streamed) after the build has written it.

The build calls `analyse_family` once a family's shards are written; `multi-llm-coord evaluate` calls the same
benchmark and attribution code on any copy (builder.benchmark.evaluation). The probe and the rank curve also need the
texts' embeddings, which the data does not store: the build hands them its embedding table, looked up by text.
Every score goes through one protocol (builder.benchmark.scoring). Nothing here changes a row: the analyses read
the data and write their results into the report.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from builder.benchmark.attribution import attribution_report
from builder.benchmark.evaluation import EvaluationError, published_episodes, read_split_episodes, score_on_test
from builder.benchmark.failure_modes import failure_mode_report
from builder.benchmark.probe import ProbeFeatures, ScoreCache, probe_plan, probe_report
from builder.benchmark.scoring import scoring_threads
from builder.benchmark.trained import (RankCurve, SequenceFeatures, parallel_training, prepare_training_workers,
                                      rank_curve)
from builder.splits import group_of


@dataclass(frozen=True)
class AnalysisSettings:
    """What the analyses take from the build's options."""

    seed: int
    probe_folds: int
    trained_ranks: tuple
    fractions: tuple[float, float, float]
    cache_dir: Path | None  # the probe's score cache (None: no cache)


@dataclass
class Analyses:
    """A family's analyses: the report's `latent_probe`, `test_split`, `rank_curve` (and the chosen trained model)
    and `human_attribution`, the MAST failure modes' targets, and what the probe's score cache gave."""

    probe: dict
    benchmark: dict
    rank_curve: RankCurve
    attribution: dict | None
    failure_modes: dict | None
    probe_cache: dict


def analyse_family(folder: Path, family, table, coordinator, settings: AnalysisSettings, work: Path,
                   step) -> Analyses:
    """Every analysis of `family` on its full config in `folder`, in two passes over the files: the first reads
    what the benchmark table and failure attribution need (as `evaluate` does) and each episode's prompt group and
    labels; the probe's plan picks at most MAX_EPISODES of them (whole groups, seeded), and the second gathers
    those episodes' features; then the probe, the rank curve, the benchmark table and failure attribution."""
    config = family.full_config
    groups: list[str] = []
    labels: dict[str, list] = {}

    def gather(batch: list[dict]) -> None:
        groups.extend(group_of(episode) for episode in batch)
        for name, values in family.probe_targets(batch).items():
            labels.setdefault(name, []).extend(values)

    published = read_split_episodes(folder, config, family, each_batch=gather)
    plan = probe_plan(groups, labels, settings.seed)
    planned = sorted(set().union(*(p.tolist() for p in plan.values()))) if plan else []
    if settings.trained_ranks and parallel_training(len(planned)):
        prepare_training_workers()  # they import torch while the features are gathered below, on one thread
    wanted = set(planned)
    features = ProbeFeatures(coordinator, table, family.sided, work / f"{family.name}-probe")
    sequences = SequenceFeatures(table, family, settings.fractions)
    position = 0
    for _, batch in published_episodes(folder, config):
        chosen = [episode for offset, episode in enumerate(batch) if position + offset in wanted]
        position += len(batch)
        features.add(chosen)
        sequences.add(chosen)
    cache = ScoreCache(settings.cache_dir)

    def probed() -> dict:
        with step("probe"):
            return probe_report(features, planned, plan, labels, groups, folds=settings.probe_folds,
                                seed=settings.seed, cache=cache)

    def benchmarked() -> tuple[dict, dict | None, dict | None]:
        with step("benchmark"):
            try:
                benchmark = score_on_test(folder, family, seed=settings.seed, episodes=published)
            except EvaluationError as error:
                benchmark = {"skipped": str(error).split(": ", 1)[-1]}
            attribution = attribution_report(published.attribution, settings.seed) if published.attribution else None
            failure_modes = (failure_mode_report(published.failure_modes, settings.seed) if published.failure_modes
                             else None)
        return benchmark, attribution, failure_modes

    # The rank curve's trainings run in worker processes (one per CPU) and leave this process waiting: the probe
    # and the benchmark table are fitted meanwhile, on one thread beside it. Each computes what it would alone (the
    # features are read under a lock; scoring_threads keeps every fit on one BLAS thread), so only the time changes:
    # on 2,400 arena battles and 2 CPUs the probe, the rank curve and the benchmark took 17.4 s one after the other,
    # and the rank curve's 9.4 s with the others beside it. Each step's seconds in build-run.json are its own.
    with scoring_threads(), ThreadPoolExecutor(1) as beside:
        probing, scoring = beside.submit(probed), beside.submit(benchmarked)
        # --trained-ranks none: no step in build-run.json (timed, it would measure a wait for the probe thread's GIL)
        with step("rank curve") if settings.trained_ranks else nullcontext():
            curve = rank_curve(sequences, features.baselines(), ranks=settings.trained_ranks, seed=settings.seed,
                               embedding_model=coordinator.embedding_model)
        probe, (benchmark, attribution, failure_modes) = probing.result(), scoring.result()
    features.close()
    return Analyses(probe, benchmark, curve, attribution, failure_modes, cache.stats())
