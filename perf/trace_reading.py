"""Benchmark reading agent traces: a real framework run's OTLP file (the LangGraph supervisor and swarm of the tests,
run once against the tests' scripted server) copied under fresh trace ids until it holds at least --spans spans, then read
into episodes as a build reads a --team-source, timed with its peak traced memory at two sizes.

    python perf/trace_reading.py [--spans 50000]
    python perf/trace_reading.py --smoke        # 2,000 spans (the suite runs it)

Prints JSON: spans, episodes, seconds, spans per second, and tracemalloc's peak for the full size and a tenth of
it (memory must stay flat per trace: the spans wait on disk).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))

from openai_server import ScriptedChatServer  # noqa: E402
from publish import add_argument, publish, seconds  # noqa: E402

from builder.rejections import Rejection  # noqa: E402
from builder.sources.agent_teams import iter_team_rows, plan_team_sources  # noqa: E402

SCRIPT = [{"tool_calls": [("transfer_to_math_expert", {})]}, {"tool_calls": [("add", {"a": 2, "b": 2})]},
          "2+2 is 4.", {"tool_calls": [("transfer_to_writer", {})]}, "The answer is 4.", "Done: the answer is 4.",
          {"content": "Let me add.", "tool_calls": [("add", {"a": 2, "b": 2})]},
          {"content": "It is 4; Bob, please check.", "tool_calls": [("transfer_to_bob", {})]}, "Checked: 4."]


def framework_trace(folder: Path) -> Path:
    trace = folder / "run.otlp.jsonl"
    with ScriptedChatServer(SCRIPT) as server:
        subprocess.run([sys.executable, str(TESTS / "frameworks" / "run_langgraph_multi_agent.py"), server.base_url,
                        str(trace)], check=True, capture_output=True, timeout=300)
    return trace


def copies(trace: Path, spans: int, path: Path) -> int:
    """The run copied under fresh trace ids until `spans` are written; the number written."""
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    per_copy = sum(len(s["spans"]) for row in lines for r in row["resourceSpans"] for s in r["scopeSpans"])
    written = 0
    with open(path, "w") as out:
        copy = 0
        while written < spans:
            for row in lines:
                for resource in row["resourceSpans"]:
                    for scope in resource["scopeSpans"]:
                        for span in scope["spans"]:
                            span["traceId"] = f"{copy:08x}" + span["traceId"][8:]
                out.write(json.dumps(row) + "\n")
            written += per_copy
            copy += 1
    return written


def read(path: Path) -> tuple[int, float, int]:
    """(episodes, seconds, peak traced bytes) of reading the file as a --team-source: timed alone, then read again
    under tracemalloc (which slows Python several times) for the memory."""
    started = time.perf_counter()
    episodes = _episodes(path)
    seconds = time.perf_counter() - started
    tracemalloc.start()
    _episodes(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return episodes, seconds, peak


def _episodes(path: Path) -> int:
    """The episodes of the file, each row normalised as a build does (a reader may build episodes as it reads or
    when asked: both are counted)."""
    episodes = 0
    for _, row, normalise in iter_team_rows(plan_team_sources((str(path),)), 100_000):
        if not isinstance(row, Rejection):
            try:
                normalise(row)
                episodes += 1
            except Rejection:
                pass
    return episodes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=50_000)
    parser.add_argument("--smoke", action="store_true", help="2,000 spans")
    add_argument(parser)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    spans = 2_000 if args.smoke else args.spans
    with tempfile.TemporaryDirectory(prefix="bench-traces-") as folder:
        trace = framework_trace(Path(folder))
        figures = {}
        for label, size in (("tenth", spans // 10), ("full", spans)):
            path = Path(folder) / f"{label}.jsonl"
            written = copies(trace, size, path)
            episodes, seconds, peak = read(path)
            figures[label] = {"spans": written, "episodes": episodes, "seconds": round(seconds, 2),
                              "spans_per_s": round(written / seconds), "peak_traced_mib": round(peak / 2**20, 2)}
        figures["peak_full_over_tenth"] = round(figures["full"]["peak_traced_mib"]
                                                / figures["tenth"]["peak_traced_mib"], 2)
    print(json.dumps(figures, indent=1))
    if args.publish:
        publish(args.publish, "trace_reading", rows(figures), smoke=args.smoke, argv=argv)
    return 0


def rows(figures: dict) -> list[tuple[str, str]]:
    full, tenth = figures["full"], figures["tenth"]
    return [
        ("read", f"{full['spans']:,} spans into {full['episodes']:,} episodes"),
        ("time", f"{seconds(full['seconds'])}, {full['spans_per_s']:,} spans a second"),
        ("a tenth of the traces", f"{tenth['spans']:,} spans, {seconds(tenth['seconds'])}"),
        ("peak traced memory (tracemalloc): full, tenth",
         f"{full['peak_traced_mib']:.2f} MiB, {tenth['peak_traced_mib']:.2f} MiB: {figures['peak_full_over_tenth']}x"),
    ]


if __name__ == "__main__":
    sys.exit(main())
