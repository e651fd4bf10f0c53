"""A build of one kind of episode alone: `--source none` builds no pairwise config and reads nothing from the Hub;
the report, the card, `validate`, `evaluate` and `push` follow the configs that are there."""

from __future__ import annotations

import json
import os

import datasets
import pytest
from huggingface_hub import DatasetCard

from builder.cli import USAGE_EXIT, main
from builder.push import plan_upload
from builder.validate import validate_folder


@pytest.mark.parametrize("kept, flags", [("agents", ["--debate-source", "none", "--team-source", "sample"]),
                                         ("debate", ["--debate-source", "sample", "--team-source", "none"])])
def test_a_build_of_one_family_alone(tmp_path, capsys, monkeypatch, kept, flags):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    out = tmp_path / "out"
    assert main(["build", "--source", "none", *flags, "-o", str(out), "--no-progress", "--rank", "2",
                 "--trained-ranks", "none"]) == 0
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # local sources only: nothing is asked of the Hub
    report = json.loads((out / "stats.json").read_text())
    assert {name for name, section in report["families"].items() if section} == {kept}
    configs = {"agents": {"agents-mini", "agents-full"}, "debate": {"debate-mini", "debate-full"}}[kept]
    assert set(report["configs"]) == configs == {p.name for p in (out / "data").iterdir()}
    assert report["options"]["source"] == "none"
    assert validate_folder(out) == []

    card = DatasetCard.load(out / "README.md")
    declared = card.data.to_dict()["configs"]
    assert {c["config_name"] for c in declared} == configs
    assert [c["config_name"] for c in declared if c.get("default")] == [f"{kept}-full"]
    title = {"agents": "agent-team episodes", "debate": "n-agent episodes"}[kept]
    assert f") from {title} of **sample**: " in card.text and "pairwise battles of **" not in card.text
    assert sum(split.num_rows for split in datasets.load_dataset(str(out), f"{kept}-full").values()) \
        == report["configs"][f"{kept}-full"]["episodes"]
    assert not [f for f in plan_upload(out, "org/name") if f.path_in_repo.startswith(("data/full", "coordinator/"))]

    capsys.readouterr()
    assert main(["evaluate", str(out)]) == USAGE_EXIT  # the default config, full, is not there: say which are
    assert capsys.readouterr().err.strip() == f"error: {out}: this copy has no config full (its full configs: " \
                                               f"{kept}-full)"


def test_nothing_to_build_and_pairwise_options_without_a_pairwise_source_are_usage_errors(tmp_path, capsys):
    out = str(tmp_path / "out")
    assert main(["build", "--source", "none", "--debate-source", "none", "--team-source", "none", "-o", out]) == 2
    assert capsys.readouterr().err.strip() == ("error: nothing to build: every family's source is none (give --source "
                                               "or one of --debate-source, --team-source)")
    assert main(["build", "--source", "none", "--limit", "3", "-o", out]) == 2
    assert "--source none has none" in capsys.readouterr().err
    assert main(["build", "--source", "none", "--source", "sample", "-o", out]) == 2
    assert "cannot be given with other --source values" in capsys.readouterr().err
