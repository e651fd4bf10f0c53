"""Raw row readers: the embedded sample, local JSON / JSONL / Parquet files, and Hub datasets.

Readers yield `(row_index, row)` where `row` is a dict, or a `Rejection` for a row that could not even be
decoded (bad JSON, invalid UTF-8). Structural checks happen in the normaliser (builder.sources.arena).
Local files are read row by row rather than through `load_dataset("json")`, because Arrow's schema
inference turns one malformed row into a traceback for the whole file instead of a counted rejection.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from builder.config import SAMPLE_SOURCE
from builder.sources.rejections import Rejection

LOCAL_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".parquet")


class SourceError(Exception):
    """A source that cannot be read at all; the CLI prints it as one line."""


def sample_dir() -> Path:
    return Path(str(resources.files("builder.sources") / "sample"))


def sample_path() -> Path:
    return sample_dir() / "arena_sample.jsonl"


def local_files(path: Path) -> list[Path]:
    """A file, or the readable files of a folder in name order."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(LOCAL_SUFFIXES))


def source_name(source: str) -> str:
    """How episodes name their source: `sample`, a file or folder name, or the Hub id."""
    if source == SAMPLE_SOURCE:
        return "sample"
    path = Path(source)
    return path.name if path.exists() else source


def iter_source_rows(source: str, split: str = "train") -> Iterator[tuple[int, dict | Rejection]]:
    if source == SAMPLE_SOURCE:
        yield from iter_file(sample_path())
        return
    path = Path(source)
    if path.is_file():
        yield from iter_file(path)
    elif path.is_dir():
        files = local_files(path)
        if not files:
            raise SourceError(f"{source}: folder holds no {', '.join(LOCAL_SUFFIXES)} files")
        offset = 0
        for file in files:
            count = 0
            for index, row in iter_file(file):
                yield offset + index, row
                count = index + 1
            offset += count
    elif _looks_like_local_path(source):
        raise SourceError(f"{source}: no such file or folder")
    else:
        yield from _iter_hub(source, split)


def _looks_like_local_path(source: str) -> bool:
    # A Hub id is "name" or "org/name"; anything with a file suffix, a leading ./ or / or more slashes is a path.
    return source.startswith((".", "/", "~")) or source.count("/") > 1 or source.endswith(LOCAL_SUFFIXES)


def iter_file(path: Path) -> Iterator[tuple[int, dict | Rejection]]:
    name = path.name
    try:
        if name.endswith(".parquet"):
            yield from _iter_parquet(path)
        elif name.endswith((".jsonl", ".jsonl.gz")):
            yield from _iter_jsonl(path)
        elif name.endswith((".json", ".json.gz")):
            yield from _iter_json_array(path)
        else:
            raise SourceError(f"{path}: unsupported file type (expected one of {', '.join(LOCAL_SUFFIXES)})")
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise SourceError(f"{path}: cannot read ({error})") from error


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def _decode_json(raw: bytes) -> dict | Rejection:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return Rejection("invalid_utf8", f"byte {error.start}: {error.reason}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        return Rejection("malformed_json", f"{error.msg} at column {error.colno}")


def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict | Rejection]]:
    with _open_bytes(path) as handle:
        index = 0
        for raw in handle:
            if not raw.strip():
                continue  # blank lines are layout, not rows
            yield index, _decode_json(raw)
            index += 1


def _iter_json_array(path: Path) -> Iterator[tuple[int, dict | Rejection]]:
    with _open_bytes(path) as handle:
        document = _decode_json(handle.read())
    if isinstance(document, Rejection):
        raise SourceError(f"{path}: {document}")
    if isinstance(document, dict) and isinstance(document.get("data"), list):
        document = document["data"]
    if not isinstance(document, list):
        raise SourceError(f"{path}: expected a JSON array of rows (or {{\"data\": [...]}})")
    yield from enumerate(document)


def _iter_parquet(path: Path) -> Iterator[tuple[int, dict | Rejection]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except pa.ArrowException as error:
        raise SourceError(f"{path}: not a readable Parquet file ({error})") from error
    index = 0
    for batch in parquet.iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            yield index, row
            index += 1


def _iter_hub(dataset_id: str, split: str) -> Iterator[tuple[int, dict | Rejection]]:
    dataset = load_hub_dataset(dataset_id, split)
    yield from enumerate(dataset)


def load_hub_dataset(dataset_id: str, split: str):
    """`datasets.load_dataset` with the failures a user meets turned into one actionable line."""
    import datasets
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError

    page = f"https://huggingface.co/datasets/{dataset_id}"
    try:
        return datasets.load_dataset(dataset_id, split=split)
    except GatedRepoError as error:
        raise SourceError(_gated_message(dataset_id, page)) from error
    except datasets.exceptions.DatasetNotFoundError as error:
        if "gated" in str(error).lower():
            raise SourceError(_gated_message(dataset_id, page)) from error
        raise SourceError(
            f"{dataset_id}: not found on the Hub (check the id; if it is private, log in with `hf auth login`)"
        ) from error
    except RepositoryNotFoundError as error:
        raise SourceError(f"{dataset_id}: not found on the Hub (check the id, or log in if it is private)") from error
    except (OfflineModeIsEnabled, ConnectionError) as error:
        raise SourceError(f"{dataset_id}: the Hub cannot be reached ({_first_line(error)}); unset HF_HUB_OFFLINE "
                          "or build from a local file") from error
    except HfHubHTTPError as error:
        raise SourceError(f"{dataset_id}: the Hub refused the request ({_first_line(error)})") from error
    except ValueError as error:  # e.g. an unknown split
        raise SourceError(f"{dataset_id}: {_first_line(error)}") from error


def _gated_message(dataset_id: str, page: str) -> str:
    return (f"{dataset_id} is gated: accept its terms at {page} with your account, then log in with "
            "`hf auth login` (or set HF_TOKEN) and build again")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
