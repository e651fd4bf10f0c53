"""MAST's failure modes as benchmark targets: the label of each final code is the annotators' majority (an earlier
mode counting toward the code it maps to), the protocol is the benchmark's, and the reading says when the system's
name does at least as well as the stored state."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import failure_mode_rows

from builder.benchmark.failure_modes import (FLAGGED, NOT_FLAGGED, failure_mode_lines, failure_mode_report,
                                             failure_mode_row)
from builder.benchmark.scoring import CROSS_FITTED, NOT_SCORED
from builder.sources.mast import FAILURE_MODES, mast_row

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "mast" / "MAD_human_labelled_dataset.json"
RECORDS = {record["trace_id"]: record for record in json.loads(FIXTURE.read_text(encoding="utf-8"))}


def episode_of(trace_id: int) -> dict:
    episode, _ = mast_row(RECORDS[trace_id], FIXTURE.name, 2_000_000)
    for turn in episode["turns"]:
        turn["latent_h"] = [0.0, 1.0]  # the latent stage's, which this test does not run
    episode["token_totals"] = {"per_agent": [{"output_tokens": 10} for _ in episode["agents"]]}  # the token stage's
    return episode


def test_a_codes_label_is_the_majority_of_its_annotators_and_earlier_modes_count_toward_their_code():
    final = episode_of(17)  # the final 14 codes, three annotators
    row = failure_mode_row(final, "train")
    by_code = {m["code"]: m["majority"] for m in final["annotations"]["failure_modes"]}
    assert row["labels"] == {code: FLAGGED if by_code[code] else NOT_FLAGGED for code in FAILURE_MODES}
    assert (row["system"], row["annotator"], row["split"]) == ("Magentic-One", "human", "train")
    # round 1 (18 modes): "Unbatched repetitive execution" has no final code; the final codes no earlier mode
    # maps to have no verdict, so the trace is left out of those targets
    earlier = failure_mode_row(episode_of(0), "test")
    mapped = {m["code"]: m["majority"] for m in episode_of(0)["annotations"]["failure_modes"] if m["code"]}
    assert {code for code, label in earlier["labels"].items() if label is not None} == set(mapped)
    assert all(earlier["labels"][code] == (FLAGGED if flag else NOT_FLAGGED) for code, flag in mapped.items())


def test_an_episode_without_a_mast_verdict_has_no_row():
    episode = episode_of(17)
    episode["annotations"]["failure_modes"] = [m for m in episode["annotations"]["failure_modes"]
                                               if m["taxonomy"] == "note_checklist"]
    assert failure_mode_row(episode, "train") is None


def test_each_code_is_scored_by_the_protocol_against_the_system_name_and_the_reading_says_when_it_wins():
    rows = failure_mode_rows()
    report = failure_mode_report(rows, seed=0)
    assert list(report["targets"]) == list(FAILURE_MODES)
    assert report["annotators"] == {"llm": 90} and report["systems"] == {"AG2": 30, "ChatDev": 30, "MetaGPT": 30}
    by_system, by_state = report["targets"]["1.1"], report["targets"]["1.2"]
    for result in (by_system, by_state):
        assert result["protocol"] == CROSS_FITTED and result["scored_episodes"] == 90 and result["folds"] == 5
        assert set(result["results"]) == {"majority_class", "length", "system_name", "benchmark_name",
                                          "system_benchmark_and_length", "coordinator_state"}
    assert by_system["results"]["system_name"]["accuracy"] == 1.0 and by_system["flagged"] == 30
    assert by_system["results"]["coordinator_state"]["accuracy"] < 0.8
    assert "the system's name alone (1.0) clears the state" in by_system["reading"]
    assert by_state["results"]["coordinator_state"]["accuracy"] > 0.85
    assert "above the majority class" in by_state["reading"] and "system's name" not in by_state["reading"]
    assert report["targets"]["1.3"]["protocol"] == NOT_SCORED and "12 labelled episodes" in \
        report["targets"]["1.3"]["protocol_reason"]
    assert report["targets"]["2.1"]["protocol"] == NOT_SCORED
    lines = failure_mode_lines(report)
    assert lines[0] == "90 traces with a verdict (90 llm)" and any(line.startswith("2.1 ") and "not scored" in line
                                                                 for line in lines)


def test_a_users_vectors_and_predictions_are_scored_on_the_same_folds():
    rows = failure_mode_rows()
    vectors = {row["episode_id"]: row["state"][:1] for row in rows}
    predictions = {row["episode_id"]: {"failure_mode_1.1": row["labels"]["1.1"]} for row in rows}
    report = failure_mode_report(rows, seed=0, vectors=vectors, predictions=predictions)
    assert report["targets"]["1.2"]["results"]["your_vectors"]["accuracy"] > 0.85
    assert report["targets"]["1.1"]["results"]["your_predictions"]["accuracy"] == 1.0
    assert report["targets"]["1.2"]["results"]["your_predictions"]["accuracy"] == 0.0  # no 1.2 column: never right
    # the rows' order does not change a score: folds are by group, not by position
    again = failure_mode_report(rows[::-1], seed=0)
    assert again["targets"]["1.2"]["results"] == {name: scores for name, scores in
                                                  report["targets"]["1.2"]["results"].items()
                                                  if not name.startswith("your_")}
