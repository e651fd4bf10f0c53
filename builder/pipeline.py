"""The build, top to bottom: read -> normalise -> select -> enrich -> write configs, report and card.

    rows      = iter_source_rows(config.source)            builder/sources/loaders.py
    episodes  = arena_row_to_episode(row) or a rejection   builder/sources/arena.py
    full      = select_full(episodes, ...)                 builder/selection.py
    for stage in episode_stages(config): stage.process(e)  builder/stages/ (token logs)
    fit = fit_latents(full, ...)                           builder/stages/latents/ (global: embeddings, basis, probe)
    LatentStage(fit).process(e)                            builder/stages/latents/ (per episode: z_t, h_t, N*)
    labels = label_build(full, ...); LabelStage(labels)    builder/stages/labels/ (offline rules or an LLM judge)
    mini, preview = select_mini(full), make_preview(mini)  builder/selection.py
    write_config(...) per config, stats.json, README.md    builder/output/, dataset_card/
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import multi_llm_coord
from multi_llm_coord import SCHEMA_VERSION

import builder
from builder.config import BuildConfig
from builder.output.report import REPORT_FILE, build_report
from builder.output.writer import atomic_output_dir, write_config
from builder.progress import progress
from builder.selection import make_preview, select_full, select_mini
from builder.sources import RejectLog, Rejection, iter_source_rows
from builder.sources.arena import arena_row_to_episode
from builder.sources.loaders import source_name
from builder.stages.base import EpisodeStage
from builder.stages.latents.coordinator import COORDINATOR_DIR
from builder.stages.latents.embeddings import Embedder, default_cache_dir
from builder.stages.labels.judge import JudgeSettings
from builder.stages.labels.report import label_statistics
from builder.stages.labels.stage import LabelRun, LabelStage, label_build
from builder.stages.latents.stage import LatentFit, LatentStage, fit_latents
from builder.stages.token_logs import TokenLogStage

LOADING_SCRIPT = "multi_llm_coord.py"


class BuildError(Exception):
    """The build cannot go on (strict-mode rejection, nothing accepted, unusable output folder)."""


def episode_stages(config: BuildConfig) -> list[EpisodeStage]:
    """The per-episode stages that need no global fit, in order."""
    return [
        TokenLogStage(config.encoding),
    ]


def fitted_stages(latent_fit: LatentFit, label_run: LabelRun) -> list[EpisodeStage]:
    """The per-episode stages that apply what was computed on the whole build."""
    return [
        LatentStage(latent_fit),
        LabelStage(label_run),
    ]


def fit_latent_basis(config: BuildConfig, episodes: list[dict]) -> LatentFit:
    """The global fits of a build: embeddings of every distinct text, the low-rank basis, the probe."""
    embedder = Embedder(config.embedding_model, batch_size=config.embedding_batch_size, device=config.device,
                        progress=config.progress)
    return fit_latents(episodes, embedder=embedder, cache_dir=_cache_dir(config), method=config.projection, rank=config.rank,
                       decay=config.coordinator_decay, seed=config.seed, probe_folds=config.probe_folds,
                       show_progress=config.progress)


def read_episodes(config: BuildConfig, rejects: RejectLog) -> tuple[list[dict], int]:
    """Every row of the source as an episode, or a counted rejection. Returns (episodes, rows read)."""
    name = source_name(config.source)
    episodes, seen_ids, rows_read = [], set(), 0
    for row_index, row in progress(iter_source_rows(config.source, config.source_split), config.progress,
                                   desc="reading", unit=" rows"):
        rows_read += 1
        episode_id = _raw_id(row)
        try:
            if isinstance(row, Rejection):
                raise row
            episode = arena_row_to_episode(row, name, config.max_text_chars)
            episode_id = episode["episode_id"]
            if episode_id in seen_ids:
                raise Rejection("duplicate_id", episode_id)
        except Rejection as rejection:
            if config.strict:
                raise BuildError(f"row {row_index} (id {episode_id!r}) rejected: {rejection} "
                                 "(--strict stops at the first rejection)") from None
            rejects.add(row_index, episode_id, rejection)
            continue
        seen_ids.add(episode_id)
        episodes.append(episode)
    return episodes, rows_read


def _raw_id(row) -> str | None:
    if isinstance(row, dict) and isinstance(row.get("question_id"), (str, int)):
        return str(row["question_id"])
    return None


def check_output_dir(output_dir: Path) -> None:
    # datasets >= 4 refuses to load a folder that holds a script named after the folder.
    if Path(output_dir).resolve().name == Path(LOADING_SCRIPT).stem:
        raise BuildError(f"output folder may not be named {Path(LOADING_SCRIPT).stem!r}: load_dataset would refuse "
                         f"it because it holds {LOADING_SCRIPT}")


def build(config: BuildConfig) -> dict:
    """Run the whole build and return the report (also written as stats.json in the output folder)."""
    check_output_dir(config.output_dir)
    rejects = RejectLog()
    episodes, rows_read = read_episodes(config, rejects)
    full = select_full(episodes, languages=config.languages, limit=config.limit,
                       stratify=config.stratify, seed=config.seed)
    if not full:
        raise BuildError(f"no episode to write: {rows_read} rows read, {rejects.total} rejected "
                         f"{dict(rejects.counts) or ''}, {len(episodes)} accepted before selection")

    stages = episode_stages(config)
    full = run_stages(stages, full, config.progress)
    latent_fit = fit_latent_basis(config, full)
    label_run = label_episodes(config, full, latent_fit)
    later = fitted_stages(latent_fit, label_run)
    full = run_stages(later, full, config.progress)
    stages += later

    mini = select_mini(full)
    configs = {"mini": mini, "preview": make_preview(mini), "full": full}

    with atomic_output_dir(config.output_dir) as staging:
        infos = {name: write_config(episodes_, name, staging, config.shard_max_episodes, config.rank)
                 for name, episodes_ in configs.items()}
        latent_fit.coordinator.save(staging / COORDINATOR_DIR)
        report = build_report(
            builder_version=builder.__version__,
            schema_version=SCHEMA_VERSION,
            options=_options(config),
            stages=[stage.describe() for stage in stages],
            rows_read=rows_read,
            rejects=rejects,
            configs=configs,
            infos=infos,
            probe=latent_fit.probe,
            labels={**label_statistics(full), "labeler": label_run.identity, "judge_usage": label_run.judge_usage,
                    "agreement_with_offline": label_run.agreement},
        )
        (staging / REPORT_FILE).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        from dataset_card import render_card
        from dataset_card.figures import FIGURES_DIR, write_figures

        figures = write_figures(full, staging / FIGURES_DIR)
        render_card(report, infos, load_path=str(Path(config.output_dir)), figures=figures).save(staging / "README.md")
        shutil.copyfile(multi_llm_coord.__file__, staging / LOADING_SCRIPT)
    return report


def label_episodes(config: BuildConfig, episodes: list[dict], latent_fit: LatentFit) -> LabelRun:
    judge = None
    if config.labeler == "judge":
        judge = JudgeSettings(base_url=config.judge_base_url, model=config.judge_model or "",
                              api_key_env=config.judge_api_key_env, concurrency=config.judge_concurrency,
                              max_calls=config.max_calls, timeout_s=config.judge_timeout)
    return label_build(episodes, labeler=config.labeler, table=latent_fit.table, judge=judge,
                       cache_dir=_cache_dir(config), show_progress=config.progress)


def _cache_dir(config: BuildConfig) -> Path | None:
    return (config.cache_dir or default_cache_dir()) if config.embedding_cache else None


def run_stages(stages: list[EpisodeStage], episodes: list[dict], show_progress: bool) -> list[dict]:
    for stage in stages:
        episodes = [stage.process(e) for e in progress(episodes, show_progress, desc=stage.name, unit=" ep")]
    return episodes


def _options(config: BuildConfig) -> dict:
    options = dataclasses.asdict(config)
    options["output_dir"] = str(config.output_dir)
    options["cache_dir"] = str(config.cache_dir) if config.cache_dir else None
    options["languages"] = list(config.languages)
    for transient in ("progress", "cache_dir", "embedding_cache", "device", "judge_api_key_env", "judge_concurrency",
                      "judge_timeout"):  # do not change the output
        options.pop(transient)
    return options
