"""Every command of README.md, of docs/ and of the built card runs as written after `make build`: each ```python
and ```bash block of a page runs, in order, in a folder that holds the sample build as `out` (the README's name for it) and
this checkout's `.venv`. A ```bash example block needs the reader's own files, the network or a token: each of
its `.venv/bin/multi-llm-coord` lines is parsed by the real argument parser (a renamed or misspelt option fails),
and each script it names exists. The ```bash setup block is `make build` / `make test`, which CI itself runs."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from builder.cli import make_parser

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent  # the environment running the suite: `make test`'s .venv
BLOCK = re.compile(r"^```(\w+)( \w+)?\n(.*?)^```", re.S | re.M)


def blocks(text: str) -> list[tuple[str, str, str]]:
    """(language, tag, code) of every fenced block."""
    return [(language, (tag or "").strip(), code) for language, tag, code in BLOCK.findall(text)]


def run_block(language: str, code: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", code] if language == "python" else ["bash", "-e", "-o", "pipefail", "-c", code]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def reader_folder(sample_build, tmp_path_factory):
    """Where a reader stands after `make build`: the build as `out`, the checkout's `.venv` beside it."""
    folder = tmp_path_factory.mktemp("reader")
    shutil.copytree(sample_build[0], folder / "out")
    (folder / ".venv").symlink_to(VENV, target_is_directory=True)
    return folder


PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PAGE_BLOCKS = {page.relative_to(ROOT).as_posix(): blocks(page.read_text(encoding="utf-8")) for page in PAGES}
README_BLOCKS = PAGE_BLOCKS["README.md"]
ALL_BLOCKS = [block for page_blocks in PAGE_BLOCKS.values() for block in page_blocks]


def test_the_pages_have_the_blocks_this_test_knows():
    kinds = {(language, tag) for language, tag, _ in ALL_BLOCKS}
    assert kinds <= {("python", ""), ("bash", ""), ("bash", "example"), ("bash", "setup"), ("", "")}, kinds
    assert sum(1 for language, tag, _ in README_BLOCKS if tag == "" and language in ("python", "bash")) >= 4
    assert len(PAGES) >= 6  # the README and the reference pages it links
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert all(f"]({page})" in readme for page in PAGE_BLOCKS if page != "README.md")


@pytest.mark.parametrize("page", sorted(PAGE_BLOCKS))
def test_every_runnable_block_runs_as_written(reader_folder, page):
    for language, tag, code in PAGE_BLOCKS[page]:
        if tag or language not in ("python", "bash"):
            continue
        result = run_block(language, code, reader_folder)
        assert result.returncode == 0, f"{page}: {language} block failed:\n{code}\n--- stderr:\n{result.stderr[-3000:]}"
        assert "Traceback" not in result.stderr


def test_every_example_command_parses_and_names_what_exists():
    parser = make_parser()
    lines = [line.split(" #", 1)[0].strip() for _, tag, code in ALL_BLOCKS if tag == "example"
             for line in code.splitlines()]
    ours = [line for line in lines if line.startswith(".venv/bin/multi-llm-coord ")]
    scripts = [line for line in lines if line.startswith(".venv/bin/python ")]
    assert len(ours) >= 10 and scripts
    for line in ours:
        words = [w for w in shlex.split(line)[1:] if not (w.startswith("[") or w.endswith("]"))]  # [optional] parts
        try:
            parser.parse_args(words)
        except SystemExit:
            pytest.fail(f"the README's command does not parse: {line}")
    for line in scripts:
        assert (ROOT / shlex.split(line)[1]).is_file(), line


def test_the_setup_block_is_the_makefiles_targets():
    [setup] = [code for _, tag, code in README_BLOCKS if tag == "setup"]
    targets = [line.split()[1] for line in setup.splitlines() if line.startswith("make ")]
    assert targets == ["build", "test"]
    for target in targets:
        assert subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True).returncode == 0, target


def test_every_code_block_of_the_built_card_runs_as_written(sample_build):
    """The card loads from the build folder's own name; its blocks run beside that folder."""
    folder = sample_build[0]
    runnable = [(language, code) for language, tag, code in blocks((folder / "README.md").read_text())
                if language in ("python", "bash")]
    assert len(runnable) >= 8  # one snippet per config, and streaming
    program = "\n".join(code for language, code in runnable if language == "python")
    result = run_block("python", program, folder.parent)  # one process: the snippets share nothing but imports
    assert result.returncode == 0, result.stderr[-3000:]
    assert all(language == "python" for language, _ in runnable)
