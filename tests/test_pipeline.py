"""End to end: the CLI on the embedded sample, load_dataset round trips, determinism, atomic writes,
rejections in the report, strict mode, validate and stats."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import ClassLabel, List, load_dataset

from builder import pipeline
from builder.cli import main
from builder.output.folder import OutputRefused
from builder.pipeline import build
from builder.validate import validate_folder
from conftest import VALID_ROW, copy_with_edited_rows, make_row, quiet_config, write_jsonl
from multi_llm_coord import CONFIG_NAMES, PREVIEW_MAX_CHARS, TRUNCATION_MARKER, episode_features


def parquet_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.glob("data/*/*.parquet"))}


def test_sample_build_has_the_three_configs_and_is_valid(sample_build):
    output_dir, report = sample_build
    assert validate_folder(output_dir) == []
    assert report["families"]["pairwise"]["rejections"]["total"] == 0
    assert report["configs"]["mini"]["episodes"] == 3
    assert report["configs"]["preview"]["episodes"] == 3
    assert report["configs"]["full"]["episodes"] == report["families"]["pairwise"]["rows_read"] >= 30
    outcomes = report["families"]["pairwise"]["outcomes"]
    assert set(outcomes["winner"]) == {"model_a", "model_b", "tie", "tie (bothbad)"}
    # the real arena-bench-v1 slice: 48 one-turn battles, no language or moderation recorded by the source
    assert outcomes["languages"] == {"unknown": 48} and len(outcomes["models"]) >= 10
    assert outcomes["moderation_flagged"] == 0 and outcomes["turns_per_episode"]["max"] == 1
    assert [(stage["stage"], stage["version"]) for stage in report["families"]["pairwise"]["stages"]] == [
        ("token_logs", 4), ("latents", 2), ("labels", 3)]
    assert report["families"]["pairwise"]["stages"][0] == {
        "stage": "token_logs", "version": 4, "library": "tiktoken", "library_version": report["families"]["pairwise"]["stages"][0]["library_version"],
        "encoding": "cl100k_base",
        "counting": "encode_ordinary; requests rebuilt from the source's template where known, else the contents read "
                    "(as the log records them where it does, else by topology and memory)"}
    for name in ("README.md", "stats.json", "multi_llm_coord.py"):
        assert (output_dir / name).is_file()


@pytest.mark.parametrize("config_name", CONFIG_NAMES)
def test_load_dataset_returns_the_declared_features(sample_build, config_name):
    output_dir, report = sample_build
    splits = load_dataset(str(output_dir), config_name)  # every split the card declares loads
    assert sum(map(len, splits.values())) == report["configs"][config_name]["episodes"]
    dataset = splits["train"]
    assert dataset.features == episode_features(report["options"]["rank"])
    assert isinstance(dataset.features["winner"], ClassLabel)
    assert isinstance(dataset.features["turns"], List) and isinstance(dataset.features["turns"].feature, dict)
    first = dataset[0]
    assert isinstance(first["turns"][0]["responses"][0], dict)
    assert all(e["is_truncated"] == (config_name == "preview") for e in dataset)


def test_mini_covers_two_winners_and_a_multi_turn_episode(sample_build, tmp_path):
    output_dir, _ = sample_build
    mini = load_dataset(str(output_dir), "mini", split="train")
    assert len(set(mini["winner"])) >= 2
    one_turn = {"conversation_a": VALID_ROW["conversation_a"][:2], "conversation_b": VALID_ROW["conversation_b"][:2],
                "turn": 1}
    rows = [make_row(question_id=f"t-{i}", winner=w, **(one_turn if i % 3 else {}))
            for i, w in enumerate(["model_a", "model_b", "tie"] * 4)]
    build(quiet_config(source=write_jsonl(tmp_path / "rows.jsonl", rows), output_dir=tmp_path / "out", rank=2))
    mini = load_dataset(str(tmp_path / "out"), "mini", split="train")
    assert len(set(mini["winner"])) >= 2 and max(len(e["turns"]) for e in mini) > 1


def test_preview_texts_are_truncated_but_token_counts_are_not(sample_build):
    output_dir, _ = sample_build
    mini = load_dataset(str(output_dir), "mini", split="train")
    preview = load_dataset(str(output_dir), "preview", split="train")
    assert mini["episode_id"] == preview["episode_id"]
    assert mini["token_totals"] == preview["token_totals"]
    longest = max((r for e in mini for t in e["turns"] for r in t["responses"]), key=lambda r: len(r["content"]))
    assert len(longest["content"]) > PREVIEW_MAX_CHARS  # the sample's very long answer is in mini
    cut = [r["content"] for e in preview for t in e["turns"] for r in t["responses"] if r["content"].endswith(TRUNCATION_MARKER)]
    assert cut and all(len(text) == PREVIEW_MAX_CHARS + len(TRUNCATION_MARKER) for text in cut)


def test_same_input_and_options_give_identical_parquet_bytes(sample_build, tmp_path):
    first, _ = sample_build
    second = tmp_path / "again"
    build(quiet_config(output_dir=second))
    assert parquet_bytes(first) == parquet_bytes(second)
    # mini, preview, full, debate-mini, debate-full, agents-mini, agents-full (the full ones in their splits)
    assert len({path.split("/")[1] for path in parquet_bytes(first)}) == 7 and len(parquet_bytes(first)) > 7
    # Every other file too, but those that name the output folder (the card's snippets, stats.json's options)
    # or time the run.
    files = [json.loads((folder / "manifest.json").read_text())["files"] for folder in (first, second)]
    differing = {name for name in files[0] if files[0][name] != files[1].get(name)}
    assert set(files[0]) == set(files[1]) and differing <= {"README.md", "stats.json", "build-run.json"}, differing


def test_cli_build_validate_stats_end_to_end(tmp_path, capsys):
    rows = [make_row(question_id=f"ok-{i}", winner=w) for i, w in enumerate(["model_a", "tie", "model_b", "both_bad"])]
    rows.insert(2, make_row(question_id="bad-1", winner="model_c"))
    rows.append(make_row(question_id="ok-0"))  # duplicate id
    source = write_jsonl(tmp_path / "battles.jsonl", rows)
    out = tmp_path / "out"
    assert main(["build", "--source", source, "-o", str(out), "--no-progress", "--rank", "4"]) == 0
    printed = capsys.readouterr().out
    assert "rejected      1  duplicate_id" in printed and "rejected      1  unknown_winner" in printed
    report = json.loads((out / "stats.json").read_text())
    assert report["families"]["pairwise"]["rejections"]["by_reason"] == {"duplicate_id": 1, "unknown_winner": 1}
    example = report["families"]["pairwise"]["rejections"]["examples"]["unknown_winner"][0]
    assert (example["file"], example["line"], example["episode_id"]) == ("battles.jsonl", 3, "bad-1")
    assert report["configs"]["full"]["episodes"] == 4
    assert main(["validate", str(out)]) == 0
    assert main(["stats", str(out)]) == 0
    assert "rows read 6, accepted 4, rejected 2" in capsys.readouterr().out


def test_strict_mode_fails_on_the_first_rejection_naming_the_row(tmp_path, capsys):
    source = write_jsonl(tmp_path / "b.jsonl", [make_row(question_id="fine"), make_row(question_id="broken", winner=None)])
    assert main(["build", "--source", source, "-o", str(tmp_path / "out"), "--strict", "--no-progress"]) == 1
    error = capsys.readouterr().err
    assert "b.jsonl line 2 (id 'broken') rejected: null_winner" in error
    assert not (tmp_path / "out").exists()


def test_a_source_with_nothing_usable_is_an_error(tmp_path, capsys):
    source = write_jsonl(tmp_path / "b.jsonl", [make_row(winner="nobody")])
    assert main(["build", "--source", source, "-o", str(tmp_path / "out"), "--no-progress"]) == 1
    assert "no pairwise episode to write" in capsys.readouterr().err


def test_failed_build_leaves_the_previous_output_untouched(sample_build, tmp_path, monkeypatch):
    output_dir = tmp_path / "dataset"
    shutil.copytree(sample_build[0], output_dir)
    before = parquet_bytes(output_dir)

    def explode(*args, **kwargs):
        raise RuntimeError("disk full while writing the card")

    monkeypatch.setattr(pipeline.shutil, "copyfile", explode)  # fails after every Parquet file was written
    with pytest.raises(RuntimeError, match="disk full"):
        build(quiet_config(output_dir=output_dir, limit=5, rank=4))
    assert parquet_bytes(output_dir) == before
    # no partial folder and no lock file left beside the output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset"]


def test_output_folder_named_like_the_script_is_refused(tmp_path):
    with pytest.raises(OutputRefused, match="may not be named 'multi_llm_coord'"):
        build(quiet_config(output_dir=tmp_path / "multi_llm_coord"))


def test_selection_options_reach_the_full_config(tmp_path):
    rows = [make_row(question_id=f"e-{i}", language="German" if i % 3 == 0 else "English") for i in range(9)]
    source = write_jsonl(tmp_path / "b.jsonl", rows)
    report = build(quiet_config(source=source, output_dir=tmp_path / "out", languages=("german",), rank=4))
    assert report["configs"]["full"]["episodes"] == 3
    assert report["families"]["pairwise"]["outcomes"]["languages"] == {"German": 3}
    report = build(quiet_config(source=source, output_dir=tmp_path / "out", limit=4, encoding="o200k_base", rank=4))
    assert report["configs"]["full"]["episodes"] == 4
    assert report["families"]["pairwise"]["stages"][0]["encoding"] == "o200k_base"


def test_validate_reports_broken_totals_and_missing_files(sample_build, tmp_path):
    def break_totals(rows):
        rows[0]["token_totals"]["total_tokens"] += 1
        rows[0]["communication_efficiency"]["avg_tokens_per_turn"] = float("nan")

    output_dir = copy_with_edited_rows(sample_build[0], tmp_path / "dataset", "mini", break_totals)
    (output_dir / "data" / "preview" / "train-00000-of-00001.parquet").unlink()
    problems = validate_folder(output_dir)
    assert any("total_tokens != prompt_tokens + output_tokens" in p for p in problems)
    assert any("avg_tokens_per_turn is nan" in p for p in problems)
    assert any("config preview: no data/preview/train-*.parquet files" in p for p in problems)
    assert main(["validate", str(output_dir)]) == 1


def test_console_script_runs_as_installed(sample_build, tmp_path):
    script = Path(sys.executable).with_name("multi-llm-coord")
    result = subprocess.run([str(script), "stats", str(sample_build[0])], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "mini" in result.stdout and "full" in result.stdout
    result = subprocess.run([str(script), "stats", str(tmp_path / "missing")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr == f"error: {tmp_path / 'missing'}: no such folder\n"


def test_a_small_file_builds_at_the_largest_rank_it_allows_and_says_so(tmp_path, capsys):
    """Without --rank, 3 battles of 2 turns fit a rank-6 basis (the default 16 needs 16 turns); an explicit --rank
    the data cannot fit stays an error."""
    from builder.cli import main

    source = write_jsonl(tmp_path / "small.jsonl", [make_row(question_id=f"r-{i}") for i in range(3)])
    assert main(["build", "--source", source, "-o", str(tmp_path / "out"), "--no-progress"]) == 0
    captured = capsys.readouterr()
    note = "rank 6 instead of 16: the pairwise episodes have 6 turns, and the basis needs one per dimension"
    assert note in captured.err and note in captured.out  # as it happens, and in the summary
    report = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert report["options"]["rank"] == 6 and any(n.startswith(note) for n in report["families"]["pairwise"]["notes"])
    assert main(["validate", str(tmp_path / "out")]) == 0
    assert main(["build", "--source", source, "-o", str(tmp_path / "out"), "--no-progress", "--rank", "16"]) == 1
    assert "--rank 16 needs at least 16 turns" in capsys.readouterr().err
