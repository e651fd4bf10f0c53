"""The contract every registered family keeps, checked on the sample build (which builds every family): its
configs are built, declared by the card, loaded by `datasets` and valid; its card section is rendered; its
coordinator folder is written and pushed; its source flag is on the command line; and the loading script
(multi_llm_coord.py, which must stay self-contained) lists the same configs and descriptions as the registry."""

from __future__ import annotations

import datasets
import pytest
from huggingface_hub import DatasetCard

import multi_llm_coord
from builder.cli import make_parser
from builder.families import FAMILIES, config_names
from builder.layout import COORDINATOR_INFO, COORDINATOR_TENSORS
from builder.output.report import REPORT_VERSION
from builder.push import managed_prefixes, plan_upload
from builder.validate import validate_folder
from dataset_card.render import render_family_section


def test_the_loading_script_lists_the_registrys_configs_and_descriptions():
    assert multi_llm_coord.CONFIG_NAMES == config_names()
    assert multi_llm_coord.CONFIG_DESCRIPTIONS == {name: text for family in FAMILIES
                                                   for name, text in family.config_descriptions.items()}
    assert [c.name for c in multi_llm_coord.MultiLlmCoord.BUILDER_CONFIGS] == list(config_names())


def test_the_sample_build_is_valid(sample_build):
    assert validate_folder(sample_build[0]) == []


def test_the_report_holds_every_family_in_one_shape(sample_build):
    report = sample_build[1]
    assert report["report_version"] == REPORT_VERSION
    assert list(report["families"]) == [family.name for family in FAMILIES]
    shapes = {name: set(section) - {family.outcome_key for family in FAMILIES}
              for name, section in report["families"].items()}
    assert len({frozenset(keys) for keys in shapes.values()}) == 1, shapes
    assert not set(report) - {"builder_version", "schema_version", "report_version", "options", "configs", "families"}


@pytest.mark.parametrize("family", FAMILIES, ids=lambda family: family.name)
def test_every_family_keeps_the_contract(sample_build, family, tmp_path):
    folder, report = sample_build
    section = report["families"][family.name]
    assert section is not None and section["coordinator"] == family.coordinator_dir
    card = DatasetCard.load(folder / "README.md")
    declared = {c["config_name"]: c for c in card.data.to_dict()["configs"]}
    for name in family.configs:
        assert name in report["configs"] and name in declared
        assert declared[name]["data_files"][0]["split"] == "train"
        loaded = datasets.load_dataset(str(folder), name)
        assert sum(split.num_rows for split in loaded.values()) == report["configs"][name]["episodes"] > 0
    # its card section, from its own template, is in the card
    part = render_family_section(family, section, {}, {"report": report, "sources": [], "source": "",
                                                       "judge_text": {}, "decided_by_text": str, "encoding": "",
                                                       "rank": 0, "load_path": "", "offline_recipe": ""})
    heading = part.splitlines()[0]
    assert heading.startswith("## ") and heading in card.text
    # its coordinator is written, and pushed with the release
    for name in (COORDINATOR_TENSORS, COORDINATOR_INFO):
        assert (folder / family.coordinator_dir / name).is_file()
    assert f"{family.coordinator_dir}/" in managed_prefixes()
    uploaded = {planned.path_in_repo for planned in plan_upload(folder, "org/name")}
    assert f"{family.coordinator_dir}/{COORDINATOR_TENSORS}" in uploaded
    assert {f"data/{name}" for name in family.configs} <= {path.rsplit("/", 1)[0] for path in uploaded}
    # its source flag is on the command line (the pairwise family's sources are the typed --source)
    usage = make_parser().commands.choices["build"].format_usage()
    assert f"[{family.source_option.flag if family.source_option else '--source'} " in usage
