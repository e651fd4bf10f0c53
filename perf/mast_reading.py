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
from pathlib import Path

from publish import parse, report
from team_reading import at_two_sizes, table

from builder.sources.mast import FAILURE_MODES
from builder.sources.mast_logs import system_of

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "mast" / "MAD_human_labelled_dataset.json"


def full_layout(traces: int, path: Path) -> int:
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
    return traces


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=1642, help="rows of the synthesised full layout")
    parser.add_argument("--smoke", action="store_true", help="600 traces")
    args, argv = parse(parser, argv)
    traces = 600 if args.smoke else args.traces
    with tempfile.TemporaryDirectory(prefix="bench-mast-") as folder:
        figures = at_two_sizes(Path(folder), traces, full_layout, "traces", ".json", 2_000_000)
    report("mast_reading", figures, table(figures, "traces"), args, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
