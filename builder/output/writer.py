"""Writes each config's episodes as Parquet shards with the declared features (into the staging folder).

`Dataset.to_parquet` writes the `datasets` feature metadata into the file and compresses every column
(snappy), the same way `push_to_hub` does.
"""

from __future__ import annotations

from pathlib import Path

from multi_llm_coord import episode_features

from builder.layout import shard_path


def write_config(episodes: list[dict], config_name: str, root: Path, shard_max_episodes: int, rank: int):
    """Write `episodes` as data/<config>/train-*.parquet under `root`; return the `datasets.DatasetInfo`."""
    import datasets

    datasets.disable_progress_bars()  # one bar per tiny shard is noise; the pipeline shows its own progress
    features = episode_features(rank)
    rows = [features.encode_example(_with_event_ids(e, features)) for e in episodes]
    dataset = datasets.Dataset.from_list(rows, features=features)
    shard_count = max(1, -(-len(dataset) // shard_max_episodes))
    download_size = 0
    for index in range(shard_count):
        path = root / shard_path(config_name, index, shard_count)
        path.parent.mkdir(parents=True, exist_ok=True)
        dataset.shard(shard_count, index, contiguous=True).to_parquet(str(path))  # snappy-compressed by datasets
        download_size += path.stat().st_size
    num_bytes = dataset.data.nbytes
    return datasets.DatasetInfo(
        features=features,
        splits=datasets.SplitDict(
            {"train": datasets.SplitInfo(name="train", num_bytes=num_bytes, num_examples=len(dataset))}
        ),
        download_size=download_size,
        dataset_size=num_bytes,
        config_name=config_name,
    )


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
