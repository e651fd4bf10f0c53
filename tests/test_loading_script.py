"""multi_llm_coord.py: the dataset's typed definition works when imported and instantiated directly."""

from __future__ import annotations

import datasets

import multi_llm_coord
from multi_llm_coord import FIELD_DOCS, MultiLlmCoord, episode_features


def leaf_paths(features, prefix=""):
    for name, feature in features.items():
        path = f"{prefix}{name}"
        yield path
        inner = feature.feature if isinstance(feature, datasets.List) else feature
        if isinstance(inner, dict):
            yield from leaf_paths(inner, f"{path}.")


def test_every_field_is_documented_and_no_doc_is_stale():
    paths = set(leaf_paths(episode_features()))
    assert paths == set(FIELD_DOCS)


def test_builder_class_reads_a_built_folder(sample_build, tmp_path):
    output_dir, report = sample_build
    for name in ("mini", "full", "debate-mini"):
        builder = MultiLlmCoord(config_name=name, data_dir=str(output_dir), cache_dir=str(tmp_path / "cache"))
        assert builder.config.rank == report["options"]["rank"]
        builder.download_and_prepare()
        splits = builder.as_dataset()  # full configs: train, validation and test; the small ones train only
        assert list(splits) == (["train", "validation", "test"] if name == "full" else ["train"])  # the sample's
        assert all(dataset.features == episode_features() for dataset in splits.values())
        assert sum(map(len, splits.values())) == report["configs"][name]["episodes"]
    assert [c.name for c in MultiLlmCoord.BUILDER_CONFIGS] == ["mini", "preview", "full", "debate-mini", "debate-full",
                                                               "agents-mini", "agents-full"]
    assert all(c.description for c in MultiLlmCoord.BUILDER_CONFIGS)


def test_published_script_is_the_schema_the_builder_used(sample_build):
    output_dir, _ = sample_build
    assert (output_dir / "multi_llm_coord.py").read_bytes() == open(multi_llm_coord.__file__, "rb").read()
