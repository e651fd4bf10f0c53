"""The dataset card of a build: YAML, configs, declared features, field coverage, figures, gating."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from datasets import Features
from huggingface_hub import DatasetCard

from dataset_card.render import language_code

from multi_llm_coord import CONFIG_NAMES, FIELD_DOCS


def card_yaml(folder):
    text = (folder / "README.md").read_text(encoding="utf-8")
    header = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    assert header, "the card must open with a YAML block"
    return yaml.safe_load(header.group(1)), text


def test_yaml_parses_and_declares_the_three_configs_with_one_default(sample_build):
    data, _ = card_yaml(sample_build[0])
    assert DatasetCard.load(sample_build[0] / "README.md").data.pretty_name == data["pretty_name"]
    assert sorted(c["config_name"] for c in data["configs"]) == sorted(CONFIG_NAMES)
    assert [c["config_name"] for c in data["configs"] if c.get("default")] == ["full"]
    # the real arena slice and the MALLM records are Apache-2.0, Who&When and the written debates MIT: each keeps its own
    assert data["license"] == ["apache-2.0", "mit"] and data["size_categories"] == ["n<1K"]
    assert "license_name" not in data  # only where the licence is `other`
    assert set(data["task_categories"]) <= {"text-generation", "text-classification"}
    assert "language" not in data  # arena-bench-v1 records no language: the card claims none


@pytest.mark.parametrize("name, code", [("English", "en"), ("Hebrew", "he"), ("Thai", "th"), ("Spanish", "es"),
                                        ("Greek", "el"), ("Persian", "fa"), ("Filipino", "fil"), ("en", "en"),
                                        ("unknown", None), ("", None)])
def test_language_names_take_the_hubs_codes_from_the_table_datasets_ships(name, code):
    """Not a hand-written map of 24 names (Hebrew and Thai rows never reached the card's `language` list)."""
    assert language_code(name) == code


def test_every_data_files_path_matches_real_files_and_split_sizes_agree(sample_build):
    folder, report = sample_build
    data, _ = card_yaml(folder)
    infos = {info["config_name"]: info for info in data["dataset_info"]}
    assert {config["config_name"] for config in data["configs"]} == set(report["configs"])
    for config in data["configs"]:
        for entry in config["data_files"]:
            matched = list(folder.glob(entry["path"]))
            assert matched, entry["path"]
        splits = infos[config["config_name"]]["splits"]
        assert [s["name"] for s in splits] == [e["split"] for e in config["data_files"]]
        assert sum(s["num_examples"] for s in splits) == report["configs"][config["config_name"]]["episodes"]
        # without num_bytes every load logs a warning
        assert all(s["num_bytes"] > 0 for s in splits if s["num_examples"])


def test_declared_features_equal_the_parquet_files(sample_build):
    folder, report = sample_build
    data, _ = card_yaml(folder)
    assert {info["config_name"] for info in data["dataset_info"]} == set(report["configs"])
    for info in data["dataset_info"]:
        declared = Features._from_yaml_list(info["features"])
        paths = sorted((folder / "data" / info["config_name"]).glob("*.parquet"))
        assert paths, info["config_name"]
        for path in paths:
            assert Features.from_arrow_schema(pq.read_schema(path)) == declared, path


def test_the_card_documents_every_column_and_shows_real_numbers(sample_build):
    folder, report = sample_build
    _, text = card_yaml(folder)
    for path in FIELD_DOCS:
        assert f"| `{path}` |" in text, path
    # every family's rows are counted (the sample builds three families)
    sections = [s for s in report["families"].values() if s]
    assert len(sections) == 3
    assert f"{sum(s['rows_read'] for s in sections)} source rows read" in text
    assert report["families"]["pairwise"]["stages"][1]["embedding_model"]["weights_sha256"] in text
    assert "| `total_input_tokens` | token_totals.prompt_tokens |" in text
    assert "coordinator_state" in text and "majority_class" in text
    assert "{{" not in text and "TODO" not in text
    assert "seed report" not in text.lower()  # a document no reader has
    assert "std (population)" in text and not re.search(r"\| min \d+\.0 \||Agents per episode: \d+\.0", text)


def test_figures_are_real_pngs_shown_in_the_card(sample_build):
    folder, _ = sample_build
    _, text = card_yaml(folder)
    shown = re.findall(r"!\[[^\]]*\]\((figures/[^)]+\.png)\)", text)
    from builder.families import FAMILIES

    # each family with episodes shows its own figures (agent teams have no N* figure: one speaker a turn), and
    # the rank curve where coordinators were trained (the sample's pairs; too few labelled debates and runs)
    assert sorted(shown) == sorted([f"figures/{f.figure_prefix}{name}.png" for f in FAMILIES for name in f.figures]
                                   + ["figures/rank_curve.png"])
    assert len(shown) == 9
    assert sorted(p.name for p in (folder / "figures").iterdir()) == sorted(Path(p).name for p in shown)
    for path in shown:
        data = (folder / path).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
