"""Benchmark the LLM judge client against a local OpenAI-compatible server with fixed latency.

    python perf/judge_speed.py [--episodes 200] [--latency 0.5] [--concurrency 8]
    python perf/judge_speed.py --smoke        # 8 episodes, no latency (the suite runs it)

Prints the wall time of labelling every episode (target for 200 at 0.5 s and concurrency 8: <= 20 s),
then of a re-run from the response cache (which must send zero requests).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from openai_server import FakeJudgeServer  # noqa: E402  (the tests' server: real HTTP, real client)
from publish import parse, report, seconds  # noqa: E402

from builder.stages.labels.judge import JudgeLabeler, JudgeSettings  # noqa: E402


def synthetic_episodes(count: int) -> list[dict]:
    winners = ["model_a", "model_b", "tie", "tie (bothbad)"]
    return [{
        "episode_id": f"bench-{i}",
        "winner": winners[i % 4],
        "agents": [{"agent_id": "model_a", "model": "m1", "persona": ""}, {"agent_id": "model_b", "model": "m2", "persona": ""}],
        "turns": [{"prompt": f"Question {i}: explain topic {i % 17}.",
                   "responses": [{"agent_id": "model_a", "content": f"Answer A to {i} " * 40, "output_tokens": 200},
                                 {"agent_id": "model_b", "content": f"Answer B to {i} " * 30, "output_tokens": 150}]}],
    } for i in range(count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--smoke", action="store_true", help="8 episodes without latency: checks the benchmark runs")
    args, argv = parse(parser, argv)
    if args.smoke:
        args.episodes, args.latency = 8, 0.0
    episodes = synthetic_episodes(args.episodes)
    with tempfile.TemporaryDirectory(prefix="bench-judge-") as scratch, \
            FakeJudgeServer(latency_s=args.latency) as server:
        cache = Path(scratch)
        settings = JudgeSettings(base_url=server.base_url, model="bench-judge", concurrency=args.concurrency,
                                 max_calls=10 * args.episodes, timeout_s=30)
        start = time.perf_counter()
        judge = JudgeLabeler(settings, cache)
        labels = judge.label_all(episodes)
        first_s = time.perf_counter() - start
        first_requests = len(server.requests)
        start = time.perf_counter()
        cached = JudgeLabeler(settings, cache)
        cached.label_all(episodes)
        second_s = time.perf_counter() - start
    figures = {
        "episodes": args.episodes, "latency_s": args.latency, "concurrency": args.concurrency,
        "labelled": sum(1 for label, _ in labels.values() if label["missing_reason"] is None),
        "wall_s": round(first_s, 2), "floor_s": round(args.episodes / args.concurrency * args.latency, 2),
        "requests": first_requests, "usage": judge.usage.to_report(),
        "cached_rerun_s": round(second_s, 3), "cached_rerun_requests": len(server.requests) - first_requests,
    }
    report("judge_speed", figures, rows(figures), args, argv)
    return 0


def rows(figures: dict) -> list[tuple[str, str]]:
    return [
        ("labelled", f"{figures['labelled']} of {figures['episodes']} episodes, the server answering after "
                     f"{figures['latency_s']} s, {figures['concurrency']} requests at once"),
        ("time", f"{seconds(figures['wall_s'])} (the latency alone: {seconds(figures['floor_s'])}), "
                 f"{figures['requests']} requests"),
        ("the same labels again, from the response cache",
         f"{figures['cached_rerun_s']:.3f} s, {figures['cached_rerun_requests']} requests"),
    ]


if __name__ == "__main__":
    sys.exit(main())
