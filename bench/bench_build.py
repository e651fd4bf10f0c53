"""Benchmark a whole build against its floor, the bare embedding of the same texts.

    python bench/bench_build.py --source PATH [--limit N] [--rank 16] [--rebuild-rank 8] [--scales 1,4,10]
    python bench/bench_build.py --smoke          # a tiny input written from the embedded sample (the suite runs it)

Prints, as JSON:
- the bare `model.encode` time of the build's distinct texts (the CPU floor of any build),
- a cold build (empty caches) and its ratio to that floor,
- a rebuild with another rank from the warm cache, as a share of the cold build,
- peak resident memory of whole build processes at 1x, 4x and 10x the input (rows repeated with new ids,
  so the embedding cache is warm after the first), each build in its own process;
- GPU embedding throughput where CUDA is available, and `null` where it is not (nothing is claimed).
`--engine ray` does not exist yet (issue 12): the figures say so instead of inventing them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MEASURE_ONE_BUILD = """
import json, resource, sys, time
from builder.config import BuildConfig
from builder.pipeline import build
start = time.perf_counter()
report = build(BuildConfig(**json.loads(sys.argv[1])))
print(json.dumps({"seconds": round(time.perf_counter() - start, 2),
                  "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "episodes": report["configs"]["full"]["episodes"]}))
"""


def repeated_source(source: Path, times: int, folder: Path) -> Path:
    """The source's rows `times` over, each copy with new ids (question_id + '#r<copy>')."""
    from builder.sources import iter_source_rows

    target = folder / f"x{times}.jsonl.gz"
    with gzip.open(target, "wt", encoding="utf-8") as out:
        for copy in range(times):
            for _, row in iter_source_rows(str(source)):
                if isinstance(row, dict):
                    out.write(json.dumps({**row, "question_id": f"{row['question_id']}#r{copy}"}) + "\n")
    return target


def measured_build(options: dict) -> dict:
    """One build in its own process: its wall time and its own peak RSS."""
    result = subprocess.run([sys.executable, "-c", MEASURE_ONE_BUILD, json.dumps(options)], capture_output=True,
                            text=True, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return json.loads(result.stdout.strip().splitlines()[-1])


def smoke_source(folder: Path) -> Path:
    """12 rows of the embedded sample, with distinct prompts: enough for every step, small enough for the suite."""
    from builder.sources.loaders import sample_path

    rows = [json.loads(line) for line in sample_path().read_text(encoding="utf-8").splitlines() if line.strip()][:12]
    target = folder / "smoke.jsonl"
    target.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", help="arena-layout file or folder (required unless --smoke)")
    parser.add_argument("--smoke", action="store_true", help="a tiny input, rank 2: checks the benchmark still runs")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--rebuild-rank", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--scales", default="1,4,10", help="input multiples whose peak memory is measured")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if not args.smoke and not args.source:
        parser.error("--source is required (or --smoke)")

    from builder.config import BuildConfig
    from builder.pipeline import build
    from builder.sources import iter_source_rows
    from builder.sources.arena import arena_row_to_episode
    from builder.stages.latents.embeddings import Embedder, episode_texts

    work = Path(tempfile.mkdtemp(prefix="bench-build-"))
    source = smoke_source(work) if args.smoke else Path(args.source)
    rank, rebuild_rank = (2, 3) if args.smoke else (args.rank, args.rebuild_rank)
    options = dict(source=str(source), limit=args.limit, rank=rank, embedding_batch_size=args.batch_size,
                   progress=False, debate_sources=("none",))
    episodes = [arena_row_to_episode(row, "bench", 200_000) for _, row in iter_source_rows(str(source))
                if isinstance(row, dict)]
    texts = sorted({text for e in (episodes[:args.limit] if args.limit else episodes) for text in episode_texts(e)})

    embedder = Embedder(batch_size=args.batch_size, progress=False)
    embedder.model.encode(texts[:8])  # load and warm the model outside the timing
    start = time.perf_counter()
    embedder.model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True)
    encode_s = time.perf_counter() - start

    cache = work / "cache"
    start = time.perf_counter()
    report = build(BuildConfig(**options, output_dir=work / "out", cache_dir=cache))
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    build(BuildConfig(**{**options, "rank": rebuild_rank}, output_dir=work / "out-rebuild", cache_dir=cache))
    rebuild_s = time.perf_counter() - start

    scales = {}
    for times in (int(s) for s in args.scales.split(",")):
        scaled = repeated_source(source, times, work)
        scales[f"{times}x"] = measured_build({**options, "source": str(scaled), "output_dir": str(work / f"out-{times}x"),
                                              "cache_dir": str(cache)})

    figures = {
        "source": str(source),
        "episodes": report["configs"]["full"]["episodes"],
        "distinct_texts": len(texts),
        "bare_encode_s": round(encode_s, 2),
        "encode_texts_per_s": round(len(texts) / encode_s, 1),
        "cold_build_s": round(build_s, 2),
        "build_over_encode": round(build_s / encode_s, 3),
        "warm_rebuild_rank": rebuild_rank,
        "warm_rebuild_s": round(rebuild_s, 2),
        "warm_rebuild_share": round(rebuild_s / build_s, 4),
        "scaled_builds_warm_cache": scales,
        **scaling(scales),
        "engine_ray": None,  # not implemented: see issue 12
        "probe_reading": report["latent_probe"]["reading"],
    }
    figures.update(gpu_throughput(texts, args.batch_size))
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


def scaling(scales: dict) -> dict:
    """Marginal warm cost per episode between the smallest and largest scale (everything but embedding, since
    the repeated texts are cached), and the peak memory of the largest scale as a multiple of the smallest's."""
    ordered = sorted(scales.values(), key=lambda s: s["episodes"])
    small, large = ordered[0], ordered[-1]
    if large["episodes"] == small["episodes"]:
        return {}
    return {"warm_ms_per_episode": round(1000 * (large["seconds"] - small["seconds"]) /
                                         (large["episodes"] - small["episodes"]), 3),
            "peak_rss_largest_over_smallest": round(large["peak_rss_mib"] / small["peak_rss_mib"], 3)}


def gpu_throughput(texts: list[str], batch_size: int) -> dict:
    import torch

    if not torch.cuda.is_available():
        return {"gpu": None}
    from builder.stages.latents.embeddings import Embedder

    embedder = Embedder(batch_size=batch_size, device="cuda", progress=False)
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
