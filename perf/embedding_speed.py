"""A cold build against a plain sentence-transformers script on the same texts, as alternated pairs of whole
processes, at the sizes users build: battles of an arena-layout file and Who&When's runs, in float32 and bfloat16.

    python perf/embedding_speed.py --source ../shared/data/arena_bench_pairs.jsonl.gz --battles 100,2400 \\
                                   --who-and-when PATH/Who\\&When --pairs 2 [--precisions float32,bfloat16]
    python perf/embedding_speed.py --smoke     # 12 battles of the embedded sample and its agent-team runs

The plain script is what a user would write without this builder: load the same model and call `encode` with its
defaults (batches of 32, float32) on the distinct texts the build embeds. The build is cold (empty caches, its
default options: length-bucketed embedding, the probe, the rank curve) and builds that one source alone. Each pair
runs the plain script, then the build; the ratio is the median of the pairs' ratios, so a drift in the machine's
speed hits both alike. bfloat16 runs where the CPU computes it (AVX512-BF16 or AMX; the build refuses it elsewhere)
and is compared with the same float32 plain script. Prints the CPU's flags that decide the kernels.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from build_speed import MEASURE_PLAIN, SOURCE_ALONE, measured_process, smoke_source
from publish import parse, report, seconds

# One cold build of any family, as a whole process
MEASURE_COLD_BUILD = """
import json, sys
from builder.config import BuildConfig
from builder.pipeline import build
build(BuildConfig(**json.loads(sys.argv[1])))
print(json.dumps({}))
"""
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_flags() -> dict[str, bool]:
    flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("flags")), []) if Path("/proc/cpuinfo").is_file() else []
    return {flag: flag in flags for flag in CPU_FLAGS}


def arena_case(source: Path, battles: int | None) -> tuple[dict, list[str]]:
    """The build's options for `battles` stratified battles of `source` (all with None) and their distinct texts."""
    from builder.selection import EpisodeKey, select_full
    from builder.sources import iter_source_rows
    from builder.sources.arena import arena_row_to_episode
    from builder.stages.latents.embeddings import episode_texts

    episodes = [arena_row_to_episode(row, "bench", 200_000) for _, row in iter_source_rows(str(source))
                if isinstance(row, dict)]
    if battles:
        chosen = {k.episode_id for k in select_full([EpisodeKey.of(e) for e in episodes], limit=battles,
                                                     stratify=True)}
        episodes = [e for e in episodes if e["episode_id"] in chosen]
    options = dict(source=str(source), limit=battles, stratify=bool(battles), family_sources=SOURCE_ALONE)
    return options, sorted({text for e in episodes for text in episode_texts(e)})


def team_case(folder: str) -> tuple[dict, list[str]]:
    """The build's options for the agent-team runs of `folder` alone, and their distinct texts."""
    from builder.config import BuildConfig
    from builder.rejections import Rejection
    from builder.sources.agent_teams import iter_team_rows, plan_team_sources
    from builder.stages.latents.embeddings import episode_texts

    limit = BuildConfig().max_text_chars
    texts = set()
    for _, row, normalise in iter_team_rows(plan_team_sources((folder,)), limit):
        if not isinstance(row, Rejection):
            texts.update(episode_texts(normalise(row)))
    return dict(source="none", family_sources={"debate": ["none"], "agents": [folder]}), sorted(texts)


def alternated_pairs(options: dict, texts: list[str], precision: str, pairs: int, work: Path) -> dict:
    """`pairs` (plain script, cold build) pairs of whole processes, alternated."""
    texts_file = work / "texts.json"
    texts_file.write_text(json.dumps(texts), encoding="utf-8")
    runs = []
    for run in range(pairs):
        plain = measured_process(MEASURE_PLAIN, str(texts_file), str(work / "plain.npy"))
        build = measured_process(MEASURE_COLD_BUILD, json.dumps({
            **options, "embedding_precision": precision, "progress": False,
            "output_dir": str(work / f"out-{precision}-{run}"), "cache_dir": str(work / f"cache-{precision}-{run}")}))
        runs.append({"plain_s": plain["seconds"], "cold_build_s": build["seconds"],
                     "ratio": round(build["seconds"] / plain["seconds"], 3)})
    return {"precision": precision, "distinct_texts": len(texts), "pairs": runs,
            "build_over_plain_script": round(statistics.median(r["ratio"] for r in runs), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, help="arena-layout file (required unless --smoke)")
    parser.add_argument("--battles", default="100,2400", help="battle counts of --source, stratified")
    parser.add_argument("--who-and-when", help="a folder of Who&When runs (its two subfolders), built alone")
    parser.add_argument("--pairs", type=int, default=2, help="alternated (plain script, cold build) pairs per case")
    parser.add_argument("--precisions", default="float32,bfloat16")
    parser.add_argument("--smoke", action="store_true", help="12 battles and the embedded agent-team sample, 1 pair")
    args, argv = parse(parser, argv)
    if not args.smoke and not args.source:
        parser.error("--source is required unless --smoke")
    from builder.stages.latents.embeddings import cpu_runs_bfloat16

    native = cpu_runs_bfloat16()
    precisions = [p for p in args.precisions.split(",") if p == "float32" or native]
    with tempfile.TemporaryDirectory(prefix="bench-embedding-") as folder:
        work = Path(folder)
        if args.smoke:
            cases = {"12 battles": arena_case(smoke_source(work), None), "agent-team sample": team_case("sample")}
        else:
            cases = {f"{n} battles": arena_case(args.source, int(n)) for n in args.battles.split(",")}
            if args.who_and_when:
                cases["Who&When"] = team_case(args.who_and_when)
        figures = {"cpu_flags": cpu_flags(), "cpu_runs_bfloat16": native, "cases": {}}
        for name, (options, texts) in cases.items():
            if args.smoke:  # a small basis and no rank curve: the smoke run checks that the benchmark runs
                options = {**options, "rank": 2, "trained_ranks": "none"}
            for precision in precisions:
                case_work = work / f"{name.replace(' ', '-').replace('&', '')}-{precision}"
                case_work.mkdir()
                result = alternated_pairs(options, texts, precision, 1 if args.smoke else args.pairs, case_work)
                figures["cases"][f"{name}, {precision}"] = result
                print(f"{name}, {precision}: {result['build_over_plain_script']}x", file=sys.stderr, flush=True)
    if not native:
        figures["bfloat16"] = "not run: this CPU has neither AVX512-BF16 nor AMX (the build refuses it)"
    report("embedding_speed", figures, rows(figures), args, argv)
    return 0


def rows(figures: dict) -> list[tuple[str, str]]:
    flags = ", ".join(flag for flag, present in figures["cpu_flags"].items() if present) or "none of " + \
        ", ".join(CPU_FLAGS)
    table = [("CPU flags", flags)]
    for name, case in figures["cases"].items():
        pairs = "; ".join(f"{seconds(p['plain_s'])} / {seconds(p['cold_build_s'])}" for p in case["pairs"])
        table.append((f"{name} ({case['distinct_texts']:,} texts): cold build over the plain script",
                      f"**{case['build_over_plain_script']}x** (median of {len(case['pairs'])} pair(s), plain / "
                      f"build: {pairs})"))
    if "bfloat16" in figures:
        table.append(("bfloat16", figures["bfloat16"]))
    return table


if __name__ == "__main__":
    raise SystemExit(main())
