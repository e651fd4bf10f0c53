"""Cards tell the truth about each source: licence, gate, citation, judge kind and prompt authors come from
the provenance registry, the maintainer's declaration or the data, never from another source."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from builder.families import pairwise as pairwise_family
from builder.cli import main
from builder.pipeline import build
from builder.provenance import arena_provenance, judge_kind_of
from conftest import make_row, quiet_config, write_jsonl


def card(folder):
    text = (folder / "README.md").read_text(encoding="utf-8")
    return yaml.safe_load(re.match(r"^---\n(.*?)\n---\n", text, re.S).group(1)), text


def llm_judged_rows(count=6):
    return [make_row(question_id=f"p-{i}", judge="gpt-4-single-answer-score", openai_moderation=..., toxic_chat_tag=...,
                     winner=["model_a", "model_b", "tie", "tie (bothbad)"][i % 4]) for i in range(count)]


def test_the_embedded_sample_is_real_gpt4_scored_data_and_the_card_says_so(sample_build):
    data, text = card(sample_build[0])
    assert data["license"] == ["apache-2.0", "mit"]
    # the real Who&When slice; "original": the Agent-Scaling debates written for this project
    assert data["source_datasets"] == ["extended|Kevin355/Who_and_When", "original"]
    assert "extra_gated_prompt" not in data
    assert "arena-bench-v1 from lmarena/arena-hard-auto" in text and "real Chatbot Arena prompts" in text
    assert "| llm (48 episodes, by their judge ids) |" in text  # counted, not copied from the registry
    assert "Verdicts:\n   an LLM judge's scores" in text and "come from human votes" not in text
    assert "machine-generated" in data["annotations_creators"] and "crowdsourced" not in data["annotations_creators"]
    assert "illustrative verdicts written with the example data" in text  # the written debate sample says so
    assert "CC-BY" not in text


def test_every_judge_sentence_comes_from_the_same_counts_per_source(tmp_path):
    """A file whose judge ids are 7 people and 1 model: the card says so in the table, the processing steps, the
    limitations and the YAML, not "human" alone."""
    rows = [make_row(question_id=f"m-{i}", judge=f"voter_{i}") for i in range(7)]
    rows.append(make_row(question_id="m-7", judge="gpt-4-single-answer-score"))
    source = write_jsonl(tmp_path / "mixed.jsonl", rows)
    report = build(quiet_config(source=source, output_dir=tmp_path / "out"))
    data, text = card(tmp_path / "out")
    assert report["families"]["pairwise"]["judge_kinds_by_source"] == {"mixed.jsonl": {"human": 7, "llm": 1}}
    assert "| 7 episodes: human; 1 episodes: llm (by their judge ids) |" in text
    assert ("- Outcomes of mixed.jsonl come from 7 episodes: human votes (one person's preference per battle: noisy, "
            "and shaped by the voters' taste for length and style); 1 episodes: an LLM judge's scores") in text
    assert data["annotations_creators"] == ["crowdsourced", "machine-generated"]
    assert data["license"] == "other" and data["license_name"] == "per-source-licences"
    assert data["license_link"] == "LICENSE.md" and (tmp_path / "out" / "LICENSE.md").is_file()


def test_no_local_path_reaches_the_card_or_the_report(tmp_path):
    private = tmp_path / "home" / "maintainer" / "exports"
    private.mkdir(parents=True)
    source = write_jsonl(private / "battles.jsonl", llm_judged_rows(20))
    out = tmp_path / "release"
    build(quiet_config(source=source, output_dir=out, rank=2))
    for name in ("README.md", "stats.json", "LICENSE.md"):
        written = (out / name).read_text(encoding="utf-8")
        assert str(tmp_path) not in written and "maintainer" not in written, name
    report = json.loads((out / "stats.json").read_text())
    assert report["options"]["source"] == "battles.jsonl" and report["options"]["output_dir"] == "release"
    assert 'load_dataset("release", "full"' in (out / "README.md").read_text(encoding="utf-8")


def test_an_unknown_local_file_claims_no_licence_and_its_judge_comes_from_the_data(tmp_path):
    source = write_jsonl(tmp_path / "pairs.jsonl", llm_judged_rows())
    report = build(quiet_config(source=source, output_dir=tmp_path / "out", rank=2))
    data, text = card(tmp_path / "out")
    assert data["license"] == "other" and "extra_gated_prompt" not in data
    assert data["annotations_creators"] == ["machine-generated"]
    assert report["families"]["pairwise"]["warnings"] == ["pairs.jsonl: no licence known; the card says `license: other` (pass --license or "
                                  "write a provenance.json sidecar)"]
    assert "**Warning**: pairs.jsonl: no licence known" in text
    assert "an LLM judge's scores" in text and "human votes" not in text
    assert "CC-BY" not in text and "lmsys" not in text.lower().replace("lmsys/chatbot_arena_conversations layout", "")
    assert report["families"]["pairwise"]["judge_kinds_in_data"] == {"llm": 6}


def test_a_sidecar_declares_licence_citation_and_judge(tmp_path):
    source = write_jsonl(tmp_path / "pairs.jsonl", llm_judged_rows())
    (tmp_path / "pairs.jsonl.provenance.json").write_text(json.dumps({
        "name": "arena-hard-auto answers", "license": "apache-2.0", "judge_kind": "llm",
        "citation": "@misc{arenahard, title={Arena-Hard-Auto}}", "prompts": "Chatbot Arena users"}))
    build(quiet_config(source=source, output_dir=tmp_path / "out", rank=2))
    data, text = card(tmp_path / "out")
    assert data["license"] == "apache-2.0" and "@misc{arenahard" in text
    assert "| arena-hard-auto answers | apache-2.0 | llm (6 episodes, by their judge ids) | Chatbot Arena users |" in text
    assert "Warning" not in text


def test_cli_flags_declare_a_local_source(tmp_path, capsys):
    source = write_jsonl(tmp_path / "pairs.jsonl", llm_judged_rows())
    assert main(["build", "--source", source, "-o", str(tmp_path / "out"), "--no-progress", "--rank", "2",
                 "--license", "apache-2.0", "--judge-kind", "llm"]) == 0
    assert card(tmp_path / "out")[0]["license"] == "apache-2.0"
    assert main(["build", "--source", source, "-o", str(tmp_path / "out"), "--no-progress", "--license", "Apache 2"]) == 2
    assert "--license takes a Hub licence id" in capsys.readouterr().err


def test_the_lmsys_arena_source_carries_its_licence_gate_and_citation(tmp_path, monkeypatch):
    rows = [make_row(question_id=f"l-{i}", judge=f"arena_user_{i}") for i in range(6)]
    path = write_jsonl(tmp_path / "rows.jsonl", rows)
    real = pairwise_family.iter_source_rows
    monkeypatch.setattr(pairwise_family, "iter_source_rows", lambda source, split: real(path, split))  # the Hub's rows, offline
    build(quiet_config(source="lmsys/chatbot_arena_conversations", output_dir=tmp_path / "out", rank=2))
    data, text = card(tmp_path / "out")
    assert data["license"] == "cc-by-4.0" and data["source_datasets"] == ["extended|lmsys/chatbot_arena_conversations"]
    assert "CC-BY-4.0" in data["extra_gated_prompt"] and data["extra_gated_fields"]
    assert "@inproceedings{zheng2023judging" in text and "human votes" in text
    assert "anonymous Chatbot Arena users" in text


def test_mini_is_described_by_what_it_holds(sample_build):
    folder, report = sample_build
    _, text = card(folder)
    holds = report["configs"]["mini"]["holds"]
    row = next(line for line in text.splitlines() if line.startswith("| `mini` |"))
    assert f"turns per episode: {', '.join(map(str, holds['turns']))}" in row
    assert all(winner in row for winner in holds["winners"])
    assert report["configs"]["full"]["holds"] is None


@pytest.mark.parametrize("judge, kind", [("gpt-4-single-answer-score", "llm"), ("gpt4_pair", "llm"),
                                         ("arena_user_12", "human"), ("expert_0", "human"), (None, None)])
def test_judge_kinds_are_read_from_judge_ids(judge, kind):
    assert judge_kind_of(judge) == kind


def test_the_140k_release_is_not_given_a_borrowed_licence():
    provenance = arena_provenance("lmarena-ai/arena-human-preference-140k")
    assert provenance.license is None
    assert arena_provenance("lmarena-ai/arena-human-preference-55k").license == "apache-2.0"


@pytest.mark.parametrize("content, says", [
    (b"42", "expected a JSON object"),
    (b'["mit"]', "expected a JSON object"),
    (b'"mit"', "expected a JSON object"),
    (b"null", "expected a JSON object"),
    (b'{"gate": [1]}', "'gate' is list, expected a string"),
    (b'{"license": 3}', "'license' is int, expected a string"),
    (b'{"licence": "mit"}', "unknown keys ['licence']"),
    (b"{not json", "not JSON"),
    ('{"license": "mit"}'.encode("utf-16"), "not UTF-8 text"),
])
def test_a_bad_sidecar_is_one_line_naming_the_file_and_the_key(tmp_path, capsys, content, says):
    source = write_jsonl(tmp_path / "pairs.jsonl", llm_judged_rows(3))
    (tmp_path / "pairs.jsonl.provenance.json").write_bytes(content)
    assert main(["build", "--source", source, "-o", str(tmp_path / "out"), "--no-progress", "--rank", "2"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "pairs.jsonl.provenance.json" in line and says in line


def test_a_citation_file_that_is_not_utf8_or_missing_is_one_line(tmp_path, capsys):
    source = write_jsonl(tmp_path / "pairs.jsonl", llm_judged_rows(3))
    (tmp_path / "refs.bib").write_bytes("@misc{x}".encode("utf-16"))
    for name, says in (("refs.bib", "not UTF-8 text"), ("no.bib", "no such file")):  # the option check finds a missing one
        assert main(["build", "--source", source, "--citation", "@" + str(tmp_path / name), "-o", str(tmp_path / "out"),
                     "--no-progress", "--rank", "2"]) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert name in line and says in line
