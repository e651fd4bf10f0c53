"""Each benchmark writes its own table into docs/performance.md (`--publish PAGE`), with the machine, the date and
the commit it ran on, so that the page holds figures a script produced, never figures typed by hand.

A table lives between two markers of its benchmark's name; the rest of the page is prose that stays as written:

    <!-- perf:trace_reading -->
    ...replaced by each `python perf/trace_reading.py --publish docs/performance.md`...
    <!-- /perf:trace_reading -->
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "performance.md"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- perf:{name} -->", f"<!-- /perf:{name} -->"


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """Every benchmark's command line: its own options and --publish; the arguments, and the argv they came from
    (the published table names the command)."""
    parser.add_argument("--publish", type=Path, metavar="PAGE",
                        help=f"also write this run's table into PAGE between its markers (the docs' page: "
                             f"{PAGE.relative_to(ROOT)})")
    argv = sys.argv[1:] if argv is None else argv
    return parser.parse_args(argv), argv


def machine() -> str:
    """The machine in words: CPU model, the CPUs this process may use, memory, GPU (or none)."""
    model = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                  if line.startswith("model name")), None) or os.uname().machine
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    return f"{model}, {cpus} CPUs, {memory:.0f} GiB, GPU: {_gpu() or 'none'}"


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _gpu() -> str | None:
    if not shutil.which("nvidia-smi"):
        return None
    result = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                            text=True, check=False)
    names = sorted(set(result.stdout.split("\n")) - {""}) if result.returncode == 0 else []
    return ", ".join(names) or None


def commit() -> str:
    """The checkout's commit, marked when the tree has changes (figures of uncommitted code say so); the pages the
    benchmarks write are not changes of the code they measure."""
    def git(*args):
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False)

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode != 0:
        return "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)docs/*.md").stdout.strip()
    return head.stdout.strip() + (" with uncommitted changes" if dirty else "")


def section(command: str, rows: list[tuple[str, str]], smoke: bool) -> str:
    """The text between the markers: how the table was made, then the table."""
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    lines = [f"`{command}` on {when}, commit {commit()}: {machine()}."]
    if smoke:
        lines.append("**A smoke run**: these figures check that the benchmark runs; they measure nothing.")
    lines += ["", "| what | figure |", "|---|---|"]
    lines += [f"| {what} | {figure} |" for what, figure in rows]
    return "\n".join(lines)


def publish(page: Path, name: str, rows: list[tuple[str, str]], *, smoke: bool, argv: list[str]) -> None:
    """Replace the benchmark's table on `page`; a page without its markers is refused in one line."""
    start, end = markers(name)
    text = page.read_text(encoding="utf-8")
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise SystemExit(f"{name}: {page} has no single {start} ... {end} pair to write the table between")
    shown = [a for i, a in enumerate(argv) if a != "--publish" and (i == 0 or argv[i - 1] != "--publish")
             and not a.startswith("--publish=")]
    command = " ".join(["python", f"perf/{name}.py", *shown])
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    updated = f"{before}{start}\n{section(command, rows, smoke)}\n{end}{after}"
    temporary = page.with_name(f".{page.name}.writing")
    temporary.write_text(updated, encoding="utf-8")
    temporary.replace(page)  # atomic: a reader sees the old page or the new one
    print(f"{name}: table written to {page}", file=sys.stderr)


def report(name: str, figures: dict, rows: list[tuple[str, str]], args, argv: list[str]) -> None:
    """What every benchmark ends with: its figures on standard output, and its table on the page `--publish` names."""
    print(json.dumps(figures, indent=2))
    if args.publish:
        publish(args.publish, name, rows, smoke=args.smoke, argv=argv)


def seconds(value: float) -> str:
    return f"{value:,.1f} s"


def mib(value: float) -> str:
    return f"{value:,.0f} MiB"
