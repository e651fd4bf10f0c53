"""The 55k (CSV, JSON-encoded turn lists, one-hot winners) and 140k (typed content parts) arena releases,
from tiny fixtures written in their documented layouts, normalised into the one episode schema."""

from __future__ import annotations

import csv
import datetime
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from builder.pipeline import build
from builder.rejections import Rejection
from builder.sources import iter_source_rows
from builder.sources.arena import arena_row_to_episode
from builder.validate import validate_folder
from conftest import quiet_config


def row_55k(i: int, winner: str = "model_a", turns: int = 1) -> dict:
    flags = {"winner_model_a": int(winner == "model_a"), "winner_model_b": int(winner == "model_b"),
             "winner_tie": int(winner == "tie")}
    return {"id": str(30192 + i), "model_a": "gpt-4-1106-preview", "model_b": "llama-2-70b-chat",
            "prompt": json.dumps([f"Question {i}, turn {t}?" for t in range(turns)]),
            "response_a": json.dumps([f"A answers {i}.{t}, with a comma and a \"quote\"\nand a newline." for t in range(turns)]),
            "response_b": json.dumps([f"B answers {i}.{t}." for t in range(turns)]), **flags}


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def parts(text):
    return [{"type": "text", "text": text, "image": None, "mimeType": None}]


def row_140k(i: int, winner: str = "both_bad") -> dict:
    return {"id": f"a1b2-{i}", "model_a": "gemini-2.5-pro", "model_b": "claude-opus-4", "winner": winner,
            "conversation_a": [{"role": "user", "content": parts(f"Prompt {i}")},
                               {"role": "assistant", "content": parts(f"Answer A {i}")}],
            "conversation_b": [{"role": "user", "content": parts(f"Prompt {i}")},
                               {"role": "assistant", "content": parts(f"Answer B {i}") + parts("second part")}],
            "full_conversation": [], "conv_metadata": {"sum_user_tokens": 3}, "category_tag": {"criteria_v0.1": {"creative_writing": False}}, "is_code": False,
            "language": "English"}


def test_55k_rows_read_from_csv_become_episodes(tmp_path):
    path = write_csv(tmp_path / "train.csv", [row_55k(0), row_55k(1, "tie", turns=2), row_55k(2, "model_b")])
    episodes = [arena_row_to_episode(row, "55k", 10_000) for _, row in iter_source_rows(str(path))]
    assert [e["winner"] for e in episodes] == ["model_a", "tie", "model_b"]
    assert [len(e["turns"]) for e in episodes] == [1, 2, 1]
    assert episodes[1]["turns"][1]["prompt"] == "Question 1, turn 1?"
    assert episodes[0]["turns"][0]["responses"][0]["content"].endswith('"quote"\nand a newline.')
    assert episodes[0]["episode_id"] == "30192"
    locations = [str(location) for location, _ in iter_source_rows(str(path))]
    assert locations == ["train.csv line 2", "train.csv line 3", "train.csv line 4"]  # line 1 is the header


@pytest.mark.parametrize("change, reason", [
    ({"winner_model_a": 1, "winner_model_b": 1}, "unknown_winner"),
    ({"winner_tie": "yes"}, "unknown_winner"),
    ({"response_a": "not json ["}, "invalid_type"),
    ({"response_b": json.dumps(["one", "two"])}, "turn_count_mismatch"),
    ({"response_a": json.dumps([None])}, "non_string_content"),
])
def test_bad_55k_rows_are_rejected_with_a_reason(change, reason):
    with pytest.raises(Rejection) as caught:
        arena_row_to_episode({**row_55k(0), **change}, "55k", 10_000)
    assert caught.value.reason == reason


@pytest.mark.parametrize("stamp", [datetime.datetime(2025, 5, 1, 12, 30, tzinfo=datetime.timezone.utc),
                                   datetime.datetime(2025, 5, 1, 12, 30), "2025-05-01T12:30:00Z", 1746102600.0])
def test_140k_timestamp_becomes_tstamp(stamp):
    episode = arena_row_to_episode({**row_140k(0), "timestamp": stamp}, "140k", 10_000)
    assert episode["metadata"]["tstamp"] == 1746102600.0


def test_140k_timestamp_survives_a_parquet_file(tmp_path):
    """The release's Parquet column is a timestamp type; read back it is a datetime, which becomes Unix seconds."""
    rows = [{**row_140k(0), "timestamp": datetime.datetime(2025, 5, 1, 12, 30)}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "140k.parquet")
    assert pq.read_schema(tmp_path / "140k.parquet").field("timestamp").type == pa.timestamp("us")
    (_, row), = iter_source_rows(str(tmp_path / "140k.parquet"))
    assert arena_row_to_episode(row, "140k", 10_000)["metadata"]["tstamp"] == 1746102600.0


def test_a_140k_timestamp_that_is_no_date_is_rejected():
    with pytest.raises(Rejection) as caught:
        arena_row_to_episode({**row_140k(0), "timestamp": "yesterday"}, "140k", 10_000)
    assert caught.value.reason == "invalid_value"


def test_140k_rows_join_text_parts_and_reject_images():
    episode = arena_row_to_episode(row_140k(0), "140k", 10_000)
    assert episode["winner"] == "tie (bothbad)" and episode["metadata"]["language"] == "English"
    assert episode["turns"][0]["responses"][1]["content"] == "Answer B 0\nsecond part"
    with_image = row_140k(1)
    with_image["conversation_a"][0]["content"].append({"type": "image", "text": None, "image": "xyz", "mimeType": "image/png"})
    with pytest.raises(Rejection) as caught:
        arena_row_to_episode(with_image, "140k", 10_000)
    assert caught.value.reason == "non_string_content" and "image" in caught.value.detail


@pytest.mark.parametrize("value", [1, "Hello.", {"role": "assistant"}])
def test_a_140k_conversation_that_is_not_a_list_is_rejected(value):
    """Found by the property test in CI: conversation_b = 1 raised TypeError instead of a rejection."""
    row = row_140k(0)
    row["conversation_b"] = value
    with pytest.raises(Rejection) as caught:
        arena_row_to_episode(row, "140k", 10_000)
    assert caught.value.reason == "invalid_type" and "conversation_b" in caught.value.detail


def test_a_55k_turn_column_nested_past_the_parser_is_rejected():
    row = row_55k(0)
    row["response_a"] = "[" * 100_000 + "]" * 100_000
    with pytest.raises(Rejection) as caught:
        arena_row_to_episode(row, "55k", 10_000)
    assert caught.value.reason == "too_deeply_nested"


def test_55k_and_140k_fixtures_build_and_validate(tmp_path):
    csv_path = write_csv(tmp_path / "55k.csv", [row_55k(i, ["model_a", "model_b", "tie"][i % 3]) for i in range(6)])
    report = build(quiet_config(source=str(csv_path), output_dir=tmp_path / "out55", rank=2))
    assert report["families"]["pairwise"]["outcomes"]["winner"] == {"model_a": 2, "model_b": 2, "tie": 2}
    assert validate_folder(tmp_path / "out55") == []
    pq.write_table(pa.Table.from_pylist([row_140k(i, ["model_a", "both_bad", "tie"][i % 3]) for i in range(6)]),
                   tmp_path / "140k.parquet")
    report = build(quiet_config(source=str(tmp_path / "140k.parquet"), output_dir=tmp_path / "out140", rank=2))
    assert report["families"]["pairwise"]["outcomes"]["winner"] == {"model_a": 2, "tie": 2, "tie (bothbad)": 2}
    assert validate_folder(tmp_path / "out140") == []


def test_several_sources_build_together_with_ids_kept_unique(tmp_path, capsys):
    from builder.cli import main
    from conftest import make_row, write_jsonl

    first = write_jsonl(tmp_path / "one.jsonl", [make_row(question_id=f"same-{i}") for i in range(4)])
    csv_path = write_csv(tmp_path / "55k.csv", [row_55k(i, ["model_a", "model_b", "tie"][i % 3]) for i in range(3)])
    second = write_jsonl(tmp_path / "two.jsonl", [make_row(question_id=f"same-{i}") for i in range(2)])  # same ids
    out = tmp_path / "out"
    assert main(["build", "--source", first, "--source", str(csv_path), "--source", second, "-o", str(out),
                 "--no-progress", "--rank", "2"]) == 0
    report = json.loads((out / "stats.json").read_text())
    assert report["families"]["pairwise"]["rows_read"] == 9 and report["families"]["pairwise"]["episodes_accepted"] == 9 and report["families"]["pairwise"]["rejections"]["total"] == 0
    from datasets import load_dataset

    ids = load_dataset(str(out), "full", split="all")["episode_id"]
    assert "one.jsonl/same-0" in ids and "two.jsonl/same-0" in ids and "55k.csv/30192" in ids
    assert [p["name"] for p in report["families"]["pairwise"]["provenance"]] == ["one.jsonl", "55k.csv", "two.jsonl"]
    assert main(["build", "--source", first, "--source", first, "-o", str(out), "--no-progress"]) == 2
    assert "different sources" in capsys.readouterr().err
