"""ConfigWriter: Parquet shards cut by size, the declared features in the schema, loadable by `datasets`."""

from __future__ import annotations

import datasets
import pyarrow.parquet as pq

from builder.output.writer import ConfigWriter
from builder.pipeline import build
from conftest import quiet_config


def test_shards_are_cut_by_bytes_and_load_with_the_declared_features(tmp_path):
    report = build(quiet_config(output_dir=tmp_path / "one", family_sources={"debate": ("none",)}, rank=2))
    rows = [row for path in sorted((tmp_path / "one" / "data" / "full").glob("*.parquet"))
            for row in pq.read_table(path).to_pylist()]
    assert len(rows) == report["configs"]["full"]["episodes"]

    # The same episodes again, through a writer whose shards hold about a third of them each.
    features = datasets.Features.from_arrow_schema(pq.read_schema(next((tmp_path / "one" / "data" / "full").glob("*"))))
    episodes = [features.decode_example(row) for row in rows]  # class labels stay ids, which encode as they are
    size = pq.read_table(next((tmp_path / "one" / "data" / "full").glob("*"))).nbytes
    writer = ConfigWriter("full", tmp_path / "two", rank=2, max_shard_bytes=size // 3, row_group_episodes=4)
    for start in range(0, len(episodes), 7):
        writer.add(episodes[start:start + 7])
    info = writer.close()
    shards = sorted((tmp_path / "two" / "data" / "full").glob("*.parquet"))
    assert len(shards) >= 2 and info.splits["train"].num_examples == len(rows)
    assert [s.name for s in shards] == [f"train-{i:05d}-of-{len(shards):05d}.parquet" for i in range(len(shards))]
    assert not list((tmp_path / "two").rglob("*.part"))
    groups = [pq.ParquetFile(s).metadata.row_group(g).num_rows for s in shards for g in range(pq.ParquetFile(s).num_row_groups)]
    assert set(groups[:-1]) == {4} and 1 <= groups[-1] <= 4 and sum(groups) == len(rows)  # batches of 7 regrouped
    loaded = datasets.load_dataset("parquet", data_files=[str(s) for s in shards], split="train")
    assert loaded.features == features  # the declared features, from the schema metadata
    assert loaded.to_list() == rows


def test_shards_carry_a_page_index_and_content_defined_chunks(sample_build):
    import pyarrow.parquet as pq

    from builder.output.writer import shard_options

    assert shard_options() == {"write_page_index": True, "use_content_defined_chunking": True}  # pyarrow >= 21 here
    folder, _ = sample_build
    for path in sorted((folder / "data").rglob("*.parquet")):
        if pq.ParquetFile(path).metadata.num_rows == 0:
            continue  # an empty split (the sample's debate validation split): no pages to index
        column = pq.ParquetFile(path).metadata.row_group(0).column(0)
        assert column.has_offset_index and column.has_column_index, path
