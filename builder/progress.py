"""Progress bars (tqdm, on stderr) that can be switched off for quiet runs and tests."""

from __future__ import annotations


def progress(iterable, enabled: bool, **kwargs):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, mininterval=0.5, **kwargs)
