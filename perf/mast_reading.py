"""Benchmark reading MAST's traces: the full dataset's layout ({mas_name, llm_name, benchmark_name, trace_id, trace:
{key, index, trajectory}, mast_annotation}) synthesised at its size from the real traces of tests/fixtures/mast (each
copied under new trace ids, the systems in the fixture's proportions), then read into episodes as a build reads a
--team-source, before any embedding: traces a second, and tracemalloc's peak at the full size and a tenth of it.

    python perf/mast_reading.py [--traces 1642]
    python perf/mast_reading.py --smoke         # 600 traces (the suite runs it)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from publish import add_argument, publish, seconds

from builder.rejections import Rejection
from builder.sources.agent_teams import iter_team_rows, plan_team_sources
from builder.sources.mast import FAILURE_MODES
from builder.sources.mast_logs import system_of

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "mast" / "MAD_human_labelled_dataset.json"


def full_layout(traces: int, path: Path) -> None:
    """`traces` rows of the full dataset's layout, written as one JSON array, the fixture's traces in turn."""
    records = json.loads(FIXTURE.read_text(encoding="utf-8"))
    with open(path, "w", encoding="utf-8") as out:
        out.write("[")
        for number in range(traces):
            record = records[number % len(records)]
            system = record["mas_name"] if system_of(record["mas_name"]) else record["benchmark_name"]
            row = {"mas_name": system, "llm_name": "gpt-4o", "benchmark_name": record["benchmark_name"],
                   "trace_id": number, "trace": {"key": f"copy_{number // len(records)}", "index": number,
                                                 "trajectory": record["trace"]},
                   "mast_annotation": {code: number % 2 for code in FAILURE_MODES}}
            out.write(("," if number else "") + json.dumps(row))
        out.write("]")


def read(path: Path) -> tuple[int, float, int]:
    """(episodes, seconds, peak traced bytes): timed alone, then read again under tracemalloc for the memory."""
    started = time.perf_counter()
    episodes = _episodes(path)
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    _episodes(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return episodes, elapsed, peak


def _episodes(path: Path) -> int:
    episodes = 0
    for _, row, normalise in iter_team_rows(plan_team_sources((str(path),)), 2_000_000):
        if not isinstance(row, Rejection):
            normalise(row)
            episodes += 1
    return episodes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=1642, help="rows of the synthesised full layout")
    parser.add_argument("--smoke", action="store_true", help="600 traces")
    add_argument(parser)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    traces = 600 if args.smoke else args.traces
    figures = {}
    with tempfile.TemporaryDirectory(prefix="bench-mast-") as folder:
        for label, size in (("tenth", traces // 10), ("full", traces)):
            path = Path(folder) / f"{label}.json"
            full_layout(size, path)
            episodes, elapsed, peak = read(path)
            figures[label] = {"traces": size, "episodes": episodes, "megabytes": round(path.stat().st_size / 2**20, 1),
                              "seconds": round(elapsed, 2), "traces_per_s": round(size / elapsed, 1),
                              "peak_traced_mib": round(peak / 2**20, 2)}
    figures["peak_full_over_tenth"] = round(figures["full"]["peak_traced_mib"] / figures["tenth"]["peak_traced_mib"], 2)
    print(json.dumps(figures, indent=1))
    if args.publish:
        publish(args.publish, "mast_reading", rows(figures), smoke=args.smoke, argv=argv)
    return 0


def rows(figures: dict) -> list[tuple[str, str]]:
    full, tenth = figures["full"], figures["tenth"]
    return [
        ("read", f"{full['traces']:,} traces ({full['megabytes']} MB) into {full['episodes']:,} episodes"),
        ("time", f"{seconds(full['seconds'])}, **{full['traces_per_s']} traces a second**"),
        ("a tenth of the traces", f"{tenth['traces']:,} traces, {seconds(tenth['seconds'])}"),
        ("peak traced memory (tracemalloc): full, tenth",
         f"{full['peak_traced_mib']:.2f} MiB, {tenth['peak_traced_mib']:.2f} MiB: {figures['peak_full_over_tenth']}x"),
    ]


if __name__ == "__main__":
    sys.exit(main())
