"""What the command line shows: one named bar per step and nothing from third-party libraries (nothing at all
with --no-progress), a line while the probe runs, and a summary with every family, the probe's reading,
seconds per step and cache hits; `stats` prints the same summary."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from conftest import make_row, write_jsonl

BARS = ("reading", "embedding", "encoding", "writing")


def run_build(tmp_path, *extra):
    def chat(i, answer):
        return [{"role": "user", "content": f"Question {i}: name a prime above {i}."},
                {"role": "assistant", "content": answer}]

    rows = [make_row(question_id=f"c-{i}", winner=w, conversation_a=chat(i, f"{i + 1} is a guess."),
                     conversation_b=chat(i, "Let me think step by step about primes." * (1 + i % 3)))
            for i, w in enumerate(["model_a", "model_b", "tie", "tie (bothbad)"] * 6)]
    source = write_jsonl(tmp_path / "rows.jsonl", rows)
    env = {**os.environ, "MULTI_LLM_COORD_CACHE_DIR": str(tmp_path / "cold-cache")}  # the model really loads
    return subprocess.run([sys.executable, "-m", "builder", "build", "--source", source, "-o", str(tmp_path / "out"),
                           "--rank", "2", *extra], capture_output=True, text=True, env=env, timeout=300)


def test_no_progress_means_a_silent_stderr_and_a_full_summary(tmp_path):
    result = run_build(tmp_path, "--no-progress")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no transformers "Loading weights", no sentence-transformers "Batches"
    out = result.stdout
    assert "pairwise: rows read 24, accepted 24, rejected 0" in out
    # 24 battles are below the scoring minimum: every analysis says so, none shows a score
    assert "  probe: side: not scored (12 labelled episodes in 12 prompt groups (scoring needs 30 in 10))." in out
    assert "  test split: decisive: not scored (24 labelled episodes" in out and "  rank curve: side: not scored (12 labelled" in out
    assert re.search(r"^elapsed \d+\.\ds: pairwise: reading \d", out, re.M)
    assert re.search(r"caches \(pairwise\): embeddings 0 cached / \d+ computed", out)
    stats = subprocess.run([sys.executable, "-m", "builder", "stats", str(tmp_path / "out")], capture_output=True,
                           text=True, timeout=120)
    assert stats.stdout.strip() == out.strip().removesuffix(f"wrote {tmp_path / 'out'}").strip()


def test_progress_shows_only_our_named_bars_without_versions(tmp_path):
    result = run_build(tmp_path)
    assert result.returncode == 0, result.stderr
    err = result.stderr
    for bar in BARS:
        assert f"{bar}:" in err, bar
    assert "Batches" not in err and "Loading weights" not in err and "_v1" not in err and "_v3" not in err
    assert "pairwise: analysing the written full (probe, benchmark, rank curve" in err


def test_version_names_the_builder_and_the_schema():
    import builder
    from multi_llm_coord import SCHEMA_VERSION

    result = subprocess.run([sys.executable, "-m", "builder", "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert result.stdout.strip() == f"multi-llm-coord {builder.__version__} (dataset schema {SCHEMA_VERSION})"


@pytest.mark.parametrize("argv", [["validate", "no-such-folder"], ["stats", "no-such-folder"],
                                  ["push", "no-such-folder", "--repo-id", "org/name"],
                                  ["push", ".", "--repo-id", "not a repo id"]])
def test_usage_and_input_errors_exit_2_with_one_line(argv, tmp_path):
    result = subprocess.run([sys.executable, "-m", "builder", *argv], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: ")


def test_a_missing_source_is_one_line_before_any_progress_bar(tmp_path):
    result = subprocess.run([sys.executable, "-m", "builder", "build", "--source", "missing.jsonl", "-o",
                             str(tmp_path / "out")], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "error: missing.jsonl: no such file or folder\n"  # no "reading" bar before it


def test_a_closed_pipe_ends_quietly_like_other_unix_tools(sample_build):
    """`stats --json | head -1` once head has gone: no traceback, the exit status of a process SIGPIPE ended."""
    process = subprocess.Popen([sys.executable, "-m", "builder", "stats", str(sample_build[0]), "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before the first line is written
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr
