"""Where the heavy per-item work of a build runs: in this process (`local`) or on Ray Data (`ray`).

Two operations of the streaming build go through an engine; everything else (reading the sources, selection,
the global basis fit, writing the shards, the report) stays on the driver between them:

    encode(texts)                       the embedding model on texts not in the cache (TableBuilder chunks)
    enrich(spill, ids, encoding, coordinator, table)
                                        the per-episode stages (token logs, latents, N*, offline labels) on the
                                        selected episodes, yielded in batches in the spill's order

`RayEngine` runs both with `Dataset.map_batches` and a class-based UDF, so each worker loads the embedding
model (or builds the per-episode stages) once: `ray.data.read_parquet` reads the spill; the embedding table and the
coordinator go to the workers through the object store; `num_gpus` is requested per embedding actor when the
cluster has GPUs. Ray Data keeps the input order (`preserve_order`), so both engines give the same episodes.
A cluster is reached with `--ray-address` (what `ray.init(address=...)` takes, e.g. `auto` on a cluster node or
`ray://head:10001`); without it a local Ray is started with the machine's CPUs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np

from builder.stages.latents.embeddings import Embedder, EmbeddingTable, longest_first
from builder.stages.writing import run_stages, writing_stages


class LocalEngine:
    name = "local"

    def __init__(self, embedder):
        self.embedder = embedder

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.embedder.encode(texts)

    def enrich(self, spill, wanted: set[str], encoding: str, coordinator, table, step) -> Iterator[list[dict]]:
        stages = writing_stages(encoding, coordinator, table)
        for batch in spill.batches(wanted):
            yield run_stages(stages, batch, step)

    def close(self) -> None:
        pass


class _Encoder:
    """A Ray actor's embedding model, loaded once per actor: rows of texts in, their vectors (bytes) out."""

    def __init__(self, model_name: str, batch_size: int | None, device: str | None, precision: str):
        # one worker thread: an actor a CPU already spreads the parts over the CPUs
        self.embedder = Embedder(model_name, batch_size=batch_size, device=device, progress=False, precision=precision,
                                 workers=1)

    def __call__(self, batch: dict) -> dict:
        vectors = [self.embedder.encode(list(texts)) for texts in batch["texts"]]
        return {"part": batch["part"], "vectors": [v.tobytes() for v in vectors],
                "dimension": [v.shape[1] for v in vectors]}


class _Enricher:
    """A Ray actor's per-episode stages, built once per actor from the object store's coordinator and table; it
    drops the spilled episodes that selection left out."""

    def __init__(self, shared):
        import ray

        encoding, coordinator, index, vectors, self.wanted = ray.get(shared)
        self.stages = writing_stages(encoding, coordinator, EmbeddingTable(index, vectors, {}))

    def __call__(self, batch):
        import pyarrow as pa
        import pyarrow.compute as pc

        batch = batch.filter(pc.is_in(batch.column("id"), value_set=self.wanted))  # the selected episodes only
        episodes = run_stages(self.stages, [json.loads(r) for r in batch.column("record").to_pylist()])
        records = [json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in episodes]
        return pa.table({"id": batch.column("id"), "record": pa.array(records, pa.large_string())})


class RayEngine:
    """The same operations on Ray Data; see the module docstring."""

    name = "ray"
    PARTS_PER_CHUNK = 8  # a TableBuilder chunk is split into this many parts, one map_batches row each

    def __init__(self, embedder, address: str | None = None):
        try:
            import ray
        except ImportError:
            raise ValueError("--engine ray needs Ray Data: pip install 'multi-llm-coord[ray]'") from None
        import ray.data

        self.ray = ray
        self.embedder = embedder
        self.started = not ray.is_initialized()
        if self.started:
            ray.init(address=address, include_dashboard=False,
                     log_to_driver=False, logging_level="ERROR")
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # the same order as the local engine
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        self.cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.gpus = int(ray.cluster_resources().get("GPU", 0))
        # One actor a CPU, each reserving a share that leaves one CPU free: with every CPU reserved by actors,
        # the read tasks that feed them could never be scheduled and the pipeline would wait forever.
        self.actor_cpus = max(0.25, (self.cpus - 1) / self.cpus)

    def encode(self, texts: list[str]) -> np.ndarray:
        """The texts' vectors in `texts` order, from actors that each load the model once."""
        order = longest_first(texts)  # similar lengths share a part
        size = -(-len(order) // self.PARTS_PER_CHUNK)
        parts = [order[start:start + size] for start in range(0, len(order), size)]
        rows = [{"part": k, "texts": [texts[i] for i in part]} for k, part in enumerate(parts)]
        actors = max(1, min(len(parts), self.gpus or self.cpus))
        dataset = self.ray.data.from_items(rows).map_batches(
            _Encoder, batch_size=1, concurrency=actors, num_gpus=1 if self.gpus else 0,
            num_cpus=0 if self.gpus else self.actor_cpus,
            fn_constructor_kwargs={"model_name": self.embedder.model_name, "batch_size": self.embedder.batch_size,
                                   "device": "cuda" if self.gpus else self.embedder.device,
                                   "precision": self.embedder.precision})
        vectors = None
        for row in dataset.iter_rows():
            part = np.frombuffer(row["vectors"], dtype=np.float32).reshape(-1, row["dimension"])
            if vectors is None:
                vectors = np.zeros((len(texts), part.shape[1]), np.float32)
            vectors[parts[row["part"]]] = part
        return vectors if vectors is not None else np.zeros((0, 0), np.float32)

    def enrich(self, spill, wanted: set[str], encoding: str, coordinator, table, step) -> Iterator[list[dict]]:
        """The selected episodes through the writing pass's stages on Ray workers, in the spill's order."""
        import pyarrow as pa

        spill.close()
        shared = self.ray.put((encoding, coordinator, table.index, np.asarray(table.vectors),
                               pa.array(sorted(wanted), pa.string())))
        files = [str(path) for path in spill.files]  # in order; a block a file, so every actor gets work
        dataset = self.ray.data.read_parquet(files, override_num_blocks=len(files))
        dataset = dataset.map_batches(_Enricher, batch_size=spill.batch_size, batch_format="pyarrow",
                                      concurrency=self.cpus, num_cpus=self.actor_cpus,
                                      fn_constructor_kwargs={"shared": shared})
        for batch in dataset.iter_batches(batch_size=spill.batch_size, batch_format="pyarrow"):
            yield [json.loads(r) for r in batch.column("record").to_pylist()]

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def make_engine(name: str, embedder, address: str | None = None):
    return RayEngine(embedder, address) if name == "ray" else LocalEngine(embedder)
