"""Faults of the machine and of the world around a build: full disks, unwritable or odd caches, reports of the
wrong shape, inputs that are not sources. Each is one line on stderr and an exit code (or a warning and a build
that goes on), the previous build intact and nothing left in TMPDIR. Where this machine lets the test mount a
small or read-only tmpfs (root, as in CI's containers), the fault is real; otherwise the OSError is injected
at the write."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from builder import cli, pipeline
from builder.cli import main
from builder.output import writer
from builder.stages import tokenizer
from builder.stages.latents import embeddings
from conftest import make_row, write_jsonl


@pytest.fixture
def source(tmp_path):
    rows = [make_row(question_id=f"f-{i}", winner=w) for i, w in enumerate(["model_a", "model_b", "tie", "tie (bothbad)"])]
    return write_jsonl(tmp_path / "battles.jsonl", rows)


@pytest.fixture
def own_tmpdir(tmp_path, monkeypatch):
    """A TMPDIR of the test's own, so that what a build leaves there can be seen."""
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    yield folder
    tempfile.tempdir = None


@contextmanager
def tmpfs(path: Path, *options: str):
    """A tmpfs mounted at `path` with `options` (size=64k, ro), or a skip where this machine cannot mount."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(path)],
                             capture_output=True).returncode == 0 if shutil.which("mount") else False
    if not mounted:
        pytest.skip("cannot mount a tmpfs here (not root); the injected-error tests cover the same paths")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def build_cli(source: str, out: Path, *extra: str) -> int:
    return main(["build", "--source", source, "-o", str(out), "--no-progress", "--rank", "2", *extra])


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- full disks ---------------------------------------------------------------------------------------------

def test_a_full_disk_while_writing_shards_is_one_line_and_the_previous_build_survives(
        tmp_path, source, own_tmpdir, monkeypatch, capsys):
    out = tmp_path / "out"
    assert build_cli(source, out) == 0
    before = snapshot(out)
    capsys.readouterr()

    def full(self, batch):  # what Arrow raises when a shard cannot be written: errno 28 and no file name
        raise OSError(errno.ENOSPC, "Error writing bytes to file")

    monkeypatch.setattr(writer.ConfigWriter, "add", full)
    assert build_cli(source, out) == 1
    line = one_error_line(capsys)
    assert line.startswith("error: no space left on device writing ") and "KiB free" in line
    assert snapshot(out) == before
    assert list(own_tmpdir.iterdir()) == []  # the work folder went with the failed build
    assert sorted(p.name for p in tmp_path.iterdir()) == ["battles.jsonl", "out", "tmpdir"]


def test_a_really_full_tmpdir_is_one_line_naming_it_and_leaves_nothing(tmp_path, source):
    small = tmp_path / "small"
    with tmpfs(small, "size=64k"):
        env = {**os.environ, "TMPDIR": str(small), "TIKTOKEN_CACHE_DIR": str(small / "data-gym-cache")}
        result = subprocess.run([sys.executable, "-m", "builder", "build", "--source", source, "-o",
                                 str(tmp_path / "out"), "--no-progress", "--rank", "2"],
                                capture_output=True, text=True, env=env, timeout=300)
        left = sorted(p.name for p in small.iterdir())
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: no space left on device writing ") and str(small) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert left == []  # no work folder, no empty tiktoken cache folder
    assert not (tmp_path / "out").exists()


def test_a_tiktoken_cache_that_cannot_be_written_leaves_no_empty_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "made" / "by" / "us"))

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(tokenizer, "write_atomic", full)
    with pytest.raises(OSError):
        tokenizer.seed_tiktoken_cache("cl100k_base")
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_tmpdir_is_refused_before_any_work(tmp_path, source, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setattr(tempfile, "tempdir", str(blocker / "tmp"))
    monkeypatch.setattr(pipeline, "build_family", lambda *a, **k: pytest.fail("work began"))
    assert build_cli(source, tmp_path / "out") == 1
    line = one_error_line(capsys)
    assert f"the temporary folder {blocker / 'tmp'} cannot be written" in line and "TMPDIR" in line


# --- caches that cannot be written --------------------------------------------------------------------------

def test_a_cache_path_that_is_a_file_degrades_to_no_cache_with_a_warning(tmp_path, source, capsys):
    cache = tmp_path / "cache-file"
    cache.write_text("not a folder")
    assert build_cli(source, tmp_path / "out", "--cache-dir", str(cache)) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"warning: the cache folder {cache} cannot be written ({cache} is a file, not a folder); "
                   "building without a cache (every text is embedded and every judge call made again); choose "
                   "another with --cache-dir"]
    assert cache.read_text() == "not a folder"


def test_a_read_only_cache_degrades_to_no_cache_with_a_warning(tmp_path, source, capsys):
    cache = tmp_path / "ro-cache"
    if os.geteuid() == 0:
        context = tmpfs(cache, "ro", "size=1m")
    else:
        cache.mkdir()
        cache.chmod(0o555)
        context = contextmanager(lambda: (yield cache))()
    with context:
        code = build_cli(source, tmp_path / "out", "--cache-dir", str(cache))
    assert code == 0
    err = capsys.readouterr().err
    assert err.startswith(f"warning: the cache folder {cache} cannot be written (") and "building without a cache" in err


def test_a_cache_that_fills_up_during_the_build_costs_the_cache_not_the_build(tmp_path, source, monkeypatch, capsys):
    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(embeddings, "write_atomic", full)  # the embedding cache's files
    assert build_cli(source, tmp_path / "out", "--cache-dir", str(tmp_path / "cache")) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"warning: the cache folder {tmp_path / 'cache' / 'embeddings'}")
    assert err[0].endswith("cannot be written (No space left on device); going on without caching")
    assert main(["validate", str(tmp_path / "out")]) == 0


# --- what a successful build leaves in TMPDIR ---------------------------------------------------------------

def test_a_build_process_leaves_nothing_in_tmpdir(tmp_path, source):
    """Not the work folder, and not torch's compiler cache (torchinductor_USER), which importing
    sentence-transformers creates in TMPDIR."""
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir), "TIKTOKEN_CACHE_DIR": str(tmp_path / "tiktoken")}
    env.pop("TORCHINDUCTOR_CACHE_DIR", None)
    result = subprocess.run([sys.executable, "-m", "builder", "build", "--source", source, "-o", str(tmp_path / "out"),
                             "--no-progress", "--rank", "2"], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmpdir.iterdir()) == []


# --- reports of the wrong shape -----------------------------------------------------------------------------

@pytest.mark.parametrize("report", ["[1, 2]", '{"configs": {}}', "not json", '"a string"',
                                    lambda r: r["configs"].update(full=[]),
                                    lambda r: r["families"]["pairwise"].update(rejections="none"),
                                    lambda r: r["families"]["debate"]["tokens"]["total_tokens"].update(min="15"),
                                    lambda r: r.update(families=[])])
def test_stats_and_validate_name_a_report_of_the_wrong_shape(sample_build, tmp_path, report, capsys):
    folder = tmp_path / "copy"
    shutil.copytree(sample_build[0], folder)
    path = folder / "stats.json"
    if callable(report):
        value = json.loads(path.read_text())
        report(value)
        report = json.dumps(value)
    path.write_text(report)
    assert main(["stats", str(folder)]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {path}: not a") and "rebuild the folder" in line
    assert main(["validate", str(folder)]) == 1
    problems = [p for p in capsys.readouterr().err.splitlines() if p.startswith("invalid: ")]
    # the report is one finding (and the manifest's checksum another), not every config's "features differ"
    assert problems == ["invalid: manifest: stats.json was changed since the build wrote it",
                        problems[1]] and problems[1].startswith("invalid: stats.json: not a")


@pytest.mark.parametrize("run_log", ["[]", '{"elapsed_seconds": 3}', "{"])
def test_stats_ignores_a_run_log_of_the_wrong_shape(sample_build, tmp_path, run_log, capsys):
    folder = tmp_path / "copy"
    shutil.copytree(sample_build[0], folder)
    (folder / "build-run.json").write_text(run_log)
    assert main(["stats", str(folder)]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "pairwise: rows read" in captured.out and "elapsed" not in captured.out


# --- inputs that are not sources ----------------------------------------------------------------------------

def test_a_fifo_as_source_says_what_it_is(tmp_path, capsys, monkeypatch):
    fifo = tmp_path / "rows.jsonl"
    os.mkfifo(fifo)
    monkeypatch.setattr(pipeline, "build_family", lambda *a, **k: pytest.fail("work began"))
    assert build_cli(str(fifo), tmp_path / "out") == 2
    assert one_error_line(capsys) == (f"error: --source {fifo}: a named pipe (FIFO), not a file or folder; a build "
                                      "reads its sources more than once, so write the rows to a file first")


def test_a_build_folder_inside_the_source_folder_is_never_read_back(tmp_path, capsys):
    """The output inside the source folder: the next build still reads battles.jsonl (not the previous build's
    data/*/train-*.parquet, whose names would make datasets' split rules pick them) and says what it skipped."""
    folder = tmp_path / "exports"
    folder.mkdir()
    write_jsonl(folder / "battles.jsonl", [make_row(question_id=f"s-{i}") for i in range(5)])
    out = folder / "out"
    for attempt in range(2):
        assert build_cli(str(folder), out) == 0
        captured = capsys.readouterr()
        assert "pairwise: rows read 5, accepted 5, rejected 0" in captured.out
    assert captured.err == f"warning: {out}: skipped, a folder this builder wrote (not a source)\n"
    assert build_cli(str(out), tmp_path / "other") == 2
    assert "a folder this builder wrote" in one_error_line(capsys)


def test_an_unreadable_subfolder_of_a_source_is_named_not_skipped(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "exports"
    (folder / "locked").mkdir(parents=True)
    write_jsonl(folder / "battles.jsonl", [make_row(question_id="u-1")])
    if os.geteuid() == 0:  # root reads any folder: make listing this one fail as it would for a user
        real_scandir = os.scandir

        def scandir(path="."):
            if isinstance(path, (str, os.PathLike)) and Path(path) == folder / "locked":
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", scandir)
    else:
        (folder / "locked").chmod(0)
    try:
        assert build_cli(str(folder), tmp_path / "out") == 2
    finally:
        (folder / "locked").chmod(0o755)
    assert one_error_line(capsys) == f"error: {folder / 'locked'}: cannot list this folder of the source (Permission denied)"


@pytest.mark.parametrize("encoding, name", [("utf-16", "UTF-16"), ("utf-16-be", "UTF-16 or UTF-32 (no byte-order mark)"),
                                            ("utf-32", "UTF-32")])
def test_a_utf16_debate_file_is_refused_before_the_pairwise_build(tmp_path, source, encoding, name, capsys, monkeypatch):
    debate = tmp_path / "debates.jsonl"
    debate.write_bytes((json.dumps({"question": "Q?", "agents": [{"model": "m", "response": "A"}]}) + "\n")
                       .encode(encoding))
    monkeypatch.setattr(pipeline, "build_family", lambda *a, **k: pytest.fail("work began"))
    assert build_cli(source, tmp_path / "out", "--debate-source", str(debate)) == 2
    assert one_error_line(capsys) == f"error: {debate}: {name} text, not UTF-8; save it as UTF-8 (e.g. iconv -f UTF-16 -t UTF-8)"


# --- one place turns errors into lines ----------------------------------------------------------------------

def test_an_unexpected_error_is_one_line_unless_debug_is_asked(tmp_path, source, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise KeyError("surprise")

    monkeypatch.setattr(pipeline, "build_family", broken)
    assert build_cli(source, tmp_path / "out") == 1
    assert one_error_line(capsys) == ("error: unexpected KeyError: 'surprise' (run again with --debug, or "
                                      "MULTI_LLM_COORD_DEBUG=1, to see where)")
    with pytest.raises(KeyError):
        main(["--debug", "build", "--source", source, "-o", str(tmp_path / "out"), "--no-progress"])
    monkeypatch.setenv(cli.DEBUG_VARIABLE, "1")
    with pytest.raises(KeyError):
        build_cli(source, tmp_path / "out")
