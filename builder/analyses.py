"""The analyses of a written dataset: what the stored state keeps (the latent probe), the benchmark table, the rank
curve of trained coordinators and failure attribution against human annotations, each read from a family's
published full config (its Parquet files, streamed) after the build has written it.

The build calls `analyse_family` once a family's shards are written; `multi-llm-coord evaluate` calls the same
benchmark and attribution code on any copy (builder.evaluation). The probe and the rank curve also need the
texts' embeddings, which the data does not store: the build hands them its embedding table, looked up by text.
Every score goes through one protocol (builder.stages.scoring). Nothing here changes a row: the analyses read
the data and write their results into the report.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from multi_llm_coord import WINNER_NAMES

from builder.evaluation import EvaluationError, read_attribution_rows, score_on_test
from builder.layout import DATA_DIR
from builder.stages.labels.attribution import attribution_report
from builder.stages.latents.probe import ProbeFeatures, ScoreCache, group_of, probe_plan, probe_report
from builder.stages.latents.trained import RankCurve, SequenceFeatures, rank_curve

READ_BATCH = 256


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
    and `human_attribution`, and what the probe's score cache gave."""

    probe: dict
    benchmark: dict
    rank_curve: RankCurve
    attribution: dict | None
    probe_cache: dict


def published_episodes(folder: Path, config: str) -> Iterator[list[dict]]:
    """The config's episodes, batch by batch, in the order of its files (split, shard), as the dataset holds
    them with the winner's class number read back as its name."""
    import pyarrow.parquet as pq

    for path in sorted((Path(folder) / DATA_DIR / config).glob("*-*-of-*.parquet")):
        with pq.ParquetFile(path) as parquet:
            for batch in parquet.iter_batches(batch_size=READ_BATCH):
                episodes = batch.to_pylist()
                for episode in episodes:
                    if episode.get("winner") is not None:
                        episode["winner"] = WINNER_NAMES[episode["winner"]]
                yield episodes


def analyse_family(folder: Path, family, table, coordinator, settings: AnalysisSettings, work: Path,
                   step) -> Analyses:
    """Every analysis of `family` on its full config in `folder`: a first pass reads each episode's prompt group
    and labels, the probe's plan picks at most MAX_EPISODES of them (whole groups, seeded), a second pass gathers
    those episodes' features; then the probe, the rank curve, the benchmark table and failure attribution."""
    config = family.full_config
    groups: list[str] = []
    labels: dict[str, list] = {}
    for batch in published_episodes(folder, config):
        groups += [group_of(episode) for episode in batch]
        for name, values in family.probe_targets(batch).items():
            labels.setdefault(name, []).extend(values)
    plan = probe_plan(groups, labels, settings.seed)
    planned = sorted(set().union(*(p.tolist() for p in plan.values()))) if plan else []
    wanted = set(planned)
    features = ProbeFeatures(coordinator, table, family.sided, work / f"{family.name}-probe")
    sequences = SequenceFeatures(table, family, settings.fractions)
    position = 0
    for batch in published_episodes(folder, config):
        chosen = [episode for offset, episode in enumerate(batch) if position + offset in wanted]
        position += len(batch)
        features.add(chosen)
        sequences.add(chosen)
    cache = ScoreCache(settings.cache_dir)
    with step("probe"):
        probe = probe_report(features, planned, plan, labels, groups, folds=settings.probe_folds,
                             seed=settings.seed, cache=cache)
    with step("rank curve"):
        curve = rank_curve(sequences, features.baselines(), ranks=settings.trained_ranks, seed=settings.seed,
                           embedding_model=coordinator.embedding_model)
    features.close()
    with step("benchmark"):
        try:
            benchmark = score_on_test(folder, family, seed=settings.seed)
        except EvaluationError as error:
            benchmark = {"skipped": str(error).split(": ", 1)[-1]}
        rows = read_attribution_rows(folder, config)
        attribution = attribution_report(rows, settings.seed) if rows else None
    return Analyses(probe, benchmark, curve, attribution, cache.stats())
