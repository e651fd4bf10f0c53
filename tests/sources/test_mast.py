"""MAST's traces (tests/fixtures/mast: real records of MAD_human_labelled_dataset.json, cut by
scripts/fixtures/mast.py), each system's log read as it wrote it, the failure modes kept as annotated."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import failure_mode_rows, make_row, write_jsonl
from hub_server import HubServer, Repo

from builder.benchmark.failure_modes import failure_mode_report
from builder.families import family_named
from dataset_card.render import render_family_section
from builder.rejections import Rejection
from builder.sources.agent_teams import iter_team_rows, plan_team_sources
from builder.sources.mast import FAILURE_MODES, mast_row

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "mast" / "MAD_human_labelled_dataset.json"
RECORDS = {record["trace_id"]: record for record in json.loads(FIXTURE.read_text(encoding="utf-8"))}

# Hand-checked against the fixture's text: each speaker in order ("[t]" a tool result, ">X" addressed to X), from the
# log's own markers (ChatDev's entry heads, HyperAgent's Response / -> lines with their Intern Name, AppWorld's
# Response / Reply / Code Execution Output blocks, Magentic-One's ---------- headers, OpenManus's thoughts and tool
# results, MetaGPT's `to do` and NEW MESSAGES lines, AG2's trajectory names).
SPEAKERS = {
    2: "assistant mathproxyagent[t] assistant mathproxyagent[t] assistant mathproxyagent[t] assistant "
       "mathproxyagent[t] assistant",
    7: "assistant mathproxyagent[t] assistant",
    4: "Alice(SimpleCoder) Bob(SimpleTester) Charlie(SimpleReviewer) Bob(SimpleTester) Charlie(SimpleReviewer)",
    16: "SimpleCoder SimpleTester SimpleReviewer SimpleTester SimpleReviewer",
    6: "Planner>Navigator Navigator Navigator Navigator Navigator Navigator>Planner Planner>Editor Editor Editor "
       "Editor Editor>Planner Planner>Executor Executor Executor Executor Executor Executor>Planner Planner",
    1: "Planner>Navigator Navigator Navigator Navigator Navigator Navigator>Planner Planner>Navigator Navigator "
       "Navigator Navigator>Planner Planner>Executor Executor Executor Executor>Planner",
    0: "Supervisor Code_Executor[t] Spotify Spotify Spotify Spotify>Supervisor",
    11: "Supervisor Code_Executor[t] Supervisor Code_Executor[t] Supervisor Code_Executor[t] SimpleNote SimpleNote "
        "SimpleNote SimpleNote>Supervisor",
    3: "Chief_Product_Officer>Chief_Executive_Officer Chief_Executive_Officer>Chief_Product_Officer "
       "Chief_Technology_Officer>Chief_Executive_Officer Chief_Executive_Officer>Chief_Technology_Officer",
    15: "Chief_Product_Officer>Chief_Executive_Officer Chief_Executive_Officer>Chief_Product_Officer "
        "Chief_Technology_Officer>Chief_Executive_Officer Chief_Executive_Officer>Chief_Technology_Officer",
    17: "MagenticOneOrchestrator MagenticOneOrchestrator WebSurfer MagenticOneOrchestrator WebSurfer "
        "MagenticOneOrchestrator WebSurfer MagenticOneOrchestrator WebSurfer MagenticOneOrchestrator WebSurfer "
        "MagenticOneOrchestrator",
    18: "Planning_flow Manus browser_use[t] Manus browser_use[t] Manus Manus browser_use[t] Manus Manus "
        "python_execute[t] Manus python_execute[t] Manus python_execute[t] Manus python_execute[t] Manus "
        "python_execute[t] Manus Manus terminate[t] Manus Manus terminate[t] Manus python_execute[t] Manus "
        "python_execute[t] Manus Manus terminate[t] Manus python_execute[t] Manus python_execute[t] Manus "
        "python_execute[t] Manus python_execute[t] Manus Manus terminate[t] Planning_flow",
}
SYSTEMS = {2: "AG2", 7: "AG2", 4: "MetaGPT", 16: "MetaGPT", 6: "HyperAgent", 1: "HyperAgent", 0: "AppWorld",
           11: "AppWorld", 3: "ChatDev", 15: "ChatDev", 17: "Magentic-One", 18: "OpenManus"}


def read(trace_id: int) -> tuple[dict, dict]:
    return mast_row(RECORDS[trace_id], FIXTURE.name, 2_000_000)


def spoken(episode: dict) -> str:
    def one(answer):
        name = answer["agent_id"].replace(" ", "_")
        return (name + ("[t]" if answer["kind"] == "tool_result" else "")
                + (f">{answer['addressee'].replace(' ', '_')}" if answer["addressee"] else ""))
    return " ".join(one(t["responses"][0]) for t in episode["turns"])


@pytest.mark.parametrize("trace_id", sorted(SPEAKERS))
def test_each_system_gives_its_hand_checked_speakers(trace_id):
    episode, _ = read(trace_id)
    assert spoken(episode) == SPEAKERS[trace_id]
    benchmark = "GAIA" if trace_id in (17, 18) else RECORDS[trace_id]["benchmark_name"]  # 17, 18: the names swapped
    assert episode["task"] == f"mast:{SYSTEMS[trace_id]}:{benchmark}"
    assert [a["agent_id"] for a in episode["agents"]] == list(dict.fromkeys(
        t["responses"][0]["agent_id"] for t in episode["turns"]))


def test_every_system_has_two_fixture_traces_where_the_file_has_two():
    per_system = {}
    for trace_id, system in SYSTEMS.items():
        per_system.setdefault(system, []).append(trace_id)
    # Magentic-One and OpenManus have one trace each in the human-labelled file, which is all there is offline
    assert {system: len(ids) for system, ids in per_system.items()} == {
        "AG2": 2, "MetaGPT": 2, "HyperAgent": 2, "AppWorld": 2, "ChatDev": 2, "Magentic-One": 1, "OpenManus": 1}


def test_what_each_agent_was_sent_and_wrote_is_kept_apart():
    chatdev, skipped = read(3)
    first = chatdev["turns"][0]
    # the phase prompt the CEO sends opens the chat; the bracketed system prompt is the counterpart's, not the text
    assert first["prompt"].startswith("ChatDev has made products in the following form before:")
    assert first["responses"][0]["content"].startswith("Considering the task of developing a Sudoku puzzle solver")
    usage = first["responses"][0]["provider_input_tokens"], first["responses"][0]["provider_output_tokens"]
    assert usage == (483, 70)
    assert chatdev["agents"][1]["system_prompt"].startswith("ChatDev is a software company")
    assert skipped["provider usage entry"] > 0 and "Seminar Conclusion entry" in skipped

    magentic, skipped = read(17)
    assert magentic["turns"][0]["prompt"] == ("How many at bats did the Yankee with the most walks in the 1977 regular "
                                              "season have that same season?")
    assert magentic["turns"][-1]["responses"][0]["content"] == "FINAL ANSWER: 525"  # no harness line glued to it
    assert skipped == {"harness and installer output": 192, "harness line": 3}

    manus, _ = read(18)
    planner, agent = manus["turns"][0]["responses"][0], manus["turns"][1]["responses"][0]
    assert (planner["provider_input_tokens"], planner["provider_output_tokens"]) == (392, 95)
    assert planner["content"].startswith("Plan created successfully with ID: plan_1743478406")
    assert (agent["provider_input_tokens"], agent["provider_output_tokens"]) == (1499, 29)
    call = '🔧 Tool arguments: {"action":"web_search","query":"Eliud Kipchoge marathon pace km/h"}'
    assert call in agent["content"]
    last = manus["turns"][-1]["responses"][0]
    assert last["agent_id"] == "Planning flow" and last["provider_input_tokens"] == 201
    assert last["content"].startswith("The plan to calculate the time") and "Step 1:" not in last["content"]

    appworld, skipped = read(11)
    assert appworld["turns"][-1]["responses"][0]["addressee"] == "Supervisor"
    first_note = next(t for t in appworld["turns"] if t["responses"][0]["agent_id"] == "SimpleNote")
    assert first_note["prompt"]  # what the Supervisor sent it, from its "Message to SimpleNote Agent" block
    assert appworld["turns"][0]["prompt"].startswith('Mark "Learning to cook a signature dish from scratch"')

    ag2, _ = read(7)
    assert ag2["turns"][0]["prompt"].startswith("Let's use Python to solve a math problem.")  # the proxy's problem
    assert ag2["outcome"]["final_correct"] is False and ag2["outcome"]["correct_by"] == "source"


def test_human_annotations_keep_each_annotator_and_the_taxonomy_version():
    for trace_id, record in RECORDS.items():
        episode, _ = read(trace_id)
        modes = [m for m in episode["annotations"]["failure_modes"] if m["taxonomy"] != "note_checklist"]
        assert episode["annotations"]["annotator"] == "human"
        assert len(modes) == len(record["annotations"]) and all(len(m["flags"]) == 3 for m in modes)
        for mode, written in zip(modes, record["annotations"]):
            assert written["failure mode"].lstrip().startswith(f"{mode['source_code']} {mode['title']}")
            flags = [written[f"annotator_{i}"] for i in (1, 2, 3)]
            assert mode["flags"] == [None if isinstance(f, float) and math.isnan(f) else f for f in flags]
            given = [f for f in mode["flags"] if f is not None]
            assert mode["majority"] == (sum(given) > len(given) / 2)
        assert {m["taxonomy"] for m in modes} == {{18: "mast_18", 17: "mast_17", 14: "mast_14"}[len(modes)]}
    # the NaN of one annotator is no verdict; the majority is of the two who gave one
    manus, _ = read(18)
    verification = {m["code"]: m for m in manus["annotations"]["failure_modes"]}["3.2"]
    assert verification["flags"][2] is None
    # earlier versions number differently: round 1's 2.2 "Step repetition" is the final 1.3; 2.1 has no counterpart
    round_one, _ = read(0)
    by_source = {m["source_code"]: m for m in round_one["annotations"]["failure_modes"]}
    assert (by_source["2.2"]["title"], by_source["2.2"]["code"]) == ("Step repetition", "1.3")
    assert (by_source["2.1"]["title"], by_source["2.1"]["code"]) == ("Unbatched repetitive execution", None)
    final, _ = read(17)
    assert [m["code"] for m in final["annotations"]["failure_modes"]] == list(FAILURE_MODES)
    # AG2's traces carry the annotators' note and its checklist, kept as written
    ag2, _ = read(7)
    assert ag2["annotations"]["note"] == "The agent forgot that 10 cards were refused."
    checklist = {m["title"]: m for m in ag2["annotations"]["failure_modes"] if m["taxonomy"] == "note_checklist"}
    assert checklist["Fail to detect ambiguities/contradictions"]["flags"] == [True]


def test_failure_modes_never_reach_the_turns():
    """Nothing derived from a failure mode is in the texts the events and latents are computed from."""
    for trace_id in RECORDS:
        episode, _ = read(trace_id)
        record = dict(RECORDS[trace_id], annotations=[])
        stripped, _ = mast_row(record, FIXTURE.name, 2_000_000)
        assert stripped["turns"] == episode["turns"] and stripped["agents"] == episode["agents"]


def rejected(row: dict) -> Rejection:
    with pytest.raises(Rejection) as caught:
        mast_row(row, "f", 2_000_000)
    return caught.value


def test_a_trace_its_reader_cannot_read_is_a_counted_rejection_naming_system_and_trace():
    magentic = RECORDS[17]
    error = rejected({**magentic, "trace": magentic["trace"].replace("SCENARIO.PY STARTING !#!#", "")})
    assert error.reason == "missing_field" and "Magentic-One" in str(error)
    error = rejected({**RECORDS[7], "trace": "{not json"})
    assert error.reason == "malformed_json" and "AG2" in str(error)
    error = rejected({**RECORDS[7], "mas_name": "CrewAI", "benchmark_name": "X"})
    assert error.reason == "invalid_value" and "CrewAI" in str(error)
    error = rejected({**RECORDS[4], "trace": json.dumps({"run_id": 1, "prompt": "p", "content": "no actions"})})
    assert error.reason == "empty_conversation" and "MetaGPT trace 4" in str(error)


def full_layout_rows() -> list[dict]:
    """The full dataset's layout around the fixture's real traces: {mas_name, llm_name, benchmark_name, trace_id,
    trace: {key, index, trajectory}, mast_annotation}; the judge's codes here are the human majority where the
    record uses the final 14 (a layout test: the file's own judge verdicts are not in the fixture), and one row
    has every code null, as a few rows of the real file do."""
    rows = []
    for index, (trace_id, record) in enumerate(sorted(RECORDS.items())):
        episode, _ = read(trace_id)
        final = {m["code"]: int(m["majority"]) for m in episode["annotations"]["failure_modes"]
                 if m["taxonomy"] == "mast_14"}
        rows.append({"mas_name": SYSTEMS[trace_id], "llm_name": "gpt-4o",
                     "benchmark_name": episode["task"].split(":")[2],
                     "trace_id": trace_id, "trace": {"key": f"{SYSTEMS[trace_id].lower()}_{index}", "index": index,
                                                     "trajectory": record["trace"]},
                     "mast_annotation": {code: final.get(code, index % 2) if trace_id != 2 else None
                                         for code in FAILURE_MODES}})
    rows.append({**rows[2], "trace": {**rows[2]["trace"], "trajectory": "{unreadable"}})  # AG2's JSON broken: counted
    return rows


def test_the_full_layout_is_streamed_item_by_item(tmp_path):
    path = tmp_path / "MAD_full_dataset.json"
    path.write_text(json.dumps(full_layout_rows(), indent=2), encoding="utf-8")
    episodes, rejections = [], []
    for location, row, normalise in iter_team_rows(plan_team_sources((str(path),)), 2_000_000):
        if isinstance(row, Rejection):
            rejections.append((location.line, row.reason))
        else:
            episodes.append(normalise(row))
    assert len(episodes) == 12 and (13, "malformed_json") in rejections
    judged = {e["episode_id"]: e for e in episodes}
    ag2 = judged["mast:ag2_2:2"]["annotations"]["failure_modes"]
    assert [m for m in ag2 if m["taxonomy"] == "mast_14"] == []  # every code null: no verdict (the note's stay)
    chatdev = judged["mast:chatdev_3:3"]
    assert chatdev["agents"][0]["model"] == "gpt-4o" and chatdev["annotations"]["annotator"] == "llm"
    assert [m["flags"] for m in chatdev["annotations"]["failure_modes"]][0] in ([True], [False])
    assert {e["task"].split(":")[1] for e in episodes} == set(SYSTEMS.values())


def benchmark_ids(folder: Path) -> list[str]:
    import pyarrow.parquet as pq

    return [i for path in sorted((folder / "data" / "agents-full").glob("*.parquet"))
            for i in pq.read_table(path, columns=["episode_id"]).column("episode_id").to_pylist()]


def test_a_build_reads_mast_from_the_hub(tmp_path):
    """--team-source mcemri/MAST-Data: the full dataset's file downloaded by huggingface_hub from a local Hub server;
    every trace is written or its rejection counted."""
    rows = full_layout_rows()
    repo = Repo()
    repo.commits["c1"] = {"README.md": b"---\nlicense: cc-by-4.0\n---\n# MAD (test copy)\n",
                          "MAD_full_dataset.json": json.dumps(rows).encode()}
    repo.refs["main"] = "c1"
    source = write_jsonl(tmp_path / "arena.jsonl", [make_row(question_id=f"a-{i}") for i in range(3)])
    with HubServer() as hub:
        hub.repos["mcemri/MAST-Data"] = repo
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("HF_")},
               "HF_ENDPOINT": hub.endpoint, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1",
               "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0"}
        result = subprocess.run([sys.executable, "-m", "builder", "build", "--source", source, "--team-source",
                                 "mcemri/MAST-Data", "-o", str(tmp_path / "out"), "--no-progress", "--rank", "2",
                                 "--trained-ranks", "none"], capture_output=True, text=True, env=env, timeout=600)
        downloads = [entry for entry in hub.log if "/resolve/" in entry and "MAD_full_dataset.json" in entry]
    assert result.returncode == 0, result.stderr[-3000:]
    assert downloads
    report = json.loads((tmp_path / "out" / "stats.json").read_text())
    agents = report["families"]["agents"]
    rejections = agents["rejections"]["by_reason"]
    assert agents["episodes_accepted"] + rejections["malformed_json"] == len(rows) == 13  # written, or counted
    # one count a trace whose log has lines that are no message: all but AG2's two and MetaGPT's loguru run
    assert rejections["skipped_log_lines"] == 9 and agents["rows_read"] == len(rows) + 9
    modes = agents["n_agent"]["failure_modes"]
    assert modes["traces"] == {"llm": 11} and set(modes["systems"]) == set(SYSTEMS.values())  # one has no verdict
    assert [m["code"] for m in modes["modes"]] == list(FAILURE_MODES)
    assert sum(m["llm_judged"] for m in modes["modes"]) == 11 * 14  # the all-null row has no verdict
    card = (tmp_path / "out" / "README.md").read_text()
    assert "### MAST's failure modes" in card and "| 2.6 | Reasoning-Action Mismatch |" in card
    # each final code is a benchmark target: at 11 traces every row says why it is not scored
    benchmark = modes["benchmark"]
    assert benchmark["episodes"] == 11 and benchmark["annotators"] == {"llm": 11}
    assert list(benchmark["targets"]) == list(FAILURE_MODES)
    assert all(t["protocol"] == "not_scored" and t["protocol_reason"].startswith("11 labelled episodes")
               for t in benchmark["targets"].values())
    assert "#### Benchmark: each failure mode as a target" in card
    assert "| 2.6 | not scored: 11 labelled episodes in " in card
    # evaluate scores the same traces on any copy, a user's predictions among them
    ids = [e for e in benchmark_ids(tmp_path / "out")]
    predictions = tmp_path / "predictions.jsonl"
    write_jsonl(predictions, [{"episode_id": i, "failure_mode_1.1": "flagged"} for i in ids])
    evaluated = subprocess.run([sys.executable, "-m", "builder", "evaluate", str(tmp_path / "out"), "--config",
                                "agents-full", "--predictions", str(predictions), "--json"], capture_output=True,
                               text=True, env=env, timeout=600)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert json.loads(evaluated.stdout)["failure_modes"]["targets"] == benchmark["targets"]
    # a scored benchmark renders its rows in the same section: the report's, with a larger set's scores put in
    section = agents | {"n_agent": agents["n_agent"] | {"failure_modes": modes | {
        "benchmark": failure_mode_report(failure_mode_rows(), seed=0)}}}
    text = render_family_section(family_named("agents"), section, {}, {})
    row = next(line for line in text.splitlines() if line.startswith("| 1.1 | cross fitted | 90 (30) |"))
    scores = failure_mode_report(failure_mode_rows(), seed=0)["targets"]["1.1"]["results"]
    assert f"| {scores['system_name']['accuracy']} {scores['system_name']['accuracy_ci95']} |" in row
    assert "- 1.1 Disobey Task Specification (cross fitted): coordinator_state scores" in text


def test_openmanus_keeps_the_typed_request_and_the_usage_across_other_log_lines():
    """Two patterns of OpenManus logs the fixture does not show, seen in public runs of OpenManus and its forks: the
    request typed after `Enter your prompt: ` (the MAST run's is empty), and a fork's raw-response dump
    (`app.logger:log_pretty_dict`) between a call's Token usage line and the thoughts it produced."""
    trace = RECORDS[18]["trace"]
    dump = ("2025-03-31 20:33:34.368 | INFO     | app.logger:log_pretty_dict:51 - [app.agent.ToolCallAgent][think]"
            "[self.llm_ask_tool -> response] (raw): ChatCompletionMessage(content=None, tool_calls=[...])")
    usage = "Token usage: Input=1499, Completion=29,"
    at = trace.index("\n", trace.index(usage)) + 1
    varied = trace.replace("Enter your prompt: ", "Enter your prompt: How long to run to the Moon?\n", 1)
    varied = varied[:at + len(varied) - len(trace)] + dump + "\n" + varied[at + len(varied) - len(trace):]
    manus, skipped = mast_row({**RECORDS[18], "trace": varied}, FIXTURE.name, 2_000_000)
    original, _ = read(18)
    assert manus["turns"][0]["prompt"] == "How long to run to the Moon?"
    agent = manus["turns"][1]["responses"][0]
    assert (agent["provider_input_tokens"], agent["provider_output_tokens"]) == (1499, 29)
    assert spoken(manus) == spoken(original) and skipped["app.logger log line"] == 1
