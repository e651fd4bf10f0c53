"""The Ray Data engine against the local one, on a local Ray started with 2 CPUs."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from multi_llm_coord import CONFIG_NAMES

from builder.config import BuildConfig, ConfigError
from builder.pipeline import build
from conftest import quiet_config

if os.environ.get("MULTI_LLM_COORD_REQUIRE_RAY"):
    import ray  # CI installs the ray extra: this test must run there, never be skipped
else:
    ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def rows_of(folder, config):
    rows = [row for path in sorted((folder / "data" / config).glob("*.parquet")) for row in pq.read_table(path).to_pylist()]
    return sorted(rows, key=lambda row: row["episode_id"])


def test_ray_engine_gives_the_same_episodes_as_the_local_engine(tmp_path, local_ray, monkeypatch):
    # Small batches and spill files, so the Ray run reads several files as several blocks on both workers.
    monkeypatch.setattr("builder.pipeline.SPILL_BATCH", 4)
    monkeypatch.setattr("builder.pipeline.SPILL_FILE_RECORDS", 8)
    cache = tmp_path / "cache"  # shared: both engines read the same vectors, so the episodes can be compared exactly
    # one trained rank: the reports (rank curve included) must still be equal, at a seventh of the trainings
    common = dict(cache_dir=cache, rank=3, trained_ranks="1", family_sources={"debate": ("sample",)})
    local = build(quiet_config(output_dir=tmp_path / "local", **common))
    on_ray = build(quiet_config(output_dir=tmp_path / "ray", engine="ray", **common))
    for config in CONFIG_NAMES:  # every family, the agent teams (one speaker a turn) too
        expected, found = rows_of(tmp_path / "local", config), rows_of(tmp_path / "ray", config)
        assert len(expected) > 0 and found == expected, config
    # The reports differ only in the output folder and in what the cache gave (the local build filled it).
    assert without_cache_counts(on_ray) == without_cache_counts(local)


def without_cache_counts(report: dict) -> str:
    report["options"].pop("output_dir")
    for section in report["families"].values():
        for stage in section["stages"]:
            stage.pop("embedding_stats", None)
    text = json.dumps(report, sort_keys=True)
    return text


def test_ray_actors_encode_like_the_local_model(local_ray):
    from builder.engines import LocalEngine, RayEngine
    from builder.stages.latents.embeddings import Embedder

    texts = [f"text number {i} " + "word " * (i % 17) for i in range(40)]
    embedder = Embedder(progress=False)
    on_ray = RayEngine(embedder).encode(texts)
    local = LocalEngine(embedder).encode(texts)
    assert on_ray.shape == local.shape == (40, 384)
    # Other batches and thread counts may change the last float32 bits, nothing more.
    np.testing.assert_allclose(on_ray, local, atol=1e-5)


def test_ray_address_needs_the_ray_engine():
    with pytest.raises(ConfigError, match="--engine ray"):
        BuildConfig(ray_address="auto")
