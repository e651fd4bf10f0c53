"""Benchmark a whole build against its floor, the bare embedding of the same texts.

    python bench/bench_build.py --source PATH [--limit N] [--rank 16] [--rebuild-rank 8]

Prints, measured in one process:
- the bare `model.encode` time of the build's distinct texts (the CPU floor of any build),
- a cold build (empty embedding cache) and its ratio to that floor (target <= 1.10),
- a rebuild with another rank from the warm cache, as a share of the cold build (target <= 5%),
- peak resident memory; and, where CUDA is available, GPU embedding throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--rebuild-rank", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    from builder.config import BuildConfig
    from builder.pipeline import build, read_episodes
    from builder.selection import select_full
    from builder.sources import RejectLog
    from builder.stages.latents.embeddings import Embedder, distinct_texts

    work = Path(tempfile.mkdtemp(prefix="bench-build-"))
    config = BuildConfig(source=args.source, output_dir=work / "out", limit=args.limit, rank=args.rank,
                         cache_dir=work / "cache", embedding_batch_size=args.batch_size, progress=False)
    episodes, _ = read_episodes(config, RejectLog())
    texts = distinct_texts(select_full(episodes, limit=args.limit))

    embedder = Embedder(config.embedding_model, batch_size=args.batch_size, progress=False)
    embedder.model.encode(texts[:8])  # load and warm the model outside the timing
    start = time.perf_counter()
    embedder.model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True)
    encode_s = time.perf_counter() - start
    del embedder

    start = time.perf_counter()
    report = build(config)
    build_s = time.perf_counter() - start

    start = time.perf_counter()
    build(BuildConfig(**{**config.__dict__, "rank": args.rebuild_rank, "output_dir": work / "out-rebuild"}))
    rebuild_s = time.perf_counter() - start

    figures = {
        "source": args.source,
        "episodes": report["configs"]["full"]["episodes"],
        "turns": report["configs"]["full"]["turns"],
        "distinct_texts": len(texts),
        "bare_encode_s": round(encode_s, 2),
        "encode_texts_per_s": round(len(texts) / encode_s, 1),
        "cold_build_s": round(build_s, 2),
        "build_over_encode": round(build_s / encode_s, 3),
        "warm_rebuild_rank": args.rebuild_rank,
        "warm_rebuild_s": round(rebuild_s, 2),
        "warm_rebuild_share": round(rebuild_s / build_s, 4),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "full_parquet_bytes": report["configs"]["full"]["parquet_bytes"],
        "probe_decisive": report["latent_probe"]["targets"]["decisive"].get("results"),
        "effective_diversity_episode_mean": report["effective_diversity"]["episode_mean"],
    }
    figures.update(gpu_throughput(texts, config.embedding_model, args.batch_size))
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


def gpu_throughput(texts: list[str], model_name: str, batch_size: int) -> dict:
    import torch

    if not torch.cuda.is_available():
        return {"gpu": None}
    from builder.stages.latents.embeddings import Embedder

    embedder = Embedder(model_name, batch_size=batch_size, device="cuda", progress=False)
    embedder.model.encode(texts[:64])
    torch.cuda.synchronize()
    start = time.perf_counter()
    embedder.model.encode(texts, batch_size=256, normalize_embeddings=True)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"gpu": torch.cuda.get_device_name(0), "gpu_encode_s": round(seconds, 2),
            "gpu_texts_per_s": round(len(texts) / seconds, 1)}


if __name__ == "__main__":
    sys.exit(main())
