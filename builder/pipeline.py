"""The build, top to bottom. Every family of episodes with sources in the build (builder/families: pairwise
arena battles -> mini, preview, full; N-agent debates -> debate-mini, debate-full; ...), each read, selected,
enriched and fitted on its own, then written together into one Hub-ready folder.

Each family goes through a list of steps, each a function with one job and a typed result; no step holds more
than a batch of episodes (builder/spill.py):

    read_family   rows -> normalise(row) or a counted rejection -> spill; the family's selection
                  (pairwise: --language, --limit, --stratify) and mini             -> FamilyRead
    embed_step    the selected episodes' distinct texts, once each, cached, by the engine  -> Embedded
    fit_step      the low-rank basis on a seeded sample of at most MAX_FIT_TURNS turns     -> Coordinator
    write_step    the writing stages by the engine (token logs, latents, N*, offline labels) -> judge (--labeler
                  judge) -> the full config's shards by split; the tally; the small configs  -> Written
    then, once every family is written, the analyses read each family's published full config back
    (builder/benchmark/analyses.py: the latent probe, the benchmark table, the rank curve, failure attribution), and the
    coordinators, stats.json, figures and README.md are written

`full` keeps the sources' order (sources as given, files in name order, rows in file order); selection picks
by id. Before any of that, every option is checked (BuildConfig), the sources are resolved (a missing path
or an unrecognisable debate file is an error now, not after the pairwise build) and the output folder is
refused, locked and staged (builder/output/folder.py); at the end the staged folder, with its manifest,
takes the output's place in one atomic exchange.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

import multi_llm_coord
from multi_llm_coord import DEFAULT_RANK, SCHEMA_VERSION

import builder
from dataset_card.figures import write_figures, write_rank_curve
from dataset_card.render import render_card, render_licences
from builder.benchmark.analyses import Analyses, AnalysisSettings, analyse_family
from builder.config import BuildConfig, ranks_text
from builder.engines import make_engine
from builder.families import FAMILIES, EpisodeFamily, FamilyPlan, plan_families
from builder.files import unwritable_reason
from builder.layout import CARD_FILE, FIGURES_DIR, LICENCES_FILE, LOADING_SCRIPT, REPORT_FILE, RUN_FILE, shard_path
from builder.output.folder import OutputFolder, OutputRefused
from builder.output.report import build_report, config_summary, family_report, full_summary
from builder.output.tally import FamilyTally
from builder.output.writer import SplitConfigWriter, write_config
from builder.progress import StepTimer, progress, python_warnings_recorded, quiet_third_party, status, warn
from builder.rejections import RejectLog, Rejection, RowLocation
from builder.selection import EpisodeKey, make_preview
from builder.sources.loaders import NO_SOURCE, source_name
from builder.spill import Spill
from builder.splits import group_of
from builder.stages.labels.judge import JudgeSettings
from builder.stages.labels.offline import OfflineLabeler
from builder.stages.labels.stage import JudgeStep, LabelRun
from builder.stages.latents.coordinator import Coordinator
from builder.stages.latents.embeddings import Embedder, EmbeddingTable, TableBuilder, default_cache_dir, episode_texts
from builder.stages.latents.observations import episode_observations
from builder.stages.latents.stage import fit_coordinator, fit_turns
from builder.stages.writing import describe_stages

SPILL_BATCH = 256          # episodes a pass holds at once
SPILL_FILE_RECORDS = 4096  # episodes a spill file holds: Ray Data reads a file as a block


class BuildError(Exception):
    """The build cannot go on (strict-mode rejection, nothing accepted, unusable output folder)."""


def load_path_of(config: BuildConfig) -> str:
    """What the card's snippets load from before a push: the output folder's name (from the folder that holds it),
    never the path above it: a card names no local path. `push` replaces it with the repo id."""
    return Path(config.output_dir).name


def public_name(value: str) -> str:
    """How the report and the card name a source: a local file or folder by its name alone (the maintainer's
    paths stay private), a Hub id, `sample` or `none` as given."""
    return source_name(value) if value != NO_SOURCE else value


def _first_row(path: Path) -> dict | None:
    rows = pq.read_table(path).slice(0, 1).to_pylist() if path.is_file() else []
    return rows[0] if rows else None


@dataclass
class ReadPass:
    """What the reading pass leaves: the spilled episodes, a key for each, and the probe's labels and groups."""

    spill: Spill
    keys: list[EpisodeKey] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    targets: dict[str, list] = field(default_factory=dict)
    rows_read: int = 0


def read_episodes(rows: Iterable[tuple[RowLocation, object, Callable]], family: EpisodeFamily, spill: Spill, *, strict: bool,
                  rejects: RejectLog, show_progress: bool) -> ReadPass:
    """Every row as an episode spilled to `spill`, or a counted rejection (strict: the first rejection stops the
    build). Episodes go by in batches; only their keys stay."""
    read = ReadPass(spill)
    seen_ids: set[str] = set()
    batch: list[dict] = []
    for location, row, normalise in progress(rows, show_progress, desc="reading", unit=" rows"):
        read.rows_read += 1
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
        batch.append(episode)
        if len(batch) >= spill.batch_size:
            _spill_batch(batch, family, read)
            batch = []
    _spill_batch(batch, family, read)
    spill.close()
    return read


def _spill_batch(batch: list[dict], family: EpisodeFamily, read: ReadPass) -> None:
    if not batch:
        return
    for name, labels in family.probe_targets(batch).items():
        read.targets.setdefault(name, []).extend(labels)
    for episode in batch:
        read.keys.append(EpisodeKey.of(episode))
        read.groups.append(group_of(episode))
        read.spill.append(episode["episode_id"], episode)


def _raw_id(row) -> str | None:
    if isinstance(row, dict):
        for key in ("question_id", "exampleId"):
            value = row.get(key)
            if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**20):
                return str(value)[:200]
    return None


def check_output_dir(output_dir: Path) -> None:
    # datasets >= 4 refuses to load a folder that holds a script named after the folder. The folder is what the
    # user gave, so this is a refusal of the output path (exit 2), not a failed build.
    if Path(output_dir).resolve().name == Path(LOADING_SCRIPT).stem:
        raise OutputRefused(f"output folder may not be named {Path(LOADING_SCRIPT).stem!r}: load_dataset would "
                            f"refuse it because it holds {LOADING_SCRIPT}")


@dataclass
class FamilyCaches:
    """What a family's caches gave in this run (build-run.json; never the data): embeddings, probe scores, judge."""

    embeddings: dict
    judge: dict | None = None
    probe_scores: dict = field(default_factory=dict)  # filled by the analyses

    def to_report(self) -> dict:
        return {"embeddings": self.embeddings, "probe_scores": self.probe_scores,
                **({"judge": self.judge} if self.judge else {})}


@dataclass
class FamilyBuild:
    plan: FamilyPlan
    small_configs: dict[str, list[dict]]  # mini (and preview): a few episodes, in memory
    infos: dict                           # every config's datasets.DatasetInfo
    tally: FamilyTally                    # what the report and figures read of the full config
    rows_read: int
    rejects: RejectLog
    stages: list[dict]                    # the per-episode stages' descriptions (recipe versions, models)
    coordinator: Coordinator
    table: EmbeddingTable                 # every text's vector, for the analyses (they read the written data)
    label_run: LabelRun
    splits: dict                          # each split of the full config: episodes, outcome balance
    caches: FamilyCaches
    analyses: Analyses | None = None      # once the family is written (builder/benchmark/analyses.py)


@dataclass
class FamilyRead:
    """What a family's reading pass and selection leave for the rest of its build: the spilled episodes, and of
    the selected ones (in the sources' order) their ids, turns, probe labels and prompt groups."""

    plan: FamilyPlan
    spill: Spill
    rejects: RejectLog
    rows_read: int
    selected_ids: set[str]
    episode_ids: list[str]          # the selected episodes, in the sources' order
    turns: list[int]                # turns of each selected episode
    labels: dict[str, list]         # the probe's labels of each selected episode, per target
    groups: list[str]               # the prompt group of each selected episode
    mini_ids: set[str]


def read_family(config: BuildConfig, plan: FamilyPlan, timer: StepTimer, work: Path) -> FamilyRead:
    """The reading pass (rows -> episodes spilled to disk, or counted rejections) and the family's selection.
    The keys of every accepted episode are dropped on return: the steps after it need the selected ones only."""
    family = plan.family
    rejects = RejectLog()
    spill = Spill(work / f"{family.name}-episodes", batch_size=SPILL_BATCH, file_records=SPILL_FILE_RECORDS)
    with _step(timer, family.name, "reading"):
        read = read_episodes(plan.rows(), family, spill, strict=config.strict, rejects=rejects,
                             show_progress=config.progress)
    chosen, mini_keys = family.select(read.keys, config)
    if not chosen:
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(rejects.counts.items()))
        raise BuildError(f"no {family.name} episode to write from {', '.join(plan.sources) or 'its sources'}: "
                         f"{read.rows_read} rows read, {rejects.total} rejected{f' ({reasons})' if reasons else ''}, "
                         f"{len(read.keys)} accepted before selection")
    selected_ids = {key.episode_id for key in chosen}
    positions = [i for i, key in enumerate(read.keys) if key.episode_id in selected_ids]
    return FamilyRead(plan, spill, rejects, read.rows_read, selected_ids,
                      episode_ids=[read.keys[i].episode_id for i in positions],
                      turns=[read.keys[i].turns for i in positions],
                      labels={name: [values[i] for i in positions] for name, values in read.targets.items()},
                      groups=[read.groups[i] for i in positions], mini_ids={key.episode_id for key in mini_keys})


def choose_rank(config: BuildConfig, reads: list[FamilyRead]) -> tuple[BuildConfig, str | None]:
    """The config with its rank settled, and a note where it was lowered. The basis needs at least one turn per
    dimension and one rank serves every config of the build, so without --rank it is DEFAULT_RANK, or the number
    of turns of the family with the fewest where that is less (a small file still builds, and says so); an explicit
    --rank that the data cannot fit is an error, known before anything is embedded."""
    fewest = min(reads, key=lambda r: sum(r.turns))
    turns = sum(fewest.turns)
    if turns < 2:  # one observation has no variance to fit a basis on (PCA divides by turns - 1)
        raise BuildError(f"the {fewest.plan.family.name} episodes have {turns} turn{'s' if turns != 1 else ''}; "
                         "fitting the low-rank basis needs at least 2 turns (add an episode, or one with more turns)")
    if config.rank is not None:
        if config.rank > turns:
            raise BuildError(f"--rank {config.rank} needs at least {config.rank} turns to fit the basis on; the "
                             f"{fewest.plan.family.name} episodes have {turns} (pass a smaller --rank)")
        return config, None
    if turns >= DEFAULT_RANK:
        return dataclasses.replace(config, rank=DEFAULT_RANK), None
    return dataclasses.replace(config, rank=turns), (
        f"rank {turns} instead of {DEFAULT_RANK}: the {fewest.plan.family.name} episodes have {turns} turns, and the "
        "basis needs one per dimension (pass --rank to choose)")


@dataclass
class Embedded:
    """The embed step's result: every distinct text of the selected episodes, embedded once (memory-mapped)."""

    table: EmbeddingTable
    cache: dict  # distinct texts, embedded, from the cache, rejected cache files


@dataclass
class Written:
    """The write step's result: the configs written (their DatasetInfo), the full config's tally and split
    report, the small configs' episodes and the labels' run."""

    infos: dict
    tally: FamilyTally
    splits: dict
    small_configs: dict[str, list[dict]]
    label_run: LabelRun


def build_family(config: BuildConfig, read: FamilyRead, timer: StepTimer, engine, staging: Path,
                 work: Path) -> FamilyBuild:
    """One family's steps after reading, in order, each a unit with one job and a typed result: embed (each
    distinct text once), fit (the basis, on a capped sample of turns), write (the per-episode stages, the judge,
    the Parquet shards, the tally). It neither trains nor scores: the analyses read what it wrote."""
    step = partial(_step, timer, read.plan.family.name)
    embedded = embed_step(config, read, engine, work, step)
    coordinator = fit_step(config, read, embedded.table, engine, step)
    written = write_step(config, read, embedded.table, coordinator, engine, staging, step)
    return FamilyBuild(read.plan, written.small_configs, written.infos, written.tally, read.rows_read, read.rejects,
                       describe_stages(config.encoding, coordinator, embedded.table), coordinator, embedded.table,
                       written.label_run, written.splits,
                       FamilyCaches(embeddings=embedded.cache, judge=written.label_run.cache_counts()))


def analyse_step(config: BuildConfig, result: FamilyBuild, staging: Path, timer: StepTimer, work: Path) -> Analyses:
    """The analyses of the family's written full config (builder/benchmark/analyses.py), with the build's settings."""
    family = result.plan.family
    status(f"{family.name}: analysing the written {family.full_config} (probe, benchmark, rank curve "
           f"{ranks_text(config.trained_ranks)})...", config.progress)
    settings = AnalysisSettings(seed=config.seed, probe_folds=config.probe_folds,
                                trained_ranks=config.trained_ranks,
                                fractions=config.split_fractions, cache_dir=_cache_dir(config))
    analyses = analyse_family(staging, family, result.table, result.coordinator, settings, work,
                              partial(_step, timer, family.name))
    result.caches.probe_scores = analyses.probe_cache
    return analyses


def embed_step(config: BuildConfig, read: FamilyRead, engine, work: Path, step) -> Embedded:
    """Every distinct text of the selected episodes, embedded once by the engine (or taken from the cache)."""
    with step("embedding"):
        table_builder = TableBuilder(engine.embedder, _cache_dir(config), work / f"{read.plan.family.name}-vectors",
                                     encode=engine.encode)
        for batch in progress(read.spill.batches(read.selected_ids), config.progress, desc="embedding",
                              unit=" batch", total=-(-len(read.episode_ids) // read.spill.batch_size)):
            for episode in batch:
                table_builder.add(episode_texts(episode))
        table = table_builder.finish()
    return Embedded(table, {k: table.stats[k] for k in ("distinct_texts", "embedded", "from_cache")}
                    | {"rejected_files": len(table.stats["rejected_cache_files"])})


def fit_step(config: BuildConfig, read: FamilyRead, table: EmbeddingTable, engine, step) -> Coordinator:
    """The low-rank basis and the recurrent coordinator, fitted on a seeded sample of at most MAX_FIT_TURNS turns."""
    with step("basis fit"):
        observations = fit_observations(read.spill.batches(read.selected_ids), table,
                                        fit_turns(read.turns, config.seed))
        return fit_coordinator(observations, total_turns=sum(read.turns), method=config.projection, rank=config.rank,
                               decay=config.coordinator_decay, seed=config.seed,
                               embedding_model={**engine.embedder.identity.describe(), "dimension": table.dimension})


def write_step(config: BuildConfig, read: FamilyRead, table: EmbeddingTable, coordinator: Coordinator, engine,
               staging: Path, step) -> Written:
    """The selected episodes through the per-episode stages (by the engine) and the judge, into the full config's
    shards by split; the tally and the small configs gathered as they go by."""
    family, spill = read.plan.family, read.spill
    fractions = config.split_fractions
    tally = FamilyTally(family)
    writer = SplitConfigWriter(family.full_config, staging, config.rank, config.max_shard_bytes, fractions, group_of,
                               family.split_outcome)
    judge = JudgeStep(judge_settings(config), _cache_dir(config), len(read.episode_ids), config.progress) \
        if config.labeler == "judge" else None
    mini: list[dict] = []
    enriched = engine.enrich(spill, read.selected_ids, config.encoding, coordinator, table, step)  # by batch
    for batch in progress(enriched, config.progress, desc="writing", unit=" batch",
                          total=-(-len(read.episode_ids) // spill.batch_size)):
        if judge:
            with step("judge"):
                batch = judge.process(batch)
        with step("writing"):
            writer.add(batch)
            tally.add_all(batch)
            mini += [copy.deepcopy(e) for e in batch if e["episode_id"] in read.mini_ids]
    label_run = judge.finish() if judge else LabelRun(identity=OfflineLabeler.identity)
    if judge and (tally.labelled == 0 or tally.labelled < config.min_labelled * tally.episodes):
        raise BuildError(f"the judge labelled {tally.labelled} of {tally.episodes} episodes (--min-labelled "
                         f"{config.min_labelled}); most common failure: {tally.main_failure()}")
    with step("writing"):
        infos = {family.full_config: writer.close()}
        mini.sort(key=lambda e: e["episode_id"])
        small = {family.mini_config: mini}
        if family.preview_config:
            small[family.preview_config] = make_preview(mini)
        for name, episodes in small.items():
            infos[name] = write_config(episodes, name, staging, config.rank, config.max_shard_bytes)
    return Written(infos, tally, writer.report(), small, label_run)


def fit_observations(batches: Iterable[list[dict]], table, chosen: np.ndarray) -> np.ndarray:
    """The turn observations at the `chosen` positions (in the family's turn order), read batch by batch into
    one preallocated float32 array (rows in `chosen` order: ascending positions)."""
    wanted = set(chosen.tolist())
    rows = np.empty((len(chosen), 3 * table.dimension), np.float32)
    filled, position = 0, 0
    for batch in batches:
        for episode in batch:
            count = len(episode["turns"])
            if any(position + t in wanted for t in range(count)):
                observations = episode_observations(episode, table)[0]
                for t in range(count):
                    if position + t in wanted:
                        rows[filled] = observations[t]
                        filled += 1
            position += count
    return rows[:filled]


def build(config: BuildConfig) -> dict:
    """Run the whole build and return the report (also written as stats.json in the output folder)."""
    check_output_dir(config.output_dir)
    check_work_folder()
    config = with_usable_cache(config)
    quiet_third_party()
    planned = plan_families(config)
    with OutputFolder(config.output_dir) as output, \
            tempfile.TemporaryDirectory(prefix="multi-llm-coord-work-") as work, \
            environment(TORCHINDUCTOR_CACHE_DIR=str(Path(work) / "torchinductor")):
        timer = StepTimer()
        with python_warnings_recorded() as python_warnings:
            report, built = build_into(config, planned, output.staging, timer, Path(work))
        (output.staging / RUN_FILE).write_text(json.dumps(run_log(timer, built, python_warnings), indent=2) + "\n",
                                               encoding="utf-8")
        output.commit()
    return report


def check_work_folder() -> None:
    """The work folder (spills, vectors) goes under the system's temporary folder: one that cannot be written
    is one line now, not a traceback after reading."""
    place = Path(tempfile.gettempdir())
    reason = unwritable_reason(place)
    if reason is not None:
        raise BuildError(f"the temporary folder {place} cannot be written ({reason}); set TMPDIR to a folder with "
                         "space for the build's work files")


def with_usable_cache(config: BuildConfig) -> BuildConfig:
    """The config as given, or without caches (and a warning) where the cache folder cannot be written: a
    read-only, full or non-folder cache costs a re-embedding, never the build. The caches change no output."""
    folder = _cache_dir(config)
    reason = unwritable_reason(folder) if folder is not None else None
    if reason is None:
        return config
    warn(f"the cache folder {folder} cannot be written ({reason}); building without a cache (every text is "
         "embedded and every judge call made again); choose another with --cache-dir")
    return dataclasses.replace(config, embedding_cache=False)


@contextmanager
def environment(**values: str):
    """Set environment variables that are not set yet, for the duration of the block. TORCHINDUCTOR_CACHE_DIR:
    torch creates its compiler cache folder when sentence-transformers is imported, by default in TMPDIR
    (torchinductor_USER), where it would outlive the build; in the work folder it goes with it."""
    added = [name for name in values if name not in os.environ]
    os.environ.update({name: values[name] for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def run_log(timer: StepTimer, built: list[FamilyBuild], python_warnings: list[str]) -> dict:
    """What this run did that the data does not depend on: seconds per step, in the order the steps ran, what
    each family's caches gave, and the Python warnings the libraries raised (build-run.json)."""
    return {"elapsed_seconds": timer.seconds, "total_seconds": round(sum(timer.seconds.values()), 3),
            "caches": {result.plan.family.name: result.caches.to_report() for result in built},
            "python_warnings": python_warnings}


def _step(timer: StepTimer, family: str, name: str):
    return timer.step(f"{family}: {name}")


def build_into(config: BuildConfig, planned: list[FamilyPlan], staging: Path, timer: StepTimer,
               work: Path) -> tuple[dict, list[FamilyBuild]]:
    """Build every family into `staging` (its Parquet shards as they stream), then the report and the card; the
    report and every family's build.
    `work` holds the spills and the vectors files (the system's temporary folder: set TMPDIR to move it)."""
    # One embedder for the build: the model loads, and its weights are hashed for the cache key, once.
    embedder = Embedder(config.embedding_model, batch_size=config.embedding_batch_size, device=config.device,
                        progress=config.progress, precision=config.embedding_precision)
    engine = make_engine(config.engine, embedder, config.ray_address)
    try:
        reads = [read_family(config, plan, timer, work) for plan in planned]
        config, note = choose_rank(config, reads)
        if note:
            warn(note)
            for result in reads:
                result.plan.notes.append(note)
        built = [build_family(config, result, timer, engine, staging, work) for result in reads]
    finally:
        engine.close()
    for result in built:  # every family is written: the analyses read it back
        result.analyses = analyse_step(config, result, staging, timer, work)
    with timer.step("writing"):
        return write_folder(config, built, staging), built


def write_folder(config: BuildConfig, built: list[FamilyBuild], staging: Path) -> dict:
    """The coordinators, the report, the figures, the card and the schema file (the shards are written)."""
    summaries = {}
    for result in built:
        family = result.plan.family
        result.coordinator.save(staging / family.coordinator_dir)
        if result.analyses.rank_curve.chosen is not None:
            result.analyses.rank_curve.chosen.save(staging / family.coordinator_dir)
        for name, info in result.infos.items():
            summaries[name] = (full_summary(result.tally, info.download_size) if name == family.full_config
                               else config_summary(name, result.small_configs[name], info.download_size))
    sections = [(result.plan.family, family_report(
        family=result.plan.family,
        tally=result.tally,
        rows_read=result.rows_read,
        rejects=result.rejects,
        stages=result.stages,
        probe=result.analyses.probe,
        label_run=result.label_run,
        notes=result.plan.notes,
        provenance=result.plan.provenance,
        sources=result.plan.sources,
    ) | {"splits": result.splits, "test_split": result.analyses.benchmark,
         "rank_curve": result.analyses.rank_curve.report})
        for result in built]
    for (family, section), result in zip(sections, built):
        if "human_attribution" in (section.get("n_agent") or {}):  # a family whose sources annotate failures
            section["n_agent"]["human_attribution"] = result.analyses.attribution
        if (section.get("n_agent") or {}).get("failure_modes"):  # MAST's traces: each final code as a target
            section["n_agent"]["failure_modes"]["benchmark"] = result.analyses.failure_modes
    report = build_report(builder_version=builder.__version__, schema_version=SCHEMA_VERSION,
                          options=_options(config), configs=summaries, families=sections)
    (staging / REPORT_FILE).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    infos = {name: info for result in built for name, info in result.infos.items()}
    figures = {}
    for result in built:
        figures |= write_figures(result.tally, result.plan.family, staging / FIGURES_DIR)
        figures |= write_rank_curve(result.analyses.rank_curve.report, result.plan.family, staging / FIGURES_DIR)
    # one episode of the first family's mini config, as load_dataset returns it: class labels are ints
    example = _first_row(staging / shard_path(built[0].plan.family.mini_config, 0, 1))
    render_card(report, infos, load_path=load_path_of(config), figures=figures, example=example).save(staging / CARD_FILE)
    (staging / LICENCES_FILE).write_text(render_licences(report), encoding="utf-8")
    shutil.copyfile(multi_llm_coord.__file__, staging / LOADING_SCRIPT)
    return report


def judge_settings(config: BuildConfig) -> JudgeSettings:
    return JudgeSettings(base_url=config.judge_base_url, model=config.judge_model or "",
                         api_key_env=config.judge_api_key_env, concurrency=config.judge_concurrency,
                         max_calls=config.max_calls, timeout_s=config.judge_timeout)


def _cache_dir(config: BuildConfig) -> Path | None:
    return (config.cache_dir or default_cache_dir()) if config.embedding_cache else None


def _options(config: BuildConfig) -> dict:
    options = dataclasses.asdict(config)
    options["output_dir"] = load_path_of(config)
    options["cache_dir"] = None
    options["source"] = [public_name(s) for s in config.source_list] if len(config.source_list) > 1 \
        else public_name(config.source_list[0])
    options["languages"] = list(config.languages)
    for spec in BuildConfig.cli_fields():  # a parsed option as its flag spells it (--split-fractions 0.8,0.1,0.1)
        if "text" in spec.metadata:
            options[spec.name] = spec.metadata["text"](getattr(config, spec.name))
    options["questions"] = [f"{task}={public_name(path)}" for task, path in
                            (item.split("=", 1) for item in config.questions)]
    options["family_sources"] = {family.name: [public_name(s) for s in config.family_source_list(family.name)]
                                 for family in FAMILIES if family.source_option}
    for transient in ("progress", "cache_dir", "embedding_cache", "device", "judge_api_key_env", "judge_concurrency",
                      "judge_timeout", "min_labelled", "engine", "ray_address"):  # do not change the output
        options.pop(transient)
    return options
