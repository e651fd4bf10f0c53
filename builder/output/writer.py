"""Writes each config's episodes as Parquet shards with the declared features (into the staging folder).

`ConfigWriter` takes the episodes batch by batch while the writing pass streams them: each batch is encoded
with the `datasets` features (class names to ids) into an Arrow table with the features' Arrow schema, whose
metadata is what `datasets` reads back as the declared features; every ROW_GROUP_EPISODES episodes the tables
held are written as one row group by `pyarrow.parquet.ParquetWriter`, with snappy compression, as `push_to_hub`
writes. A shard is closed once it holds `max_shard_bytes` of Arrow data
(push_to_hub's `max_shard_size`; a shard ends at a row group's end), so shards are cut by size, not by
episode count; they are named
train-XXXXX-of-YYYYY once their count is known.
"""

from __future__ import annotations

import functools
from pathlib import Path

from multi_llm_coord import episode_features

from builder.files import ParquetParts
from builder.layout import SPLITS, shard_path
from builder.splits import split_of

# Episodes a row group holds: a count, so the row groups do not depend on how the episodes were batched.
# - Not too many: the dataset viewer and streaming readers read a whole row group; `datasets` aims for row groups
#   of at most 100 MB of Arrow data (datasets.config.MAX_ROW_GROUP_SIZE), and 1,000 arena battles are about 5 MB.
# - Not too few: an open ParquetWriter keeps every row group's metadata (about 50 KB for the episode schema's
#   66 columns) until its shard closes; at 100 episodes a group that was 500 bytes an episode, 50 MB at 100,000
#   episodes, the build's largest cost growing with its size (measured).
ROW_GROUP_EPISODES = 1_000


class ConfigWriter:
    """One config's shards; `add()` batches of episodes in their final order, then `close()` for its DatasetInfo."""

    def __init__(self, config_name: str, root: Path, rank: int, max_shard_bytes: int,
                 row_group_episodes: int = ROW_GROUP_EPISODES, split: str = "train"):
        import datasets

        self.split = split
        self.row_group_episodes = row_group_episodes
        self.features = episode_features(rank)
        self.schema = self.features.arrow_schema
        self.config_name, self.root = config_name, Path(root)
        self.datasets = datasets
        # Shards are written as .part files and named -of-N once N is known (close()).
        self.shards = ParquetParts(lambda index: self.root / f"{shard_path(config_name, index, 1, split)}.part", self.schema,
                                   compression="snappy", limit=max_shard_bytes, measure=lambda table: table.nbytes,
                                   options=shard_options())
        self.num_bytes = 0
        self.num_examples = 0
        self.pending: list = []  # Arrow tables of the episodes not yet written (a few KB an episode, not a dict's ~46 KB)

    def add(self, episodes: list[dict]) -> None:
        import pyarrow as pa

        if episodes:
            rows = [self.features.encode_example(_with_event_ids(e, self.features)) for e in episodes]
            self.pending.append(pa.Table.from_pylist(rows, schema=self.schema))
        while self.pending_rows >= self.row_group_episodes:
            self._write(self.row_group_episodes)

    @property
    def pending_rows(self) -> int:
        return sum(len(table) for table in self.pending)

    def _write(self, count: int) -> None:
        """The first `count` pending episodes as one row group."""
        import pyarrow as pa

        held = pa.concat_tables(self.pending) if self.pending else self.schema.empty_table()
        table = held.slice(0, count)
        self.pending = [held.slice(count)] if count < len(held) else []
        self.shards.write(table)
        self.num_bytes += table.nbytes
        self.num_examples += len(table)

    def close(self):
        """Write what is left, name the shards, return the config's `datasets.DatasetInfo`."""
        if self.pending_rows or not self.num_examples:
            self._write(self.pending_rows)
        self.shards.close()
        download_size = 0
        for index, part in enumerate(self.shards.files):
            final = self.root / shard_path(self.config_name, index, len(self.shards.files), self.split)
            part.rename(final)
            download_size += final.stat().st_size
        datasets = self.datasets
        return datasets.DatasetInfo(
            features=self.features,
            splits=datasets.SplitDict({self.split: datasets.SplitInfo(name=self.split, num_bytes=self.num_bytes,
                                                                       num_examples=self.num_examples)}),
            download_size=download_size,
            dataset_size=self.num_bytes,
            config_name=self.config_name,
        )


class SplitConfigWriter:
    """A full config written as train / validation / test (builder.splits): each episode goes to its prompt group's
    split, each split to its own shards (`<split>-XXXXX-of-YYYYY.parquet`); `balance` counts each split's outcomes
    for the report. A split that no episode fell in (a tiny build) is neither written nor declared: `datasets`
    cannot load an empty split."""

    def __init__(self, config_name: str, root: Path, rank: int, max_shard_bytes: int,
                 fractions: tuple[float, float, float], group_of, outcome_of):
        self.writers = {split: ConfigWriter(config_name, root, rank, max_shard_bytes, split=split) for split in SPLITS}
        self.fractions, self.group_of, self.outcome_of = fractions, group_of, outcome_of
        self.balance: dict[str, dict[str, int]] = {split: {} for split in SPLITS}

    def add(self, episodes: list[dict]) -> None:
        routed: dict[str, list[dict]] = {split: [] for split in self.writers}
        for episode in episodes:
            split = split_of(self.group_of(episode), self.fractions)
            routed[split].append(episode)
            outcome = str(self.outcome_of(episode))
            self.balance[split][outcome] = self.balance[split].get(outcome, 0) + 1
        for split, chosen in routed.items():
            self.writers[split].add(chosen)

    def close(self):
        """Every split's shards named; one DatasetInfo declaring the three splits."""
        import datasets

        used = [writer for writer in self.writers.values() if writer.pending_rows or writer.num_examples]
        infos = [writer.close() for writer in used or list(self.writers.values())[:1]]
        first = infos[0]
        return datasets.DatasetInfo(
            features=first.features,
            splits=datasets.SplitDict({name: info.splits[name] for info in infos for name in info.splits}),
            download_size=sum(info.download_size for info in infos),
            dataset_size=sum(info.dataset_size for info in infos),
            config_name=first.config_name,
        )

    def report(self) -> dict:
        """Each split's episodes and outcome counts (`stats.json`: splits)."""
        return {split: {"episodes": sum(counts.values()), "outcomes": dict(sorted(counts.items()))}
                for split, counts in self.balance.items() if counts}


def write_config(episodes: list[dict], config_name: str, root: Path, rank: int, max_shard_bytes: int = 500_000_000):
    """Write a list of episodes as data/<config>/train-*.parquet under `root`; return the `datasets.DatasetInfo`."""
    writer = ConfigWriter(config_name, root, rank, max_shard_bytes)
    writer.add(episodes)
    return writer.close()


def shard_options() -> dict:
    """What `datasets` itself writes into Parquet, where the installed pyarrow supports it: a page index (the Hub's
    viewer and readers skip pages by it) and content-defined chunking (pyarrow >= 21: unchanged rows give unchanged
    pages across releases, so the Hub's storage deduplicates them). Both are deterministic. Asked of the writer
    itself: pyarrow 25 takes content-defined chunking through its **options, where no signature shows it."""
    return {name: True for name in ("write_page_index", "use_content_defined_chunking") if _writer_accepts(name)}


@functools.cache
def _writer_accepts(option: str) -> bool:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pq.ParquetWriter(pa.BufferOutputStream(), pa.schema([("x", pa.int8())]), **{option: True}).close()
    except TypeError:
        return False
    return True


def _with_event_ids(episode: dict, features) -> dict:
    """The episode with turn events as class ids.

    `Features.encode_example` turns class names into ids at every depth, except that it decides from the
    first element of a list whether the list needs encoding: turns whose first event list is empty would
    keep their names (datasets 5.2). The events are therefore encoded here with the feature's own str2int.
    """
    events = features["turns"].feature["coordination_events"].feature
    turns = [{**turn, "coordination_events": [events.str2int(e) if isinstance(e, str) else e
                                              for e in turn["coordination_events"]]}
             for turn in episode["turns"]]
    return {**episode, "turns": turns}
