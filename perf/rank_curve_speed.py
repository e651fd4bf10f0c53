"""Benchmark what the rank curve (trained low-rank recurrent coordinators, builder.benchmark.trained) adds to
a warm build: time and peak memory, every figure a whole build process.

    python perf/rank_curve_speed.py --source PATH [--repeats 3] [--ranks 1,2,4,8,16,32,64,full]
    python perf/rank_curve_speed.py --smoke     # the embedded sample's 48 battles, ranks 1 and 64 (the suite runs it)
    python perf/rank_curve_speed.py --source PATH --contention   # also: the step beside a busy torch process

Every build reads the source alone (no debate or agent-team family). One cold build fills the embedding cache;
then, alternately, warm builds with `--trained-ranks none` and with the ranks (`--repeats` of each; medians). Prints, as JSON: each warm build's seconds and peak RSS, the median
time added (target for the 2,400 battles of the arena bench file on 2 cores: at most 60 s), the median seconds
of the build's own `rank curve` step (from build-run.json), the peak RSS with over without, and the rank curve
itself (per target: test accuracy and interval of every row), so the figures and the table come from one run.
With `--contention`, one more warm build with the ranks runs beside a CPU-bound torch process (matrix products on
torch's default threads, as a second build would be), and the rank curve step's seconds there are given beside its
quiet ones (`contention_over_quiet`; target on 2 cores: at most 2.5x).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from build_speed import SOURCE_ALONE, measured_build  # noqa: E402 - the script's folder is on sys.path when it runs
from publish import mib, parse, report, seconds  # noqa: E402

RANK_CURVE_STEP = "pairwise: rank curve"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", help="arena-layout file or folder (required unless --smoke)")
    parser.add_argument("--rank", type=int, default=16, help="--rank of the builds (the stored state's)")
    parser.add_argument("--repeats", type=int, default=3, help="warm builds of each kind (medians)")
    parser.add_argument("--ranks", default="1,2,4,8,16,32,64", help="--trained-ranks of the measured builds")
    parser.add_argument("--smoke", action="store_true",
                        help="the embedded sample, ranks 1 and 64, one repeat: checks it runs")
    parser.add_argument("--contention", action="store_true", help="also build beside a busy torch process")
    args, argv = parse(parser, argv)
    if args.smoke:
        from builder.sources.loaders import sample_path

        args.source, args.repeats, args.ranks = str(sample_path()), 1, "1,64"
    if not args.source:
        parser.error("--source is required (or --smoke)")
    with tempfile.TemporaryDirectory(prefix="bench-build-") as scratch:
        figures = run_benchmark(args, Path(scratch))
    report("rank_curve_speed", figures, rows(figures), args, argv)
    return 0


def rows(figures: dict) -> list[tuple[str, str]]:
    table = [
        ("input", f"{figures['episodes']:,} episodes; trained ranks {figures['ranks']}; medians of "
                  f"{figures['repeats']} warm builds of each kind"),
        ("cold build (no rank curve)", seconds(figures["cold_build_s"])),
        ("warm build without / with the rank curve",
         f"{seconds(figures['warm_without_s'])} / {seconds(figures['warm_with_s'])}: "
         f"**{seconds(figures['added_s'])} added**"),
        ("the build's own `rank curve` step", seconds(figures["rank_curve_step_s"])),
        ("peak memory without / with", f"{mib(figures['peak_rss_without_mib'])} / {mib(figures['peak_rss_with_mib'])}"
                                       f" ({figures['peak_with_over_without']}x)"),
    ]
    if figures["rank_curve_step_beside_a_busy_torch_process_s"]:
        table.append(("the step beside a CPU-bound torch process",
                      f"{seconds(figures['rank_curve_step_beside_a_busy_torch_process_s'])}: "
                      f"**{figures['contention_over_quiet']}x** its quiet time"))
    table.append(("rank chosen on validation loss", str(figures["chosen_rank"])))
    scored = {target: results for target, results in figures["rank_curve"].items()
              if isinstance(results, dict) and all(isinstance(v, list) for v in results.values())}
    table += [(f"`{target}`", "not scored") for target in figures["rank_curve"] if target not in scored]
    for name in sorted({name for results in scored.values() for name in results}):
        table.append((f"test accuracy, `{name}`", "; ".join(
            f"{target} {accuracy(*results[name])}" for target, results in scored.items() if name in results)))
    return table


def accuracy(value: float, interval: list[float] | None) -> str:
    return f"{value:.3f}" + (f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "")


def run_benchmark(args, work: Path) -> dict:
    options = {"source": args.source, "output_dir": str(work / "out"), "cache_dir": str(work / "cache"),
               "rank": args.rank, "progress": False, "family_sources": SOURCE_ALONE}
    cold = measured_build({**options, "trained_ranks": "none"})
    runs = {"without": [], "with": []}
    for _ in range(args.repeats):
        for kind, ranks in (("without", "none"), ("with", args.ranks)):
            figures = measured_build({**options, "trained_ranks": ranks})
            run_log = json.loads((work / "out" / "build-run.json").read_text(encoding="utf-8"))
            figures["rank_curve_step_s"] = run_log["elapsed_seconds"].get(RANK_CURVE_STEP, 0.0)
            runs[kind].append({k: figures[k] for k in ("seconds", "peak_rss_mib", "rank_curve_step_s")})
    report = json.loads((work / "out" / "stats.json").read_text(encoding="utf-8"))  # the last build: with ranks
    contended = contended_step(options, args.ranks, work) if args.contention else None
    median = {kind: {k: statistics.median(r[k] for r in values) for k in values[0]} for kind, values in runs.items()}
    return {
        "episodes": report["configs"]["full"]["episodes"], "ranks": args.ranks, "repeats": args.repeats,
        "cold_build_s": cold["seconds"],
        "warm_builds": runs,
        "warm_without_s": median["without"]["seconds"], "warm_with_s": median["with"]["seconds"],
        "added_s": round(median["with"]["seconds"] - median["without"]["seconds"], 2),
        "rank_curve_step_s": median["with"]["rank_curve_step_s"],
        "peak_rss_without_mib": median["without"]["peak_rss_mib"], "peak_rss_with_mib": median["with"]["peak_rss_mib"],
        "peak_with_over_without": round(median["with"]["peak_rss_mib"] / median["without"]["peak_rss_mib"], 3),
        "rank_curve_step_beside_a_busy_torch_process_s": contended,
        "contention_over_quiet": round(contended / median["with"]["rank_curve_step_s"], 2) if contended else None,
        "chosen_rank": report["families"]["pairwise"]["rank_curve"].get("chosen_rank"),
        "rank_curve": {target: ({name: [scores["accuracy"], scores["accuracy_ci95"]]
                                 for name, scores in result["results"].items()} if "results" in result else result)
                       for target, result in report["families"]["pairwise"]["rank_curve"].get("targets", {}).items()}
        or report["families"]["pairwise"]["rank_curve"],
    }


# A second build's CPU load: matrix products on torch's default threads, until it is stopped.
COMPETITOR = """
import torch
a = torch.randn(600, 600)
while True:
    a = torch.tanh(a @ a)
"""


def contended_step(options: dict, ranks: str, work: Path) -> float:
    """The rank curve step of a warm build beside a CPU-bound torch process (started first, stopped after)."""
    competitor = subprocess.Popen([sys.executable, "-c", COMPETITOR], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
    try:
        measured_build({**options, "trained_ranks": ranks})
    finally:
        competitor.kill()
        competitor.wait()
    run_log = json.loads((work / "out" / "build-run.json").read_text(encoding="utf-8"))
    return run_log["elapsed_seconds"].get(RANK_CURVE_STEP, 0.0)


if __name__ == "__main__":
    raise SystemExit(main())
