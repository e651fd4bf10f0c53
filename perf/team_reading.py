"""Reading a file as a build reads a --team-source, timed alone and then under tracemalloc: what the trace and MAST
reading benchmarks measure."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from builder.rejections import Rejection
from builder.sources.agent_teams import iter_team_rows, plan_team_sources


def at_two_sizes(folder: Path, total: int, write: Callable[[int, Path], int], unit: str, suffix: str,
                 max_text_chars: int) -> dict:
    """The file `write(size, path)` makes (it returns how many `unit`s it wrote), read at a tenth of `total` and at
    `total`: per size the units, episodes, megabytes, seconds, units a second and tracemalloc's peak, and the full
    size's peak over the tenth's (flat memory: near 1)."""
    figures = {}
    for label, size in (("tenth", total // 10), ("full", total)):
        path = folder / f"{label}{suffix}"
        written = write(size, path)
        episodes, seconds, peak = read(path, max_text_chars)
        figures[label] = {unit: written, "episodes": episodes, "megabytes": round(path.stat().st_size / 2**20, 1),
                          "seconds": round(seconds, 2), f"{unit}_per_s": round(written / seconds, 1),
                          "peak_traced_mib": round(peak / 2**20, 2)}
    figures["peak_full_over_tenth"] = round(figures["full"]["peak_traced_mib"] / figures["tenth"]["peak_traced_mib"], 2)
    return figures


def read(path: Path, max_text_chars: int) -> tuple[int, float, int]:
    """(episodes, seconds, peak traced bytes): timed alone, then read again under tracemalloc (which slows Python
    several times) for the memory."""
    started = time.perf_counter()
    episodes = _episodes(path, max_text_chars)
    seconds = time.perf_counter() - started
    tracemalloc.start()
    _episodes(path, max_text_chars)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return episodes, seconds, peak


def _episodes(path: Path, max_text_chars: int) -> int:
    """The episodes of the file, each row normalised as a build does (a reader may build episodes as it reads or
    when asked: both are counted)."""
    episodes = 0
    for _, row, normalise in iter_team_rows(plan_team_sources((str(path),)), max_text_chars):
        if not isinstance(row, Rejection):
            try:
                normalise(row)
                episodes += 1
            except Rejection:
                pass
    return episodes


def table(figures: dict, unit: str) -> list[tuple[str, str]]:
    """The published rows of `at_two_sizes`' figures."""
    full, tenth = figures["full"], figures["tenth"]
    return [
        ("read", f"{full[unit]:,} {unit} ({full['megabytes']} MB) into {full['episodes']:,} episodes"),
        ("time", f"{full['seconds']:,.1f} s, **{full[unit + '_per_s']:,.0f} {unit} a second**"),
        (f"a tenth of the {unit}", f"{tenth[unit]:,} {unit}, {tenth['seconds']:,.1f} s"),
        ("peak traced memory (tracemalloc): full, tenth",
         f"{full['peak_traced_mib']:.2f} MiB, {tenth['peak_traced_mib']:.2f} MiB: {figures['peak_full_over_tenth']}x"),
    ]
