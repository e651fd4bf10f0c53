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
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))

from openai_server import ScriptedChatServer  # noqa: E402
from publish import parse, report  # noqa: E402
from team_reading import at_two_sizes, table  # noqa: E402

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=50_000)
    parser.add_argument("--smoke", action="store_true", help="2,000 spans")
    args, argv = parse(parser, argv)
    spans = 2_000 if args.smoke else args.spans
    with tempfile.TemporaryDirectory(prefix="bench-traces-") as folder:
        trace = framework_trace(Path(folder))
        figures = at_two_sizes(Path(folder), spans, lambda size, path: copies(trace, size, path), "spans", ".jsonl",
                               100_000)
    report("trace_reading", figures, table(figures, "spans"), args, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
