"""The file helpers every cache and writer of the builder shares.

- `write_atomic`: a file appears whole under its name or not at all (a private temporary file beside it,
  flushed, then renamed over the target): a concurrent reader or a killed process never leaves half a file.
- `JsonFileCache`: one JSON file per key in a folder. An entry is returned only if it parses, carries the
  key it was stored under and passes the caller's check; anything else is a miss (counted, and the file is
  removed so that the caller recomputes it): a cache never returns what it cannot vouch for.
- `ParquetParts`: tables written into a sequence of Parquet files, the next file started once the current one
  holds enough (rows for the build's spill files, Arrow bytes for the dataset's shards).
- `RowFile`: fixed-width numeric rows appended to a file and read back by index, for a global step's
  features that would otherwise sit in memory while the build streams.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from builder.progress import warn


def default_cache_dir() -> Path:
    """$MULTI_LLM_COORD_CACHE_DIR, else multi-llm-coord under $XDG_CACHE_HOME, else under ~/.cache (the XDG default)."""
    root = os.environ.get("MULTI_LLM_COORD_CACHE_DIR")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache") / "multi-llm-coord"


def unwritable_reason(folder: Path) -> str | None:
    """Why files cannot be written in `folder` (creating it if needed), or None when they can: proven by writing
    and removing a small file, since permissions alone miss read-only mounts and full disks."""
    folder = Path(folder)
    blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        return f"{blocker} is a file, not a folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".write-check-", dir=folder)
        try:
            os.write(handle, b"x" * 4096)
            os.fsync(handle)
        finally:
            os.close(handle)
            os.unlink(probe)
    except OSError as error:
        return error.strerror or str(error)
    return None


def cache_write(write: Callable[[], object], folder: Path) -> bool:
    """Run a cache's `write`; False, with one warning, when the disk is full or the folder became unwritable:
    a cache that cannot be written costs a recomputation, never the build."""
    try:
        write()
    except OSError as error:
        warn(f"the cache folder {folder} cannot be written ({error.strerror or error}); going on without caching")
        return False
    return True


def lock_path(output: Path) -> Path:
    """Where a build into `output` takes its lock: a file under the cache folder named by a hash of the output's
    resolved path, so that a build litters nothing beside its output (a repository's `git status` stays clean) and
    two spellings of one folder share a lock. Where the cache folder cannot be written, a folder of this user's
    under the temporary folder serves."""
    import hashlib

    key = hashlib.sha256(os.fsencode(Path(output).resolve())).hexdigest()[:32]
    folder = default_cache_dir() / "locks"
    if unwritable_reason(folder) is not None:
        folder = Path(tempfile.gettempdir()) / f"multi-llm-coord-locks-{os.getuid() if hasattr(os, 'getuid') else 0}"
        folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"{key}.lock"


def file_sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(partial, 0o644)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return path


class JsonFileCache:
    """{key: JSON value} as <folder>/<key>.json; `check(value)` raises or returns False for a bad entry."""

    def __init__(self, folder: Path | None, check: Callable[[object], bool] | None = None):
        self.folder = Path(folder) if folder else None
        self.check = check or (lambda value: True)
        self.hits = 0
        self.misses = 0
        self.rejected = 0  # entries that were present but unusable (corrupt, another key's, failing the check)

    def get(self, key: str, check: Callable[[object], bool] | None = None):
        """The stored value, or None (a miss) when absent or unusable; `check` adds to the cache's own check."""
        if not self.folder:
            return None
        path = self.folder / f"{key}.json"
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.misses += 1
            return None
        except (OSError, ValueError, RecursionError):
            return self._reject(path)
        try:
            value = stored.get("value") if isinstance(stored, dict) else None
            usable = (isinstance(stored, dict) and stored.get("key") == key and bool(self.check(value))
                      and (check is None or bool(check(value))))
        except Exception:  # noqa: BLE001 - a check that cannot even run on the entry means the entry is bad
            usable = False
        if not usable:
            return self._reject(path)
        self.hits += 1
        return stored["value"]

    def put(self, key: str, value) -> None:
        if self.folder:
            data = json.dumps({"key": key, "value": value}, sort_keys=True).encode()
            if not cache_write(lambda: write_atomic(self.folder / f"{key}.json", data), self.folder):
                self.folder = None  # full or read-only since the build began: no cache from here on

    def _reject(self, path: Path):
        self.rejected += 1
        self.misses += 1
        path.unlink(missing_ok=True)
        return None

    def stats(self) -> dict:
        return {"hits": self.hits, "misses": self.misses, "rejected_entries": self.rejected}


class ParquetParts:
    """Write tables into Parquet files `path_of(0)`, `path_of(1)`, ...: each table is one row group, and the
    next file starts once the current one holds `limit` as counted by `measure(table)`."""

    def __init__(self, path_of: Callable[[int], Path], schema, *, compression: str, limit: int,
                 measure: Callable = len, options: dict | None = None):
        """`options`: further ParquetWriter options (the dataset's shards: page index, content-defined chunks)."""
        self.path_of, self.schema, self.compression = path_of, schema, compression
        self.options = options or {}
        self.limit, self.measure = limit, measure
        self.files: list[Path] = []
        self._writer = None
        self._held = 0

    def write(self, table) -> None:
        import pyarrow.parquet as pq

        if self._writer is None:
            path = Path(self.path_of(len(self.files)))
            path.parent.mkdir(parents=True, exist_ok=True)
            self.files.append(path)
            self._writer = pq.ParquetWriter(path, self.schema, compression=self.compression, **self.options)
        self._writer.write_table(table)
        self._held += self.measure(table)
        if self._held >= self.limit:
            self.close()

    def close(self) -> None:
        """Close the current file (the next `write` starts a new one)."""
        if self._writer is not None:
            self._writer.close()
            self._writer, self._held = None, 0


class RowFile:
    """Rows of one width and dtype, appended to `path` and read back by index (`rows[[3, 4, 9]]`), as a 2-D array.

    The rows stay on disk, in the page cache, until a caller takes some: reads are plain positioned reads into
    the array returned, one a run of consecutive rows. `np.memmap` would give the same indexing, but every page
    a mapping touches counts in the process's resident memory for as long as the map lives, and the probe reads
    each of its rows ten times over."""

    def __init__(self, path: Path, width: int, dtype):
        import numpy as np

        self.path, self.width, self.dtype = Path(path), int(width), np.dtype(dtype)
        self.row_bytes = self.width * self.dtype.itemsize
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "w+b")
        self._lock = threading.Lock()  # a read is a seek and a read on the one handle: two threads may read at once
        self.rows = 0

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows, self.width

    def __len__(self) -> int:
        return self.rows

    def append(self, rows) -> None:
        import numpy as np

        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.ndim != 2 or rows.shape[1] != self.width:
            raise ValueError(f"rows of shape {rows.shape} appended to a file of {self.width}-wide rows")
        with self._lock:
            self._file.seek(self.rows * self.row_bytes)
            self._file.write(rows.reshape(-1).view(np.uint8))
            self.rows += len(rows)

    def __getitem__(self, index):
        import numpy as np

        index = np.asarray(index, dtype=np.int64)
        if index.ndim != 1:
            raise TypeError("a RowFile is indexed by a 1-D array of row numbers")
        if len(index) and (index.min() < 0 or index.max() >= self.rows):
            raise IndexError(f"row {index.min() if index.min() < 0 else index.max()} of a file of {self.rows} rows")
        out = np.empty((len(index), self.width), self.dtype)
        if not len(index):
            return out
        target = memoryview(out.reshape(-1).view(np.uint8))
        breaks = np.flatnonzero(np.diff(index) != 1) + 1  # runs of consecutive rows: one read each
        with self._lock:
            self._file.flush()
            for start, end in zip([0, *breaks.tolist()], [*breaks.tolist(), len(index)]):
                self._file.seek(int(index[start]) * self.row_bytes)
                wanted = (end - start) * self.row_bytes
                if self._file.readinto(target[start * self.row_bytes:end * self.row_bytes]) != wanted:
                    raise OSError(f"{self.path}: short read")
        return out

    def close(self) -> None:
        self._file.close()
