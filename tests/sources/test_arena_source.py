"""Sources: the arena normaliser (every rejection reason), the file loaders and the Hub loader."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from builder.rejections import REJECT_REASONS, Rejection
from builder.sources import SourceError, iter_source_rows
from builder.sources.arena import arena_row_to_episode
from builder.sources.loaders import load_hub_dataset
from conftest import VALID_ROW, make_row


def normalise(row, max_text_chars=10_000):
    return arena_row_to_episode(row, "test", max_text_chars)


def test_valid_row_becomes_a_two_agent_episode():
    episode = normalise(make_row())
    assert episode["episode_id"] == "q-001"
    assert [a["agent_id"] for a in episode["agents"]] == ["model_a", "model_b"]
    assert [a["model"] for a in episode["agents"]] == ["alpha-7b", "beta-13b"]
    assert [t["prompt"] for t in episode["turns"]] == ["Name a prime number.", "Another one?"]
    assert [r["content"] for r in episode["turns"][1]["responses"]] == ["Eleven.", "Three is also prime, and so is five."]
    assert episode["winner"] == "model_a"
    metadata = episode["metadata"]
    assert metadata["moderation_flagged"] is True
    assert metadata["moderation_categories"] == ["violence"]
    assert metadata["toxic_chat_flagged"] is True
    assert metadata["judged_turn"] == 2 and metadata["anony"] is True and metadata["tstamp"] == 1690000000.5


def test_mt_bench_variant_integer_id_and_no_extras():
    row = make_row(question_id=81, judge="expert_0", turn=1, anony=..., language=..., tstamp=...,
                   openai_moderation=..., toxic_chat_tag=...)
    episode = normalise(row)
    assert episode["episode_id"] == "mtbench-81-alpha-7b-vs-beta-13b-expert_0-turn1"
    assert episode["metadata"]["question_id"] == "81"
    assert episode["metadata"]["language"] is None
    assert episode["metadata"]["moderation_flagged"] is None
    assert episode["metadata"]["moderation_categories"] == []


@pytest.mark.parametrize("raw, canonical", [
    ("model_a", "model_a"), ("model_b", "model_b"), ("tie", "tie"), ("tie (bothbad)", "tie (bothbad)"),
    ("both_bad", "tie (bothbad)"), ("Tie ", "tie"),
])
def test_winner_spellings_normalise(raw, canonical):
    assert normalise(make_row(winner=raw))["winner"] == canonical


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


BAD_ROWS = {
    "malformed_row": ["not an object"],
    "missing_field": make_row(model_b=...),
    "invalid_type": make_row(conversation_a="hello"),
    "empty_conversation": make_row(conversation_a=[], conversation_b=[]),
    "non_string_content": make_row(conversation_a=[user("hi"), {"role": "assistant", "content": ["a", "b"]}],
                                   conversation_b=[user("hi"), assistant("b")]),
    "broken_role_order": make_row(conversation_a=[assistant("a"), user("hi")], conversation_b=[user("hi"), assistant("b")]),
    "turn_count_mismatch": make_row(conversation_b=[user("Name a prime number."), assistant("2")]),
    "prompt_mismatch": make_row(conversation_a=[user("one"), assistant("a")], conversation_b=[user("two"), assistant("b")]),
    "null_winner": make_row(winner=None),
    "unknown_winner": make_row(winner="model_c"),
    "text_too_long": make_row(conversation_a=[user("hi"), assistant("x" * 10_001)], conversation_b=[user("hi"), assistant("b")]),
    "invalid_utf8": make_row(conversation_a=[user("hi"), assistant("bad \ud800 surrogate")],
                             conversation_b=[user("hi"), assistant("b")]),
}


@pytest.mark.parametrize("reason", sorted(BAD_ROWS))
def test_each_bad_row_is_rejected_with_its_reason(reason):
    with pytest.raises(Rejection) as caught:
        normalise(BAD_ROWS[reason])
    assert caught.value.reason == reason


def test_every_reason_is_exercised_somewhere():
    # malformed_json and duplicate_id are found by the loader and the pipeline (tests below and in test_pipeline);
    # the N-agent reasons by the debate normalisers (test_debates).
    # the reasons added for issue 9's classes by test_bad_rows; duplicate_span, unread_content and unplaced_content
    # by test_otlp_frameworks; skipped_log_lines by test_mast.
    from test_bad_rows import NEW_REASONS
    from test_debates import BAD_DEBATE_REASONS

    assert set(REJECT_REASONS) == set(BAD_ROWS) | {"malformed_json", "duplicate_id"} | BAD_DEBATE_REASONS | NEW_REASONS \
        | {"duplicate_span", "unread_content", "unplaced_content", "skipped_log_lines"}


def test_trailing_user_message_without_answer_is_broken_order():
    row = make_row(conversation_a=[user("hi"), assistant("a"), user("more?")],
                   conversation_b=[user("hi"), assistant("b"), user("more?")])
    with pytest.raises(Rejection, match="ends with a user message"):
        normalise(row)


def test_wrong_metadata_type_is_rejected():
    with pytest.raises(Rejection) as caught:
        normalise(make_row(anony="yes"))
    assert caught.value.reason == "invalid_type"


def test_jsonl_loader_rejects_undecodable_lines_and_keeps_going(tmp_path):
    path = tmp_path / "rows.jsonl"
    with open(path, "wb") as handle:
        handle.write(json.dumps(make_row(question_id="a")).encode() + b"\n")
        handle.write(b"{not json\n")
        handle.write(b"\n")
        handle.write(b'{"question_id": "\xff\xfe"}\n')
        handle.write(json.dumps(make_row(question_id="b")).encode() + b"\n")
    rows = list(iter_source_rows(str(path)))
    assert [location.line for location, _ in rows] == [1, 2, 4, 5]  # 1-based physical lines; line 3 is blank
    assert rows[0][1]["question_id"] == "a" and rows[3][1]["question_id"] == "b"
    assert rows[1][1].reason == "malformed_json"
    assert rows[2][1].reason == "invalid_utf8"


def test_gzip_json_array_and_parquet_files_and_folders(tmp_path):
    rows = [make_row(question_id=f"id-{i}") for i in range(3)]
    with gzip.open(tmp_path / "a.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows)
    (tmp_path / "b.json").write_text(json.dumps({"data": rows}), encoding="utf-8")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "c.parquet")
    for name in ("a.jsonl.gz", "b.json", "c.parquet"):
        loaded = [row["question_id"] for _, row in iter_source_rows(str(tmp_path / name))]
        assert loaded == ["id-0", "id-1", "id-2"], name
    folder = [str(location) for location, _ in iter_source_rows(str(tmp_path))]
    assert folder == [f"{name} line {line}" for name in ("a.jsonl.gz", "b.json", "c.parquet") for line in (1, 2, 3)]


@pytest.mark.parametrize("source, message", [
    ("./nothing-here.jsonl", "no such file or folder"),
    ("data/x/y.parquet", "no such file or folder"),
])
def test_missing_local_source_is_a_one_line_error(source, message):
    with pytest.raises(SourceError, match=message):
        list(iter_source_rows(source))


def test_unreadable_file_is_one_corrupt_file_rejection(tmp_path):
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(b"this is not gzip")
    ((location, rejection),) = iter_source_rows(str(broken))
    assert (location.line, rejection.reason) == (1, "corrupt_file") and "Not a gzipped file" in rejection.detail
    bad_parquet = tmp_path / "bad.parquet"
    bad_parquet.write_bytes(b"PAR1 nope")
    ((location, rejection),) = iter_source_rows(str(bad_parquet))
    assert rejection.reason == "corrupt_file" and "not a readable Parquet file" in rejection.detail


def test_hub_loader_reads_a_dataset_repo_layout_with_load_dataset(tmp_path):
    # load_dataset resolves a local folder exactly as it resolves a Hub repo: same code path, no network.
    repo = tmp_path / "arena_repo"
    (repo / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([make_row(question_id=f"h-{i}") for i in range(4)]),
                   repo / "data" / "train-00000-of-00001.parquet")
    dataset = load_hub_dataset(str(repo), "train")
    assert [row["question_id"] for row in dataset] == ["h-0", "h-1", "h-2", "h-3"]
    assert normalise(dataset[0])["turns"][0]["prompt"] == VALID_ROW["conversation_a"][0]["content"]
    with pytest.raises(SourceError, match="Unknown split"):
        load_hub_dataset(str(repo), "nope")


class GatedHub(BaseHTTPRequestHandler):
    """Answers every request the way the Hub answers for a gated repo without accepted terms."""

    def do_GET(self):  # noqa: N802 - http.server's naming
        body = b'{"error": "Access to dataset lmsys/chatbot_arena_conversations is restricted."}'
        self.send_response(401)
        self.send_header("X-Error-Code", "GatedRepo")
        self.send_header("X-Error-Message", "Access to dataset is restricted. You must have access to it.")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


def test_gated_hub_dataset_gives_one_actionable_line(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), GatedHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {"HF_ENDPOINT": f"http://127.0.0.1:{server.server_port}", "HF_HUB_OFFLINE": "0",
               "HF_DATASETS_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf"), "PATH": "/usr/bin:/bin",
               "HF_HUB_DISABLE_TELEMETRY": "1"}
        result = subprocess.run(
            [sys.executable, "-m", "builder", "build", "--source", "lmsys/chatbot_arena_conversations",
             "-o", str(tmp_path / "out"), "--no-progress"],
            capture_output=True, text=True, env=env, timeout=120,
        )
    finally:
        server.shutdown()
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "gated" in lines[0] and "hf auth login" in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_row(tmp_path):
    """Some Windows tools start a file with a BOM: the first JSONL row and the first CSV header are read whole."""
    import csv as csv_module

    from builder.sources.loaders import iter_file

    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_bytes(b"\xef\xbb\xbf" + json.dumps(make_row(question_id="bom-1")).encode() + b"\n")
    (_, row), = iter_file(jsonl)
    assert row["question_id"] == "bom-1"
    table = tmp_path / "rows.csv"
    with open(table, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv_module.DictWriter(handle, fieldnames=["id", "model_a"])
        writer.writeheader()
        writer.writerow({"id": "55001", "model_a": "m"})
    (_, csv_row), = iter_file(table)
    assert list(csv_row) == ["id", "model_a"] and csv_row["id"] == "55001"
    array = tmp_path / "rows.json"
    array.write_bytes(b"\xef\xbb\xbf" + json.dumps([make_row(question_id="bom-2")]).encode())
    (_, first), = iter_file(array)
    assert first["question_id"] == "bom-2"
