"""The build, top to bottom. Two families of episodes, each read, selected, enriched and fitted on its
own, then written together into one Hub-ready folder:

    pairwise (arena battles -> mini, preview, full)      debate (N-agent logs -> debate-mini, debate-full)
    rows      = iter_source_rows(config.source)           iter_debate_rows(plan)            builder/sources/
    episodes  = normalise(row) or a counted rejection     (arena / Agent-Scaling / MALLM / answer sets)
    full      = select_full(episodes, ...)                builder/selection.py
    for stage in episode_stages(config): stage.process(e) per episode: token logs          builder/stages/
    table     = embed_episodes(full, ...)                 global: each distinct text once  builder/stages/latents/
    coordinator = fit_coordinator(full, table, ...)       global: the low-rank basis
    for stage in fitted_stages(coordinator, table): ...   per episode: z_t, h_t, response latents, N*, offline labels
    judge_labels(full, ...)                               batch, with --labeler judge      builder/stages/labels/
    probe = run_probe(full, ...)                          report: reads the stored latents
    mini, preview = select_mini(full), make_preview(mini) builder/selection.py
    write_config(...) per config, coordinators, stats.json, figures, README.md    builder/output/, dataset_card/

Before any of that, every option is checked (BuildConfig), the sources are resolved (a missing path or an
unrecognisable debate file is an error now, not after the pairwise build) and the output folder is
refused, locked and staged (builder/output/folder.py); at the end the staged folder, with its manifest,
takes the output's place in one atomic exchange.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import multi_llm_coord
from multi_llm_coord import SCHEMA_VERSION

import builder
from builder.config import BuildConfig
from builder.layout import CARD_FILE, COORDINATOR_DIRS, FIGURES_DIR, LOADING_SCRIPT, REPORT_FILE, RUN_FILE, shard_path
from builder.output.folder import OutputFolder
from builder.output.report import build_report, family_report
from builder.output.writer import write_config
from builder.progress import StepTimer, progress, quiet_third_party, status
from builder.provenance import Provenance, arena_provenance, debate_provenance
from builder.rejections import RejectLog, Rejection, RowLocation
from builder.selection import make_preview, select_debate_mini, select_full, select_mini
from builder.sources import iter_source_rows
from builder.sources.arena import arena_row_to_episode
from builder.sources.debates import iter_debate_rows, plan_debate_sources, questions_of
from builder.sources.loaders import source_name
from builder.stages.base import EpisodeStage
from builder.stages.labels.judge import JudgeSettings
from builder.stages.labels.offline import OfflineLabeler
from builder.stages.labels.stage import LabelRun, OfflineLabelStage, judge_labels, main_failure
from builder.stages.latents.coordinator import Coordinator
from builder.stages.latents.embeddings import Embedder, EmbeddingTable, default_cache_dir, embed_episodes
from builder.stages.latents.probe import ScoreCache, debate_targets, pairwise_targets, run_probe
from builder.stages.latents.stage import LatentStage, fit_coordinator
from builder.stages.token_logs import TokenLogStage


class BuildError(Exception):
    """The build cannot go on (strict-mode rejection, nothing accepted, unusable output folder)."""


def episode_stages(config: BuildConfig) -> list[EpisodeStage]:
    """The per-episode stages that need no global fit, in order."""
    return [
        TokenLogStage(config.encoding),
    ]


def fitted_stages(coordinator: Coordinator, table: EmbeddingTable) -> list[EpisodeStage]:
    """The per-episode stages that apply what was fitted on the whole build, in order."""
    return [
        LatentStage(coordinator, table),
        OfflineLabelStage(table),
    ]


@dataclass
class Family:
    """One kind of episode, built on its own: its rows, configs, probe targets and coordinator folder."""

    name: str
    rows: Callable[[], Iterable[tuple[RowLocation, object, Callable]]]
    full_config: str
    mini_config: str
    preview_config: str | None
    coordinator_dir: str
    probe_targets: Callable[[list[dict]], dict]
    provenance: list[Provenance] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def families(config: BuildConfig) -> list[Family]:
    """The build's families; the debate sources are resolved and recognised here, before any work."""
    pairwise = Family(
        name="pairwise",
        rows=lambda: pairwise_rows(config),
        full_config="full", mini_config="mini", preview_config="preview", coordinator_dir=COORDINATOR_DIRS["pairwise"],
        probe_targets=pairwise_targets, provenance=[arena_provenance(
            source, license=config.license, judge_kind=config.judge_kind, citation=_citation(config))
            for source in config.source_list],
    )
    if not config.debate_source_list:
        return [pairwise]
    plan = plan_debate_sources(config.debate_source_list, questions_of(config), config.max_text_chars,
                               config.questions_order)
    debate = Family(
        name="debate",
        rows=lambda: iter_debate_rows(plan),
        full_config="debate-full", mini_config="debate-mini", preview_config=None,
        coordinator_dir=COORDINATOR_DIRS["debate"], probe_targets=debate_targets, notes=plan.notes,
        provenance=list({f.kind: debate_provenance(f.name, f.kind) for f in plan.files}.values()),
    )
    return [pairwise, debate]


def pairwise_rows(config: BuildConfig) -> Iterable[tuple[RowLocation, object, Callable]]:
    """Every pairwise source's rows in turn. With several sources each episode id is prefixed by its source's
    name (`name/id`), so that ids stay unique across sources."""
    several = len(config.source_list) > 1
    for source in config.source_list:
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


def load_path_of(config: BuildConfig) -> str:
    """What the card's snippets load from before a push: the output folder as given."""
    return str(Path(config.output_dir))


def _first_row(path: Path) -> dict | None:
    import pyarrow.parquet as pq

    rows = pq.read_table(path).slice(0, 1).to_pylist() if path.is_file() else []
    return rows[0] if rows else None


def _citation(config: BuildConfig) -> str | None:
    if config.citation and config.citation.startswith("@"):
        return Path(config.citation[1:]).read_text(encoding="utf-8").strip()
    return config.citation


def collect_episodes(rows: Iterable[tuple[RowLocation, object, Callable]], strict: bool, rejects: RejectLog,
                     show_progress: bool) -> tuple[list[dict], int]:
    """Every row as an episode, or a counted rejection (strict: the first rejection stops the build)."""
    episodes, seen_ids, rows_read = [], set(), 0
    for location, row, normalise in progress(rows, show_progress, desc="reading", unit=" rows"):
        rows_read += 1
        episode_id = _raw_id(row)
        try:
            if isinstance(row, Rejection):
                raise row
            episode = normalise(row)
            episode_id = episode["episode_id"]
            if episode_id in seen_ids:
                raise Rejection("duplicate_id", episode_id)
        except Rejection as rejection:
            if strict:
                raise BuildError(f"{location} (id {episode_id!r}) rejected: {rejection} "
                                 "(--strict stops at the first rejection)") from None
            rejects.add(location, episode_id, rejection)
            continue
        seen_ids.add(episode_id)
        episodes.append(episode)
    return episodes, rows_read


def _raw_id(row) -> str | None:
    if isinstance(row, dict):
        for key in ("question_id", "exampleId"):
            value = row.get(key)
            if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**20):
                return str(value)[:200]
    return None


def check_output_dir(output_dir: Path) -> None:
    # datasets >= 4 refuses to load a folder that holds a script named after the folder.
    if Path(output_dir).resolve().name == Path(LOADING_SCRIPT).stem:
        raise BuildError(f"output folder may not be named {Path(LOADING_SCRIPT).stem!r}: load_dataset would refuse "
                         f"it because it holds {LOADING_SCRIPT}")


@dataclass
class FamilyBuild:
    family: Family
    configs: dict[str, list[dict]]
    rows_read: int
    rejects: RejectLog
    stages: list[EpisodeStage]
    coordinator: Coordinator
    probe: dict
    label_run: LabelRun


def build_family(config: BuildConfig, family: Family, timer: StepTimer, embedder: Embedder) -> FamilyBuild:
    rejects = RejectLog()
    step = partial(_step, timer, family.name)
    with step("reading"):
        episodes, rows_read = collect_episodes(family.rows(), config.strict, rejects, config.progress)
    if family.name == "pairwise":
        full = select_full(episodes, languages=config.languages, limit=config.limit, stratify=config.stratify,
                           seed=config.seed)
    else:
        full = sorted(episodes, key=lambda e: e["episode_id"])
    if not full:
        raise BuildError(f"no {family.name} episode to write: {rows_read} rows read, {rejects.total} rejected "
                         f"{dict(rejects.counts) or ''}, {len(episodes)} accepted before selection")
    turns = sum(len(e["turns"]) for e in full)
    if config.rank > turns:  # known before anything is embedded
        raise BuildError(f"--rank {config.rank} needs at least {config.rank} turns to fit the basis on; the "
                         f"{family.name} episodes have {turns} (pass a smaller --rank)")

    stages = episode_stages(config)
    full = run_stages(stages, full, config.progress, step)
    with step("embedding"):
        table = embed_episodes(full, embedder, _cache_dir(config))
    with step("basis fit"):
        coordinator = fit_coordinator(full, table, embedder=embedder, method=config.projection, rank=config.rank,
                                      decay=config.coordinator_decay, seed=config.seed)
    later = fitted_stages(coordinator, table)
    full = run_stages(later, full, config.progress, step)
    label_run = LabelRun(identity=OfflineLabeler.identity)
    if config.labeler == "judge":
        with step("judge"):
            label_run = judge_step(config, full)
    status(f"{family.name}: probing what the coordinator state keeps ({len(family.probe_targets(full))} targets, "
           f"{len(full)} episodes, grouped folds, baselines)...", config.progress)
    probe_cache = ScoreCache(_cache_dir(config))
    with step("probe"):
        probe = run_probe(full, coordinator, table, family.probe_targets, folds=config.probe_folds, seed=config.seed,
                          cache=probe_cache)
    timer.caches[family.name] = {"embeddings": {k: table.stats[k] for k in ("distinct_texts", "embedded", "from_cache")}
                                 | {"rejected_files": len(table.stats["rejected_cache_files"])},
                                 "probe_scores": probe_cache.stats(),
                                 **({"judge": {k: label_run.judge_usage[k] for k in ("calls", "cached", "cache_rejected")}}
                                    if label_run.judge_usage else {})}

    if family.preview_config:
        mini = select_mini(full)
        configs = {family.mini_config: mini, family.preview_config: make_preview(mini), family.full_config: full}
    else:
        configs = {family.mini_config: select_debate_mini(full), family.full_config: full}
    return FamilyBuild(family, configs, rows_read, rejects, stages + later, coordinator, probe, label_run)


def build(config: BuildConfig) -> dict:
    """Run the whole build and return the report (also written as stats.json in the output folder)."""
    check_output_dir(config.output_dir)
    quiet_third_party()
    planned = families(config)
    with OutputFolder(config.output_dir) as output:
        timer = StepTimer()
        report = build_into(config, planned, output.staging, timer)
        (output.staging / RUN_FILE).write_text(json.dumps(run_log(timer), indent=2) + "\n", encoding="utf-8")
        output.commit()
    return report


def run_log(timer: StepTimer) -> dict:
    """What this run did that the data does not depend on: seconds per step, in the order the steps ran, and
    what the caches gave (build-run.json)."""
    return {"elapsed_seconds": timer.seconds, "total_seconds": round(sum(timer.seconds.values()), 3),
            "caches": timer.caches}


def _step(timer: StepTimer, family: str, name: str):
    return timer.step(f"{family}: {name}")


def build_into(config: BuildConfig, planned: list[Family], staging: Path, timer: StepTimer) -> dict:
    """Build every family and write the whole dataset folder into `staging`."""
    # One embedder for the build: the model loads, and its weights are hashed for the cache key, once.
    embedder = Embedder(config.embedding_model, batch_size=config.embedding_batch_size, device=config.device,
                        progress=config.progress)
    built = [build_family(config, family, timer, embedder) for family in planned]
    with timer.step("writing"):
        return write_folder(config, built, staging)


def write_folder(config: BuildConfig, built: list[FamilyBuild], staging: Path) -> dict:
    """Every config's Parquet shards, the coordinators, the report, the figures, the card and the schema file."""
    configs = {name: episodes for result in built for name, episodes in result.configs.items()}
    infos = {name: write_config(episodes, name, staging, config.shard_max_episodes, config.rank)
             for name, episodes in configs.items()}
    for result in built:
        result.coordinator.save(staging / result.family.coordinator_dir)
    sections = {result.family.name: family_report(
        family=result.family.name,
        full=result.configs[result.family.full_config],
        rows_read=result.rows_read,
        rejects=result.rejects,
        stages=[stage.describe() for stage in result.stages],
        probe=result.probe,
        label_run=result.label_run,
        notes=result.family.notes,
        coordinator_dir=result.family.coordinator_dir,
        provenance=result.family.provenance,
    ) for result in built}
    report = build_report(builder_version=builder.__version__, schema_version=SCHEMA_VERSION,
                          options=_options(config), configs=configs, infos=infos, families=sections)
    (staging / REPORT_FILE).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    from dataset_card import render_card
    from dataset_card.figures import write_figures

    figures = write_figures(configs["full"], staging / FIGURES_DIR)
    example = _first_row(staging / shard_path("mini", 0, 1))  # as load_dataset returns it: class labels are ints
    render_card(report, infos, load_path=load_path_of(config), figures=figures, example=example).save(staging / CARD_FILE)
    shutil.copyfile(multi_llm_coord.__file__, staging / LOADING_SCRIPT)
    return report


def judge_step(config: BuildConfig, episodes: list[dict]) -> LabelRun:
    """The judge relabels the (offline-labelled) episodes; it must label enough of them."""
    settings = JudgeSettings(base_url=config.judge_base_url, model=config.judge_model or "",
                             api_key_env=config.judge_api_key_env, concurrency=config.judge_concurrency,
                             max_calls=config.max_calls, timeout_s=config.judge_timeout)
    run = judge_labels(episodes, settings, _cache_dir(config), show_progress=config.progress)
    labelled = sum(1 for e in episodes if e["labels"]["missing_reason"] is None)
    if labelled == 0 or labelled < config.min_labelled * len(episodes):
        raise BuildError(f"the judge labelled {labelled} of {len(episodes)} episodes (--min-labelled "
                         f"{config.min_labelled}); most common failure: {main_failure(episodes)}")
    return run


def _cache_dir(config: BuildConfig) -> Path | None:
    return (config.cache_dir or default_cache_dir()) if config.embedding_cache else None


def run_stages(stages: list[EpisodeStage], episodes: list[dict], show_progress: bool, step=None) -> list[dict]:
    for stage in stages:
        with step(stage.name) if step else contextlib.nullcontext():
            episodes = [stage.process(e) for e in progress(episodes, show_progress, desc=stage.name, unit=" ep")]
    return episodes


def _options(config: BuildConfig) -> dict:
    options = dataclasses.asdict(config)
    options["output_dir"] = str(config.output_dir)
    options["cache_dir"] = str(config.cache_dir) if config.cache_dir else None
    options["languages"] = list(config.languages)
    options["questions"] = list(config.questions)
    options["debate_sources"] = list(config.debate_source_list)
    for transient in ("progress", "cache_dir", "embedding_cache", "device", "judge_api_key_env", "judge_concurrency",
                      "judge_timeout", "min_labelled"):  # do not change the output
        options.pop(transient)
    return options
