"""Spill files: records written once in order and read back, batch by batch, by each later pass of the build.

The build streams. The reading pass normalises each row into an episode and spills it here; the embedding
pass, the basis-fit sample and the writing pass each read the spill again, so that no pass holds more than
one batch of episodes. A spill is a folder of Parquet files (`part-00000.parquet`, ...) of two columns, `id`
and `record` (the record as compact JSON: an episode before enrichment has no fixed Arrow type yet), in row
groups of `batch_size` records and at most `file_records` records a file, so that Ray Data reads it as
several blocks and feeds several workers at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from builder.files import ParquetParts

SPILL_SCHEMA = pa.schema([("id", pa.string()), ("record", pa.large_string())])


class Spill:
    """Append records (dicts with a string id), then `close()` and iterate them back in the same order."""

    def __init__(self, path: Path, batch_size: int = 256, file_records: int = 1024):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.batch_size = batch_size
        self.count = 0
        self._parts = ParquetParts(lambda index: self.path / f"part-{index:05d}.parquet", SPILL_SCHEMA,
                                   compression="zstd", limit=max(file_records, batch_size))
        self._ids: list[str] = []
        self._records: list[str] = []

    @property
    def files(self) -> list[Path]:
        return self._parts.files

    def append(self, record_id: str, record: dict) -> None:
        self._ids.append(record_id)
        self._records.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
        self.count += 1
        if len(self._ids) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        if self._ids:
            self._parts.write(pa.table({"id": self._ids, "record": self._records}, schema=SPILL_SCHEMA))
            self._ids, self._records = [], []

    def close(self) -> "Spill":
        self._flush()
        self._parts.close()
        return self

    def batches(self, wanted: set[str] | None = None) -> Iterator[list[dict]]:
        """The records in batches (of at most `batch_size`), in the order they were written; with `wanted`, only
        the records whose id is in it (the others are never decoded)."""
        self.close()
        for path in self.files:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=self.batch_size):
                ids, records = batch.column(0).to_pylist(), batch.column(1).to_pylist()
                chosen = [json.loads(r) for i, r in zip(ids, records) if wanted is None or i in wanted]
                if chosen:
                    yield chosen

    def __iter__(self) -> Iterator[dict]:
        for batch in self.batches():
            yield from batch

    def __len__(self) -> int:
        return self.count
