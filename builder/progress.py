"""What the command line shows while a build runs: one named tqdm bar per step (on stderr), a status line
for steps that have no countable items, and nothing from third-party libraries (transformers'
"Loading weights", sentence-transformers' "Batches", datasets' and huggingface_hub's bars). With
--no-progress nothing is shown at all. `StepTimer` records each step's elapsed time for the summary."""

from __future__ import annotations

import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path


def progress(iterable, enabled: bool, **kwargs):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, mininterval=0.5, **kwargs)


def status(line: str, enabled: bool) -> None:
    """A one-line note on stderr for a step without a countable bar (the probe)."""
    if enabled:
        print(line, file=sys.stderr, flush=True)


_WARNED: set[str] = set()


def warn(line: str) -> None:
    """A warning on stderr, shown even with --no-progress (it says the build did less than asked), once."""
    if line not in _WARNED:
        _WARNED.add(line)
        print(f"warning: {line}", file=sys.stderr, flush=True)


def quiet_third_party() -> None:
    """Switch off the progress bars and info logs of the libraries the build drives: only ours are shown."""
    import datasets
    import huggingface_hub.utils

    datasets.disable_progress_bars()
    huggingface_hub.utils.disable_progress_bars()
    try:
        import transformers

        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
    except ImportError:  # pragma: no cover - sentence-transformers always brings transformers
        pass


@contextmanager
def python_warnings_recorded():
    """Python warnings raised inside the block (a library's RuntimeWarning, matplotlib's UserWarning, in any thread)
    are recorded instead of printed with a line of someone else's source: the block yields a list that it fills
    with one line per distinct warning and how often it came (the build writes them to build-run.json; the
    summary says how many)."""
    found: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield found
        finally:
            counts: dict[str, int] = {}
            for warning in caught:
                line = f"{warning.category.__name__}: {str(warning.message).splitlines()[0][:300]} " \
                       f"({Path(warning.filename).name}:{warning.lineno})"
                counts[line] = counts.get(line, 0) + 1
            found += [line if count == 1 else f"{line} x{count}" for line, count in counts.items()]


class StepTimer:
    """Elapsed wall-clock seconds per named step, in the order the steps ran."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 3)
