"""The output folder of a build: refused, locked and staged before any work; swapped in atomically at the end.

A build writes into a staging folder beside the output (`.NAME.partial-*`) and only at the end puts it in
place. It replaces only what a previous build wrote:

- Refused up front, in one line, before anything is read or embedded: a path that is a file or a symbolic
  link, the current folder or any folder that contains it, a folder holding a file that no build wrote
  (a folder is the builder's when its manifest.json lists exactly its files, unchanged), and an output
  that another build holds the lock of. Writability is proven by creating the lock and the staging folder.
- The swap is one `renameat2(RENAME_EXCHANGE)` on Linux: the new build and the previous one trade places in
  one step, so a crash leaves either of them at the path, never neither. Where the file system cannot
  exchange, the old build is renamed aside (`.NAME.old-*`) and the new one renamed in; a crash between the
  two renames is completed by the next build (it restores the old build if the path is empty).
- Leftovers of killed builds beside the output (`.NAME.partial-*`, `.NAME.old-*`) are removed by the next
  build into the same path, but only folders that carry the staging marker or a manifest of this builder.
- A lock file, held with `flock` for the whole build, makes a second build into the same folder wait its turn
  (it is refused) instead of racing the first. It lives under the cache folder, named by a hash of the output's
  resolved path (builder.files.lock_path), so that nothing is left beside the output.
"""

from __future__ import annotations

import ctypes
import errno
import fnmatch
import json
import os
import shutil
import tempfile
from pathlib import Path

from builder.files import file_sha256, lock_path
from builder.layout import MANIFEST_FILE, MANIFEST_KIND, REPORT_FILE, STAGING_MARKER, read_manifest

MANIFEST_VERSION = 1

# A folder written by builds before manifests existed: exactly these files, and a report naming the builder.
LEGACY_LAYOUT = ("README.md", "stats.json", "multi_llm_coord.py", "data/*/train-*-of-*.parquet", "figures/*.png",
                 "coordinator*/coordinator.json", "coordinator*/coordinator.safetensors")


class OutputRefused(Exception):
    """The output path cannot be (re)placed safely; the message is one line and nothing was changed."""


def folder_files(folder: Path) -> list[str]:
    """Every entry below `folder` that is not a folder (files, links, ...), as sorted POSIX paths."""
    found = []
    for root, dirs, files in os.walk(folder):
        base = Path(root)
        found += [(base / name).relative_to(folder).as_posix() for name in files]
        found += [(base / name).relative_to(folder).as_posix() for name in dirs if (base / name).is_symlink()]
    return sorted(found)


def make_manifest(folder: Path) -> dict:
    """{path: {bytes, sha256}} of every file in `folder` (the manifest itself excluded)."""
    files = {}
    for relative in folder_files(folder):
        path = folder / relative
        if relative == MANIFEST_FILE or path.name == STAGING_MARKER:
            continue
        files[relative] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    return {"kind": MANIFEST_KIND, "version": MANIFEST_VERSION, "files": files}


def manifest_differences(folder: Path, manifest: dict) -> list[str]:
    """Files missing, changed (size or sha256), unexpected, or links, against the manifest."""
    folder = Path(folder)
    listed = manifest["files"]
    present = set(folder_files(folder)) - {MANIFEST_FILE}
    problems = []
    for relative in sorted(listed):
        path = folder / relative
        entry = listed[relative]
        if _link_on_path(folder, relative):
            problems.append(f"{relative} is a symbolic link")
        elif relative not in present:
            problems.append(f"{relative} is missing")
        elif not isinstance(entry, dict) or path.stat().st_size != entry.get("bytes") or file_sha256(path) != entry.get("sha256"):
            problems.append(f"{relative} was changed since the build wrote it")
    problems += [f"{relative} is not one of the build's files" for relative in sorted(present - set(listed))]
    return problems


def _link_on_path(folder: Path, relative: str) -> bool:
    """Whether `relative` or any folder between it and `folder` is a symbolic link."""
    path = folder
    for part in Path(relative).parts:
        path = path / part
        if path.is_symlink():
            return True
    return False


def foreign_files(folder: Path) -> list[str]:
    """Why `folder` is not entirely a previous build's output (empty list: it is, or it is empty)."""
    files = folder_files(folder)
    if not files:
        return []
    manifest = read_manifest(folder)
    if manifest is not None:
        return manifest_differences(folder, manifest)
    if _is_legacy_build(folder, files):
        return []
    return [f"{files[0]} was not written by multi-llm-coord (no {MANIFEST_FILE})"]


def _is_legacy_build(folder: Path, files: list[str]) -> bool:
    if not all(any(fnmatch.fnmatchcase(f, pattern) for pattern in LEGACY_LAYOUT) for f in files):
        return False
    if any((folder / f).is_symlink() for f in files):
        return False
    try:
        report = json.loads((folder / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(report, dict) and "builder_version" in report and "schema_version" in report


def _is_ours(folder: Path) -> bool:
    """A leftover folder this builder may delete: a staging folder, or a complete build of its own."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    return (folder / STAGING_MARKER).is_file() or (read_manifest(folder) is not None and not foreign_files(folder))


def exchange(first: Path, second: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where the system cannot."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False  # this file system (or kernel) does not exchange
    raise OSError(error, os.strerror(error), str(second))


class OutputFolder:
    """`with OutputFolder(path) as output:` write into `output.staging`, then `output.commit()`.

    Entering checks the path, takes the lock, clears leftovers of killed builds and creates the staging
    folder (so an unwritable place fails before any work). Leaving without `commit()` (an error, an
    interrupt) removes the staging folder and leaves the path exactly as it was.
    """

    def __init__(self, path: Path):
        self.final = Path(os.path.abspath(os.path.expanduser(path)))
        self.staging: Path | None = None
        self._lock = None
        self.lock_file: Path | None = None

    def __enter__(self) -> "OutputFolder":
        self._refuse_unsafe_path()
        parent = self.final.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self.lock_file = lock_path(self.final)
            self._lock = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise OutputRefused(f"{self.final}: cannot write beside it ({error.strerror or error})") from None
        try:
            import fcntl

            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._release()
            raise OutputRefused(f"{self.final}: another build is writing to it (lock {self.lock_file} is held); "
                                "wait for it or choose another --output-dir") from None
        except ImportError:  # pragma: no cover - no fcntl (Windows): no cross-process lock
            pass
        try:
            self.recover()
            self._refuse_foreign()
            self.staging = Path(tempfile.mkdtemp(prefix=f".{self.final.name}.partial-", dir=parent))
            (self.staging / STAGING_MARKER).write_bytes(b"")
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.staging, 0o777 & ~umask)  # mkdtemp makes it private; the result is an ordinary folder
        except OSError as error:
            self._release()
            raise OutputRefused(f"{self.final}: cannot write beside it ({error.strerror or error})") from None
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.staging is not None and self.staging.exists():
                shutil.rmtree(self.staging, ignore_errors=True)
        finally:
            self._release()

    def _release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the flock
            self._lock = None

    def _refuse_unsafe_path(self) -> None:
        final, here = self.final, Path(os.path.abspath(os.getcwd()))
        if final.is_symlink():
            raise OutputRefused(f"{final} is a symbolic link; give the real folder as --output-dir")
        if final.exists() and not final.is_dir():
            raise OutputRefused(f"{final} is a file, not a build folder; refusing to replace it (choose another --output-dir)")
        if final == here or final in here.parents or final == Path(final.anchor):
            raise OutputRefused(f"{final} is the current folder or contains it; refusing to replace it "
                                "(choose a new folder such as ./out)")

    def _refuse_foreign(self) -> None:
        if not self.final.is_dir():
            return
        problems = foreign_files(self.final)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise OutputRefused(f"{self.final} holds files that are not a previous build's output, refusing to replace "
                                f"it: {problems[0]}{more}; move them away or choose another --output-dir")

    def leftovers(self) -> list[Path]:
        parent = self.final.parent
        return sorted(p for pattern in (f".{self.final.name}.partial-*", f".{self.final.name}.old-*")
                      for p in parent.glob(pattern) if p != self.staging)

    def recover(self) -> list[str]:
        """Finish or undo what a killed build left beside the output; returns what was done."""
        done = []
        for leftover in self.leftovers():
            if not _is_ours(leftover):
                continue  # not ours to delete
            if ".old-" in leftover.name and not self.final.exists():
                os.rename(leftover, self.final)  # killed between the two renames: put the previous build back
                done.append(f"restored {self.final.name} from {leftover.name}")
            else:
                shutil.rmtree(leftover)
                done.append(f"removed {leftover.name}")
        return done

    def commit(self) -> None:
        """Write the manifest into the staging folder and put it in place of the output."""
        staging = self.staging
        (staging / STAGING_MARKER).unlink()
        manifest = make_manifest(staging)
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if not self.final.exists():
            os.rename(staging, self.final)
            self.staging = None
            return
        self._refuse_foreign()  # files added to the output while this build ran are not ours to remove
        if exchange(staging, self.final):
            # `staging` now holds the previous build; a crash before this removal leaves a complete build of
            # ours beside the output, which the next build removes.
            shutil.rmtree(staging)
        else:
            retired = self.final.with_name(f".{self.final.name}.old-{staging.name.rsplit('-', 1)[-1]}")
            os.rename(self.final, retired)
            os.rename(staging, self.final)
            shutil.rmtree(retired)
        self.staging = None
