"""Raw row readers: the embedded sample, local JSON / JSONL / Parquet files, and Hub datasets.

Readers yield `(location, row)`: where the row is (file and 1-based line, item or row number) and the
row as a dict, or a `Rejection` for a row that could not even be decoded (bad JSON, invalid UTF-8,
nesting deeper than MAX_NESTING, an integer too long to convert), or for the rest of a file whose
compressed stream breaks mid-way (the build goes on with the next file). Structural checks happen in the
normalisers (builder.sources.arena, ...). Local files are read row by row rather than through
`load_dataset("json")`, because Arrow's schema inference turns one malformed row into a traceback for
the whole file instead of a counted rejection.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import os
import re
import stat
import zlib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from builder.layout import STAGING_MARKER, read_manifest
from builder.progress import warn
from builder.rejections import Rejection, RowLocation

SAMPLE_SOURCE = "sample"  # the embedded sample, a source name every family's option takes
NO_SOURCE = "none"  # no source of this kind: every family's option takes it (`--source none` builds no pairwise config)
LOCAL_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".parquet", ".csv", ".csv.gz")
BINARY_SUFFIXES = (".parquet", ".binpb", ".pb")  # not text: no encoding to check (Parquet; OTLP protobuf traces)
MAX_NESTING = 32  # the deepest source layout (MALLM memory entries) nests 4 levels; deeper rows are rejected
# What a broken file raises while it is being read: a gzip stream cut or altered mid-way, a bad Parquet page.
STREAM_ERRORS = (OSError, EOFError, zlib.error)


class SourceError(Exception):
    """A source that cannot be read at all; the CLI prints it as one line."""


def sample_dir() -> Path:
    return Path(str(resources.files("builder.sources") / "sample"))


def sample_path() -> Path:
    """The embedded arena slice: real prompts and answers with GPT-4 scores (its folder's README says what it is)."""
    return sample_dir() / "arena-hard-auto" / "battles.jsonl"


def local_files(path: Path, flag: str = "--source", suffixes: tuple[str, ...] = LOCAL_SUFFIXES) -> list[Path]:
    """A file, or the readable files of a folder (those named with `suffixes`) in name order, each checked
    (`check_local_path`). Never a
    folder this builder wrote (a build's Parquet would be read back as battles): such subfolders are skipped with
    a warning. A subfolder that cannot be listed is a SourceError naming it, not a silent gap."""
    check_local_path(path, flag)
    if path.is_file():
        return [path]
    found = []
    for root, dirs, files in os.walk(path, onerror=_unreadable_folder):
        base = Path(root)
        for name in sorted(dirs):
            if (base / name / STAGING_MARKER).is_file():
                dirs.remove(name)  # a build in progress (perhaps this one, writing beside its source)
            elif _written_by_us(base / name):
                warn(f"{base / name}: skipped, a folder this builder wrote (not a source)")
                dirs.remove(name)
        found += [base / name for name in files if name.endswith(suffixes)]
    files = sorted(p for p in found if p.is_file())
    for file in files:
        check_text_encoding(file)
    return files


def _unreadable_folder(error: OSError) -> None:
    raise SourceError(f"{error.filename}: cannot list this folder of the source ({error.strerror or error})")


def _written_by_us(folder: Path) -> bool:
    return (folder / STAGING_MARKER).is_file() or read_manifest(folder) is not None


FILE_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
              (stat.S_ISBLK, "a block device"))


def check_local_path(path: Path, flag: str = "--source") -> None:
    """A local source is a regular file or a folder, and not a build of this builder; anything else is one
    SourceError line saying what it is (a FIFO is not read: a build reads its sources more than once)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SourceError(f"{flag} {path}: no such file or folder") from None
    except OSError as error:
        raise SourceError(f"{flag} {path}: cannot be read ({error.strerror or error})") from None
    kind = next((name for test, name in FILE_KINDS if test(mode)), None)
    if kind is not None:
        raise SourceError(f"{flag} {path}: {kind}, not a file or folder; a build reads its sources more than once, "
                          "so write the rows to a file first")
    if stat.S_ISDIR(mode) and _written_by_us(path):
        raise SourceError(f"{flag} {path}: a folder this builder wrote (its manifest says so), not a source")
    if stat.S_ISREG(mode):
        check_text_encoding(path)


# Byte-order marks of the encodings a text source must not be in (UTF-8's own BOM is accepted and skipped).
FOREIGN_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"), (codecs.BOM_UTF16_LE, "UTF-16"),
                (codecs.BOM_UTF16_BE, "UTF-16"))


def check_text_encoding(path: Path) -> None:
    """A JSON, JSONL or CSV file in UTF-16 or UTF-32 (a Windows editor's "Unicode") is refused before any work,
    naming the file: read as UTF-8 every row of it would be rejected, and only after the other families' builds."""
    if path.name.endswith(BINARY_SUFFIXES):
        return
    try:
        with _open_bytes(path) as stream:
            head = stream.read(512)
    except (*STREAM_ERRORS, OSError):
        return  # a broken or unreadable file is a counted rejection where it is read
    encoding = next((name for bom, name in FOREIGN_BOMS if head.startswith(bom)), None)
    if encoding is None and len(head) >= 4 and head.count(0) * 4 >= len(head):
        encoding = "UTF-16 or UTF-32 (no byte-order mark)"  # text whose every other byte is zero
    if encoding is not None:
        raise SourceError(f"{path}: {encoding} text, not UTF-8; save it as UTF-8 (e.g. iconv -f UTF-16 -t UTF-8)")


def source_name(source: str) -> str:
    """How episodes name their source: `sample`, a file or folder name, or the Hub id."""
    if source == SAMPLE_SOURCE:
        return "sample"
    path = Path(source)
    return path.name if path.exists() else source


def iter_source_rows(source: str, split: str = "train") -> Iterator[tuple[RowLocation, dict | Rejection]]:
    if source == SAMPLE_SOURCE:
        yield from iter_file(sample_path())
        return
    path = Path(source)
    if path.exists():
        check_local_path(path)  # a FIFO, a build folder, UTF-16 text: one line naming it
    if path.is_file():
        yield from iter_file(path)
    elif path.is_dir():
        for file in split_files(path, split):
            yield from iter_file(file, label=file.relative_to(path).as_posix())
    elif looks_like_local_path(source):
        raise SourceError(f"{source}: no such file or folder")
    else:
        yield from _iter_hub(source, split)


def split_files(folder: Path, split: str) -> list[Path]:
    """The files of `split` in a local folder, by the Hub's file-naming conventions (`datasets`' own
    `get_data_patterns`: train.jsonl, data/test-00000.parquet, ...); a folder without split names is all train."""
    from datasets.data_files import DataFilesList, _get_data_files_patterns, resolve_pattern

    files = local_files(folder)
    if not files:
        raise SourceError(f"{folder}: folder holds no {', '.join(LOCAL_SUFFIXES)} files")
    readable = {f.resolve() for f in files}  # without the folders this builder wrote, whose names look like splits

    def resolve(pattern: str) -> list[str]:
        return [f for f in resolve_pattern(pattern, str(folder)) if Path(f).resolve() in readable]

    try:  # datasets' own rule (get_data_patterns), applied to the files that are sources
        patterns = {str(name): value for name, value in _get_data_files_patterns(resolve).items()}
    except FileNotFoundError:
        patterns = {"train": ["**"]}
    if split not in patterns:
        raise SourceError(f"{folder}: no files for split {split!r} (splits by file name: {', '.join(sorted(patterns))}); "
                          "choose one with --source-split")
    in_split = {Path(f).resolve() for f in DataFilesList.from_patterns(patterns[split], base_path=str(folder))}
    chosen = [f for f in files if f.resolve() in in_split]
    if not chosen:
        raise SourceError(f"{folder}: no {', '.join(LOCAL_SUFFIXES)} files for split {split!r}")
    return chosen


def looks_like_local_path(source: str) -> bool:
    # A Hub id is "name" or "org/name"; anything with a file suffix, a leading ./ or / or more slashes is a path.
    return source.startswith((".", "/", "~")) or source.count("/") > 1 or source.endswith(LOCAL_SUFFIXES)


def iter_file(path: Path, label: str | None = None, json_lines: bool = False) -> Iterator[tuple[RowLocation, dict | Rejection]]:
    """Every row of one file (`json_lines`: read as JSON lines whatever its name); a file that breaks while being
    read yields one `corrupt_file` rejection for the rest of it (at the line where it broke) and ends, so that
    the other files of a folder are still read."""
    name, label = path.name, label or path.name
    if name.endswith(".parquet"):
        rows = _iter_parquet(path)
    elif json_lines or name.endswith((".jsonl", ".jsonl.gz")):
        rows = _iter_jsonl(path)
    elif name.endswith((".json", ".json.gz")):
        rows = _iter_json_array(path)
    elif name.endswith((".csv", ".csv.gz")):
        rows = _iter_csv(path)
    else:
        raise SourceError(f"{path}: unsupported file type (expected one of {', '.join(LOCAL_SUFFIXES)})")
    line = 0
    try:
        for line, row in rows:
            yield RowLocation(label, line), row
    except STREAM_ERRORS as error:
        yield RowLocation(label, line + 1), Rejection("corrupt_file", f"unreadable from here on ({_first_line(error)})")
    except _BrokenFile as error:
        yield RowLocation(label, 1), Rejection("corrupt_file", str(error))


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


class _BrokenFile(Exception):
    """A whole file that is not what its name says (a .parquet that is not Parquet, a .json that is not JSON)."""


def _walk(value) -> tuple[int, str | None]:
    """(nesting depth, the first string or key holding a lone surrogate, shown escaped), in one pass without
    recursion; the walk stops early once the depth passes MAX_NESTING."""
    deepest, bad, stack = 0, None, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if bad is None and not item.isascii() and _has_surrogate(item):
                bad = ascii(item[:40])
            continue
        if isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_NESTING:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest, bad


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_nesting(row, text: str | None = None):
    """The row itself, or a Rejection: nesting deeper than MAX_NESTING, or a lone surrogate in any string or key
    (JSON's "\\ud800" escape decodes to one; no UTF-8 file, Parquet column or Arrow string can hold it), so that
    every field of every format is covered here, not each reader's fields one by one. `text`, the JSON the row was
    decoded from, spares walking every string: a surrogate in the row needs a \\uD800-\\uDFFF escape (or the
    character itself) in the text, and where it has neither only the containers are walked for the depth."""
    if text is not None and _surrogate_free(text):
        depth, surrogate = _container_depth(row), None
    else:
        depth, surrogate = _walk(row)
    if depth > MAX_NESTING:
        return Rejection("too_deeply_nested", f"lists and objects nest more than {MAX_NESTING} levels")
    if surrogate is not None:
        return Rejection("invalid_utf8", f"lone surrogate in the text {surrogate}")
    return row


# Any escape of the surrogate range, paired or lone, an escaped backslash before "ud800" included: over-matching only
# sends the row to the full walk.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _surrogate_free(text: str) -> bool:
    return _SURROGATE_ESCAPE.search(text) is None and (text.isascii() or not _has_surrogate(text))


def _container_depth(value) -> int:
    """_walk's depth alone: only lists and dicts are visited (reading a trace, the strings are most of a row)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if type(item) is dict:
            children = item.values()
        elif type(item) is list:
            children = item
        else:
            continue
        if depth > deepest:
            deepest = depth
            if depth > MAX_NESTING:
                break
        for child in children:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))
    return deepest


def embedded_json(text: str, where: str):
    """A JSON document held in a string field (the 55k release's turn lists, OpenTelemetry's message attributes),
    decoded with the same checks as a row (check_nesting: depth, lone surrogates); a Rejection otherwise."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise Rejection("too_deeply_nested", f"{where} nests deeper than the JSON parser goes") from None
    except ValueError:
        raise Rejection("invalid_value", f"{where} is not JSON") from None
    checked = check_nesting(value, text)
    if isinstance(checked, Rejection):
        raise Rejection(checked.reason, f"{where}: {checked.detail}")
    return checked


def _decode_json(raw: bytes) -> dict | Rejection:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return Rejection("invalid_utf8", f"byte {error.start}: {error.reason}")
    try:
        return check_nesting(json.loads(text), text)
    except json.JSONDecodeError as error:
        return Rejection("malformed_json", f"{error.msg} at column {error.colno}")
    except RecursionError:
        return Rejection("too_deeply_nested", "nesting too deep for the JSON parser")
    except ValueError as error:  # e.g. an integer literal longer than Python converts (4,300 digits)
        return Rejection("invalid_value", _first_line(error)[:120])


def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict | Rejection]]:
    """(1-based physical line, row); blank lines are layout, not rows, but they count as lines. A UTF-8 byte-order
    mark at the start of the file (as some Windows tools write) is not part of the first row."""
    with _open_bytes(path) as handle:
        for line, raw in enumerate(handle, start=1):
            if line == 1:
                raw = raw.removeprefix(UTF8_BOM)
            if raw.strip():
                yield line, _decode_json(raw)


UTF8_BOM = b"\xef\xbb\xbf"


def read_json_document(path: Path):
    """A whole .json(.gz) file decoded as one JSON value, or the Rejection that says why it is not one (with the
    same checks as every row: UTF-8, a byte-order mark dropped, bounded nesting)."""
    with _open_bytes(path) as handle:
        return _decode_json(handle.read().removeprefix(UTF8_BOM))


def starts_with_json_array(path: Path) -> bool:
    """Whether the file's first character after blanks (and a byte-order mark) opens a JSON array."""
    with _open_bytes(path) as handle:
        head = handle.read(4096).removeprefix(UTF8_BOM).lstrip()
    return head[:1] == b"["


def iter_json_array_items(path: Path, label: str, chunk_chars: int = 1 << 20) -> Iterator[tuple[RowLocation, object]]:
    """(location, row) of each item of a file holding one JSON array, decoded item by item: memory holds one item
    (and a chunk) however long the array, so a 1 GB export is read in the memory of its largest item. Each item is
    checked as every row is; where the file stops being a JSON array, one corrupt_file rejection at that item."""
    decoder = json.JSONDecoder()
    item = 0
    try:
        with _open_bytes(path) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict") as handle:
            buffer, position, ended = "", 0, False

            def fill() -> bool:
                nonlocal buffer, position, ended
                data = handle.read(chunk_chars)
                buffer, position, ended = buffer[position:] + data, 0, not data
                return bool(data)

            def next_character() -> str:
                nonlocal position
                while True:
                    while position < len(buffer) and buffer[position] in " \t\r\n":
                        position += 1
                    if position < len(buffer) or not fill():
                        return buffer[position] if position < len(buffer) else ""

            if next_character() != "[":
                raise _BrokenFile("expected a JSON array")
            position += 1
            if next_character() == "]":
                return
            while True:
                next_character()  # raw_decode takes no blanks before a value
                while True:
                    try:
                        row, end = decoder.raw_decode(buffer, position)
                        if end == len(buffer) and not ended and fill():  # a number may go on in the next chunk
                            continue
                        break
                    except json.JSONDecodeError as error:
                        if ended or not fill():
                            raise _BrokenFile(f"item {item + 1}: {error.msg}") from None
                    except RecursionError:
                        raise _BrokenFile(f"item {item + 1}: nesting too deep for the JSON parser") from None
                position = end
                item += 1
                yield RowLocation(label, item), check_nesting(row)
                separator = next_character()
                position += 1
                if separator == "]":
                    return
                if separator != ",":
                    raise _BrokenFile(f"after item {item}: expected ',' or ']', found {separator or 'the end'!r}")
    except UnicodeDecodeError as error:
        yield RowLocation(label, item + 1), Rejection("invalid_utf8", f"{error.reason}: the rest is unreadable")
    except STREAM_ERRORS as error:
        yield RowLocation(label, item + 1), Rejection("corrupt_file", f"unreadable from here on ({_first_line(error)})")
    except _BrokenFile as error:
        yield RowLocation(label, item + 1), Rejection("corrupt_file", str(error))


def starts_with_json_object_line(path: Path, limit: int = 64 * 2**20) -> bool:
    """Whether the file's first line (read up to `limit` bytes) is a JSON object of its own: the file is JSON
    lines, though its name may say one document."""
    with _open_bytes(path) as handle:
        first = handle.readline(limit).removeprefix(UTF8_BOM)
    # bad bytes do not decide the layout: the JSON-lines reader rejects that line alone (invalid_utf8)
    return isinstance(_decode_json(first.decode("utf-8", "replace").encode()), dict)


def _iter_json_array(path: Path) -> Iterator[tuple[int, dict | Rejection]]:
    """(1-based item, row) of a JSON array (or {"data": [...]}); a file holding one object is one row (mallm-demo
    and Who&When keep one record per file)."""
    document = read_json_document(path)
    if isinstance(document, Rejection):
        raise _BrokenFile(f"the file is not one JSON document ({document})")
    if isinstance(document, dict):
        document = document["data"] if isinstance(document.get("data"), list) else [document]
    if not isinstance(document, list):
        raise _BrokenFile("expected a JSON array of rows, {\"data\": [...]} or one object")
    for item, row in enumerate(document, start=1):
        yield item, row


def _iter_csv(path: Path) -> Iterator[tuple[int, dict | Rejection]]:
    """(1-based line where the row starts, row) of a CSV file with a header (the 55k arena release's layout);
    every value is a string, as the file holds it."""
    import csv
    import io

    csv.field_size_limit(2**31 - 1)  # arena answers exceed the default 128 KiB field limit
    with _open_bytes(path) as handle:  # utf-8-sig: a byte-order mark is not part of the first header
        text = io.TextIOWrapper(handle, encoding="utf-8-sig", errors="strict", newline="")
        reader = csv.DictReader(text)
        try:
            if reader.fieldnames is None:  # reads the header, so that line numbers count it
                return
        except (UnicodeDecodeError, csv.Error) as error:
            yield 1, Rejection("malformed_row", f"CSV header: {error}")
            return
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as error:
                yield start, Rejection("invalid_utf8", f"byte {error.start}: {error.reason}")
                return
            except csv.Error as error:
                yield start, Rejection("malformed_row", f"CSV: {error}")
                continue
            if None in row:  # more fields than the header names
                yield start, Rejection("malformed_row", f"{len(row[None])} fields more than the header has")
                continue
            yield start, row


def _iter_parquet(path: Path) -> Iterator[tuple[int, dict | Rejection]]:
    """(1-based row, row) of a Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise _BrokenFile(f"not a readable Parquet file ({_first_line(error)})") from None
    number = 0
    try:
        for batch in parquet.iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                number += 1
                yield number, check_nesting(row)
    except pa.ArrowException as error:
        raise OSError(_first_line(error)) from None


def _iter_hub(dataset_id: str, split: str) -> Iterator[tuple[RowLocation, dict | Rejection]]:
    dataset = load_hub_dataset(dataset_id, split)
    for number, row in enumerate(dataset, start=1):
        yield RowLocation(f"{dataset_id}[{split}]", number), check_nesting(row)


def iter_hub_rows(dataset_id: str, config: str | None, split: str = "train") -> Iterator[tuple[RowLocation, dict | Rejection]]:
    """The rows of a Hub dataset (a config of it), streamed: nothing is downloaded whole."""
    label = f"{dataset_id}:{config}" if config else dataset_id
    for number, row in enumerate(load_hub_dataset(dataset_id, split, config=config, streaming=True), start=1):
        yield RowLocation(f"{label}[{split}]", number), check_nesting(row)


def download_hub_file(repo_id: str, filename: str, revision: str | None = None) -> Path:
    """One file of a Hub dataset repository, through huggingface_hub's cache (downloaded once, resumed if cut), with
    the failures a user meets turned into one actionable line."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    page = f"https://huggingface.co/datasets/{repo_id}"
    try:
        return Path(hf_hub_download(repo_id, filename, repo_type="dataset", revision=revision))
    except GatedRepoError as error:
        raise SourceError(_gated_message(repo_id, page)) from error
    except RepositoryNotFoundError as error:
        raise SourceError(f"{repo_id}: not found on the Hub (check the id, or log in if it is private)") from error
    except RevisionNotFoundError as error:
        raise SourceError(f"{repo_id}: no revision {revision!r} on the Hub") from error
    except EntryNotFoundError as error:
        raise SourceError(f"{repo_id}: has no file {filename} at {revision or 'main'}") from error
    except LocalEntryNotFoundError as error:
        raise SourceError(f"{repo_id}: the Hub cannot be reached and {filename} is not in the local cache "
                          f"({_first_line(error)}); unset HF_HUB_OFFLINE or connect") from error
    except HfHubHTTPError as error:
        raise SourceError(f"{repo_id}: the Hub refused the request ({_first_line(error)})") from error


def load_hub_dataset(dataset_id: str, split: str, config: str | None = None, streaming: bool = False):
    """`datasets.load_dataset` with the failures a user meets turned into one actionable line."""
    import datasets
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError

    page = f"https://huggingface.co/datasets/{dataset_id}"
    try:
        return datasets.load_dataset(dataset_id, config, split=split, streaming=streaming)
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
        # A name that is no local path is tried on the Hub: say both, so a misspelled folder is recognisable.
        raise SourceError(f"{dataset_id}: no such local file or folder, and as a Hub dataset id the Hub cannot be "
                          f"reached ({_first_line(error)}); check the path, or unset HF_HUB_OFFLINE") from error
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
