"""The output folder: a build replaces only what a build wrote, refuses before any work, locks, and swaps
atomically even when killed; leftovers of killed builds are cleaned, other files never touched."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from builder import pipeline
from builder.cli import main
from builder.files import lock_path
from builder.output.folder import STAGING_MARKER, OutputFolder, OutputRefused, foreign_files
from builder.validate import validate_folder
from conftest import make_row, quiet_config, write_jsonl


@pytest.fixture
def source(tmp_path):
    rows = [make_row(question_id=f"f-{i}", winner=w) for i, w in enumerate(["model_a", "model_b", "tie", "tie (bothbad)"])]
    return write_jsonl(tmp_path / "battles.jsonl", rows)


@pytest.fixture
def no_work(monkeypatch):
    """Fails the test if the build gets as far as reading a family: refusals must come first."""
    def forbidden(*args, **kwargs):
        raise AssertionError("the build started working before refusing")

    monkeypatch.setattr(pipeline, "build_family", forbidden)


def cli_build(source: str, out, *extra) -> int:
    return main(["build", "--source", source, "-o", str(out), "--no-progress", "--rank", "2", *extra])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


def test_a_file_as_output_is_refused_and_kept(tmp_path, source, capsys, no_work):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    assert cli_build(source, notes) == 2
    assert "is a file, not a build folder" in one_error_line(capsys)
    assert notes.read_text() == "my notes"


def test_a_folder_with_user_files_is_refused_and_kept(tmp_path, source, capsys, no_work):
    thesis = tmp_path / "thesis"
    (thesis / "chapters").mkdir(parents=True)
    (thesis / "chapters" / "one.tex").write_text("\\chapter{One}")
    assert cli_build(source, thesis) == 2
    line = one_error_line(capsys)
    assert "holds files that are not a previous build's output" in line and "one.tex" in line
    assert (thesis / "chapters" / "one.tex").read_text() == "\\chapter{One}"


@pytest.mark.parametrize("target", [".", "..", "/"])
def test_the_current_folder_its_parents_and_root_are_refused(tmp_path, source, capsys, monkeypatch, no_work, target):
    work = tmp_path / "work" / "here"
    work.mkdir(parents=True)
    (work / "keep.txt").write_text("keep")
    monkeypatch.chdir(work)
    assert cli_build(source, target) == 2
    assert "current folder or contains it" in one_error_line(capsys)
    assert (work / "keep.txt").read_text() == "keep"


def test_a_symbolic_link_as_output_is_refused(tmp_path, source, capsys, no_work):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    assert cli_build(source, link) == 2
    assert "symbolic link" in one_error_line(capsys)
    assert link.is_symlink()


def test_an_unwritable_place_is_found_before_any_work(tmp_path, source, capsys, no_work):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    assert cli_build(source, blocker / "out") == 2
    assert "cannot write beside it" in one_error_line(capsys)


def test_a_locked_output_is_refused_before_any_work(tmp_path, source, capsys, no_work):
    out = tmp_path / "out"
    # another spelling of the same folder: the lock is keyed by the resolved path
    with open(lock_path(tmp_path / "sub" / ".." / "out"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another build holds it
        assert cli_build(source, out) == 2
    assert "another build is writing to it" in one_error_line(capsys)
    assert not out.exists()


def test_a_concurrent_build_into_the_same_folder_is_refused(tmp_path, source):
    out = tmp_path / "out"
    with OutputFolder(out):
        with pytest.raises(OutputRefused, match="another build is writing"):
            with OutputFolder(out):
                pass


def test_bad_options_fail_before_any_work(tmp_path, source, capsys, no_work):
    for options, message in ((["--limit", "-1"], "--limit must be at least 1"),
                             (["--rank", "0"], "--rank must be in [1, 512]"),
                             (["--coordinator-decay", "2"], "--coordinator-decay must be in [0.0, 1.0)"),
                             (["--stratify"], "--stratify draws a stratified sample"),
                             (["--questions", "gsm8k=q.jsonl"], "--questions supplies Agent-Scaling question texts"),
                             (["--debate-source", str(tmp_path / "missing_debates")], "no such file or folder"),
                             (["--probe-folds", "1"], "--probe-folds must be in [2, 100]"),
                             (["--min-labelled", "0.5"], "--min-labelled applies to --labeler judge only")):
        assert cli_build(source, tmp_path / "out", *options) == 2, options
        assert message in one_error_line(capsys), options
    assert not (tmp_path / "out").exists()


def test_a_misspelled_local_folder_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["build", "--source", "exprots", "-o", "out", "--no-progress"]) == 2
    assert "exprots: no such local file or folder" in one_error_line(capsys)


def test_source_split_selects_the_split_files_of_a_local_folder(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", [make_row(question_id=f"tr-{i}") for i in range(3)])
    write_jsonl(folder / "test.jsonl", [make_row(question_id=f"te-{i}") for i in range(2)])
    report = pipeline.build(quiet_config(source=str(folder), source_split="test", output_dir=tmp_path / "out", rank=2))
    assert report["families"]["pairwise"]["rows_read"] == 2
    report = pipeline.build(quiet_config(source=str(folder), output_dir=tmp_path / "out", rank=2))
    assert report["families"]["pairwise"]["rows_read"] == 3


def test_rebuild_replaces_a_previous_build_and_an_empty_folder(tmp_path, source):
    out = tmp_path / "out"
    out.mkdir()  # empty: nothing to lose
    assert cli_build(source, out) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["files"]) == set(snapshot(out)) - {"manifest.json"}
    assert cli_build(source, out, "--limit", "3") == 0
    assert json.loads((out / "stats.json").read_text())["configs"]["full"]["episodes"] == 3
    assert validate_folder(out) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["battles.jsonl", "out"]


def test_a_file_dropped_into_a_build_or_an_edited_file_blocks_the_rebuild(tmp_path, source, capsys):
    out = tmp_path / "out"
    assert cli_build(source, out) == 0
    (out / "my-analysis.ipynb").write_text("{}")
    assert cli_build(source, out) == 2
    assert "my-analysis.ipynb is not one of the build's files" in one_error_line(capsys)
    (out / "my-analysis.ipynb").unlink()
    with open(out / "README.md", "a") as card:
        card.write("\nmy edits\n")
    assert cli_build(source, out) == 2
    assert "README.md was changed since the build wrote it" in one_error_line(capsys)
    assert (out / "README.md").read_text().endswith("my edits\n")


def test_a_build_from_before_manifests_is_recognised_and_replaced(tmp_path, source):
    out = tmp_path / "out"
    assert cli_build(source, out) == 0
    (out / "manifest.json").unlink()  # what builds wrote before manifests (and run logs) existed
    (out / "build-run.json").unlink()
    (out / "LICENSE.md").unlink()
    assert foreign_files(out) == []
    assert cli_build(source, out) == 0 and (out / "manifest.json").is_file()


def test_leftovers_of_killed_builds_are_cleaned_but_foreign_folders_kept(tmp_path, source):
    out = tmp_path / "out"
    partial = tmp_path / ".out.partial-abc123"
    partial.mkdir()
    (partial / STAGING_MARKER).write_bytes(b"")
    (partial / "data").mkdir()
    foreign = tmp_path / ".out.partial-notours"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("not the builder's")
    assert cli_build(source, out) == 0
    assert not partial.exists()
    assert (foreign / "precious.txt").read_text() == "not the builder's"


CRASH_BETWEEN_RENAMES = """
import os, sys
from builder.output import folder
folder.exchange = lambda a, b: False           # a file system without RENAME_EXCHANGE: the two-rename path
real_rename = os.rename
def rename_then_die(src, dst):
    real_rename(src, dst)
    if ".old-" in str(dst):
        os._exit(9)                             # killed right after moving the previous build aside
folder.os.rename = rename_then_die
from builder.cli import main
from builder.files import lock_path
sys.exit(main(sys.argv[1:]))
"""


def test_a_crash_between_the_two_renames_is_completed_by_the_next_build(tmp_path, source):
    out = tmp_path / "out"
    assert cli_build(source, out) == 0
    before = snapshot(out)
    result = subprocess.run([sys.executable, "-c", CRASH_BETWEEN_RENAMES, "build", "--source", source, "-o", str(out),
                             "--no-progress", "--rank", "2", "--limit", "2"], capture_output=True, text=True, timeout=300,
                            env=own_temporary_folder(tmp_path))
    assert result.returncode == 9, result.stderr
    assert not out.exists()  # the moment of danger: the old build sits aside, the new one is not in place
    assert list((tmp_path / "tmp").glob("multi-llm-coord-work-*"))  # a killed build cannot remove its work folder
    (retired,) = tmp_path.glob(".out.old-*")
    (finished,) = tmp_path.glob(".out.partial-*")  # the new build, complete with its manifest
    assert OutputFolder(out).recover() == [f"restored out from {retired.name}", f"removed {finished.name}"]
    assert snapshot(out) == before
    assert cli_build(source, out, "--limit", "2") == 0  # and the next build goes through, leaving nothing beside
    assert sorted(p.name for p in tmp_path.iterdir()) == ["battles.jsonl", "out", "tmp"]


def own_temporary_folder(tmp_path: Path) -> dict:
    """The environment of a build that will be killed: its work folder, which a killed process cannot remove,
    goes to the test's own temporary folder instead of the system's."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp_path / "tmp")}


def test_kill_9_during_builds_leaves_the_previous_build_or_the_new_one(tmp_path, source):
    out = tmp_path / "out"
    assert cli_build(source, out) == 0
    before = snapshot(out)
    command = [sys.executable, "-m", "builder", "build", "--source", source, "-o", str(out), "--no-progress",
               "--rank", "3", "--limit", "3"]
    for delay in (0.5, 2.0, 4.0):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env=own_temporary_folder(tmp_path))
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        after = snapshot(out)
        assert after == before or validate_folder(out) == [], f"killed after {delay} s: neither old nor valid new"
        before = after
    assert cli_build(source, out) == 0
    assert validate_folder(out) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["battles.jsonl", "out", "tmp"]


def test_output_named_like_the_loading_script_is_still_refused(tmp_path, source, capsys):
    assert cli_build(source, tmp_path / "multi_llm_coord") == 2  # the user's output path: a usage error
    assert "may not be named 'multi_llm_coord'" in one_error_line(capsys)


def test_the_staging_folder_is_removed_when_the_build_fails(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with OutputFolder(out) as output:
            (output.staging / "data").mkdir()
            raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing beside the output, not even a lock
    assert not os.path.exists(out)


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_stop_a_build_like_ctrl_c(tmp_path, source, signum, code):
    """A real signal to a running build: one line, exit 128 + the signal, the previous build intact, nothing of
    ours left in TMPDIR and nothing beside the output (a second kill -9 aside)."""
    out = tmp_path / "out"
    assert cli_build(source, out) == 0
    before = snapshot(out)
    process = subprocess.Popen([sys.executable, "-m", "builder", "build", "--source", source, "-o", str(out),
                                "--no-progress", "--rank", "3", "--no-embedding-cache"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=own_temporary_folder(tmp_path))
    deadline = time.monotonic() + 120
    while not list((tmp_path / "tmp").glob("multi-llm-coord-work-*")) and time.monotonic() < deadline:
        time.sleep(0.05)  # the build has begun its work once its work folder exists
    assert process.poll() is None, "the build ended before it could be signalled"
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    assert stderr.strip().splitlines()[-1].startswith(f"terminated by {signal.Signals(signum).name}")
    assert snapshot(out) == before
    assert list((tmp_path / "tmp").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["battles.jsonl", "out", "tmp"]
