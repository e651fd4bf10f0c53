"""Every row is an episode or a counted rejection: the classes of bad rows that used to crash a build or be
accepted silently, one test each, and a property-based test over malformed rows in every source format."""

from __future__ import annotations

import copy
import gzip
import io
import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.cli import main
from builder.pipeline import build
from builder.rejections import REJECT_REASONS, Rejection, RowLocation
from builder.sources import iter_source_rows
from builder.sources.agent_scaling import agent_scaling_row_to_episode, parse_file_name
from builder.sources.answer_sets import answer_set_row_to_episode
from builder.sources.arena import arena_row_to_episode
from builder.sources.agent_teams import team_row_to_episode
from builder.sources.otlp import conversation_to_episode
from builder.sources.otlp_wire import read_spans
from builder.sources.span_store import conversations
from builder.sources.mallm import mallm_row_to_episode
from builder.sources.loaders import check_nesting
from conftest import FixedCounter, make_row, quiet_config, write_jsonl
from multi_llm_coord import episode_features

AS_FILE = "gsm8k_debate_100__llama-3-8b_N=2_R=1.jsonl"


def as_row(**round_changes) -> dict:
    names = [f"gsm8k_100__llama-3-8b__None__Agent{i}" for i in (1, 2)]
    rounds = {}
    for number in ("0", "1"):
        rounds[number] = {"responses": {name: f"answer {number}" for name in names}, "final_answers": ["4", "4"],
                          "final_answer_iscorr": [True, False], "debate_answer": "4", "debate_answer_iscorr": True,
                          "answer": "4", "persona_configs": ["", ""]}
        rounds[number].update(round_changes)
    return rounds


def as_normalise(row, index=0):
    path = __import__("pathlib").Path(AS_FILE)
    return agent_scaling_row_to_episode(row, index=index, path=path, file_info=parse_file_name(path), questions=None,
                                        max_text_chars=10_000)


def mallm_row(**changes) -> dict:
    """A small record in MALLM's real layout (ids are integers; memory_ids name what each message was given)."""
    memory = [{"message_id": 2 * (t - 1) + i, "turn": t, "agent_id": a, "persona": "x", "message": f"msg {t} {a}",
               "agreement": True, "solution": "B", "memory_ids": list(range(2 * (t - 1) + i))}
              for t in (1, 2) for i, a in enumerate(("p1", "p2"))]
    return {"exampleId": "ex-1", "dataset": "data/datasets/mmlu.json", "datasetId": "7", "instruction": "Pick one.",
            "input": ["Q?"], "paradigm": "memory", "personas": [{"agentId": "p1", "model": "m1", "persona": "x"},
                                                                {"agentId": "p2", "model": "m2", "persona": "y"}],
            "finalAnswer": "B", "references": ["B"], "decisionSuccess": True, "metadata": None,
            "globalMemory": memory, **changes}


def answer_set_row(**changes) -> dict:
    return {"question_id": "q1", "prompt": "Say hi", "agents": [{"model": "m1", "response": "hi", "judge_score": 7},
                                                                {"model": "m2", "response": "hello", "judge_score": 8}],
            **changes}


def arena(row):
    return arena_row_to_episode(row, "test", 10_000)


def rejected(normalise, row) -> Rejection:
    with pytest.raises(Rejection) as caught:
        normalise(row)
    return caught.value


# The classes, each with the rejection reason it now gets.
ARENA_CLASSES = {
    "huge tstamp 10**400": (make_row(tstamp=10**400), "invalid_value"),
    "huge turn 10**30": (make_row(turn=10**30), "invalid_value"),
    "turn -5": (make_row(turn=-5), "invalid_value"),
    "tstamp NaN": (make_row(tstamp=float("nan")), "invalid_value"),
    "tstamp infinite": (make_row(tstamp=float("inf")), "invalid_value"),
    "question_id empty": (make_row(question_id=""), "invalid_value"),
    "question_id blank": (make_row(question_id="   "), "invalid_value"),
    "moderation categories a list": (make_row(openai_moderation={"categories": ["violence"], "flagged": True}),
                                     "invalid_type"),
    "moderation flagged a string": (make_row(openai_moderation={"categories": {}, "flagged": "false"}), "invalid_type"),
    "moderation category a string": (make_row(openai_moderation={"categories": {"hate": "false"}}), "invalid_type"),
    "toxic tag not an object": (make_row(toxic_chat_tag={"t5-large": 3}), "invalid_type"),
    "negative integer id": (make_row(question_id=-3), "invalid_value"),
}


@pytest.mark.parametrize("name", sorted(ARENA_CLASSES))
def test_arena_class_is_rejected_with_its_reason(name):
    row, reason = ARENA_CLASSES[name]
    assert rejected(arena, row).reason == reason


def test_moderation_false_string_no_longer_counts_as_flagged():
    episode = arena(make_row(openai_moderation={"categories": {"hate": False}, "flagged": False}))
    assert episode["metadata"]["moderation_flagged"] is False


DEBATE_CLASSES = {
    "Agent-Scaling 'false' string correctness": (as_normalise, as_row(final_answer_iscorr=["false", True]), "invalid_type"),
    "Agent-Scaling 'false' debate answer": (as_normalise, as_row(debate_answer_iscorr="false"), "invalid_type"),
    "Agent-Scaling Unicode digit round key": (as_normalise, {"0": as_row()["0"], "³": as_row()["1"]}, "missing_rounds"),
    "Agent-Scaling duplicate agent ids": (
        as_normalise,
        {n: {**r, "responses": {"a__m1__None__Agent1": "x", "b__m2__None__Agent1": "y"}} for n, r in as_row().items()},
        "duplicate_agent"),
    "MALLM 'false' decisionSuccess": (lambda r: mallm_row_to_episode(r, "m.jsonl", 10_000),
                                      mallm_row(decisionSuccess="false"), "invalid_type"),
    "MALLM huge turn": (lambda r: mallm_row_to_episode(r, "m.jsonl", 10_000),
                        mallm_row(globalMemory=[{**m, "turn": 10**30} for m in mallm_row()["globalMemory"]]),
                        "invalid_value"),
    "MALLM empty example id": (lambda r: mallm_row_to_episode(r, "m.jsonl", 10_000), mallm_row(exampleId=""),
                               "invalid_value"),
    "answer set NaN score": (lambda r: answer_set_row_to_episode(r, "a.jsonl", 10_000),
                             answer_set_row(agents=[{"model": "m", "response": "r", "judge_score": float("nan")}] * 2),
                             "invalid_value"),
}


@pytest.mark.parametrize("name", sorted(DEBATE_CLASSES))
def test_debate_class_is_rejected_with_its_reason(name):
    normalise, row, reason = DEBATE_CLASSES[name]
    assert rejected(normalise, row).reason == reason


def test_unicode_digits_in_agent_scaling_file_names_are_not_numbers():
    with pytest.raises(ValueError, match="not an Agent-Scaling history name"):
        parse_file_name(__import__("pathlib").Path("gsm8k_debate_100__m_N=³_R=1.jsonl"))


def lines_of(path) -> list:
    return [(str(location), row.reason if isinstance(row, Rejection) else "row") for location, row in iter_source_rows(str(path))]


def test_decoder_classes_are_rejections_with_file_and_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    with open(path, "wb") as handle:
        handle.write(json.dumps(make_row(question_id="ok")).encode() + b"\n\n")
        handle.write(b'{"question_id": ' + b"7" * 5000 + b"}\n")  # 5,000 digits: json.loads raises ValueError
        handle.write(b"[" * 100_000 + b"]" * 100_000 + b"\n")  # deeper than the JSON parser's recursion
        handle.write(json.dumps({"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}).encode() + b"\n")
    assert lines_of(path) == [("rows.jsonl line 1", "row"), ("rows.jsonl line 3", "invalid_value"),
                              ("rows.jsonl line 4", "too_deeply_nested"), ("rows.jsonl line 5", "too_deeply_nested")]


def write_gzip_corrupt_midstream(path, good_rows: int) -> None:
    """A gzip file whose first rows decompress and whose stream is then cut."""
    data = gzip.compress("".join(json.dumps(make_row(question_id=f"z-{i}")) + "\n" for i in range(200)).encode())
    cut = data[: len(data) // 2]
    path.write_bytes(cut)


def test_gzip_corrupt_midstream_rejects_the_rest_and_the_folder_build_goes_on(tmp_path, capsys):
    folder = tmp_path / "exports"
    folder.mkdir()
    write_jsonl(folder / "a_good.jsonl", [make_row(question_id=f"g-{i}", winner=w)
                                         for i, w in enumerate(["model_a", "model_b", "tie", "tie (bothbad)"] * 2)])
    write_gzip_corrupt_midstream(folder / "b_broken.jsonl.gz", 200)
    out = tmp_path / "out"
    assert main(["build", "--source", str(folder), "-o", str(out), "--no-progress", "--rank", "2"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "stats.json").read_text())
    assert report["families"]["pairwise"]["rejections"]["by_reason"] == {"corrupt_file": 1}
    example = report["families"]["pairwise"]["rejections"]["examples"]["corrupt_file"][0]
    assert example["file"] == "b_broken.jsonl.gz" and example["line"] > 1
    assert report["families"]["pairwise"]["episodes_accepted"] > 8  # the good file and the readable start of the broken one
    assert "corrupt_file  (first: b_broken.jsonl.gz line" in printed


def test_a_broken_parquet_file_in_a_folder_is_a_rejection_not_an_abort(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist([make_row(question_id="p-1")]), folder / "a.parquet")
    (folder / "b.parquet").write_bytes(b"PAR1 not really")
    found = lines_of(folder)
    assert found == [("a.parquet line 1", "row"), ("b.parquet line 1", "corrupt_file")]


def test_cli_summary_shows_the_debate_family_rejections(tmp_path, capsys):
    debates = tmp_path / "debates"
    debates.mkdir()
    good = [as_row() for _ in range(3)]
    bad = [as_row(final_answer_iscorr=["false", True]) for _ in range(2)]
    write_jsonl(debates / AS_FILE, good + bad)
    arena_file = write_jsonl(tmp_path / "b.jsonl", [make_row(question_id=f"e-{i}") for i in range(3)])
    assert main(["build", "--source", arena_file, "--debate-source", str(debates), "-o", str(tmp_path / "out"),
                 "--no-progress", "--rank", "2"]) == 0
    printed = capsys.readouterr().out
    assert "pairwise: rows read 3, accepted 3, rejected 0" in printed
    assert "debate: rows read 5, accepted 3, rejected 2" in printed
    assert f"rejected      2  invalid_type  (first: {AS_FILE} line 4)" in printed


def test_folder_rejection_examples_name_the_file_and_its_line(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    write_jsonl(folder / "one.jsonl", [make_row(question_id=f"a-{i}") for i in range(5)])
    write_jsonl(folder / "two.jsonl", [make_row(question_id="b-0"), make_row(question_id="b-1", winner="nobody")])
    report = build(quiet_config(source=str(folder), output_dir=tmp_path / "out", rank=2))
    assert report["families"]["pairwise"]["rejections"]["examples"]["unknown_winner"] == [
        {"file": "two.jsonl", "line": 2, "episode_id": "b-1", "detail": "'nobody'"}]


# --- property-based: malformed rows in every source format ------------------------------------------------

# Text as json.loads can return it: any code point, lone surrogates included ("\ud800" in a JSON file decodes to
# one), which hypothesis leaves out of st.text by default. A surrogate in any string field must be a rejection.
ANY_TEXT = st.text(st.characters(codec=None) | st.characters(categories=["Cs"]), max_size=8)
JSON_SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(10**40), max_value=10**40)
                | st.floats(allow_nan=True, allow_infinity=True) | ANY_TEXT
                | st.sampled_from(["", "false", "true", "³", "model_a", "tie (bothbad)", "user", "assistant",
                                   "\ud800", "a\udfff"]))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(ANY_TEXT, inner, max_size=3), max_leaves=12)


def paths_of(value, prefix=()):
    """Every path into a nested row (keys and list positions)."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths_of(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths_of(child, prefix + (index,))


@st.composite
def mutated(draw, base):
    """A valid row of a format with 1-3 of its fields (at any depth) replaced by arbitrary JSON or deleted."""
    row = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in paths_of(row) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = row
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON_VALUES)
    return row


TEAM_ROW = {"question": "How many?", "question_ID": "q-1", "level": "1", "ground_truth": "8", "is_correct": False,
            "system_prompt": {"Expert": "You analyse."},
            "history": [{"content": "Plan: count.", "role": "assistant", "name": "Expert"},
                        {"content": "exitcode: 1 (execution failed)", "role": "user", "name": "Computer_terminal"},
                        {"content": "TERMINATE", "role": "user", "name": "Checker"}],
            "mistake_agent": "Expert", "mistake_step": "0", "mistake_reason": "Wrong column."}
MAGENTIC_ROW = {"question": "Where?", "question_ID": "q-2", "ground_truth": "Here", "is_corrected": False,
                "history": [{"content": "Where?", "role": "human"},
                            {"content": "Plan.", "role": "Orchestrator (thought)"},
                            {"content": "Search it.", "role": "Orchestrator (-> WebSurfer)"},
                            {"content": "Clicked.", "role": "WebSurfer"}],
                "mistake_agent": "WebSurfer", "mistake_step": "3", "mistake_reason": "Clicked the wrong link."}


def otlp_attribute(key: str, value) -> dict:
    kind = "intValue" if isinstance(value, int) else "stringValue"
    return {"key": key, "value": {kind: str(value) if kind == "intValue" else value}}


def otlp_span(span_id: str, parent: str, name: str, **attributes) -> dict:
    return {"traceId": "ab" * 16, "spanId": span_id * 8, "parentSpanId": parent * 8 if parent else "", "name": name,
            "kind": 3, "startTimeUnixNano": str(1_000 + int(span_id, 16)), "endTimeUnixNano": "9000",
            "attributes": [otlp_attribute(k.replace("__", "."), v) for k, v in attributes.items()]}


# An ExportTraceServiceRequest in the shape AG2's GenAI spans take (tests/sources/test_otlp.py has real ones).
OTLP_ROW = {"resourceSpans": [{"resource": {"attributes": [otlp_attribute("service.name", "svc")]}, "scopeSpans": [{
    "scope": {"name": "ag2"}, "spans": [
        otlp_span("01", "", "conversation User", gen_ai__operation__name="conversation", gen_ai__conversation__id="c1"),
        otlp_span("02", "01", "chat m", gen_ai__operation__name="chat", gen_ai__agent__name="Planner",
                  gen_ai__input__messages=json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Q?"}]}]),
                  gen_ai__output__messages=json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "A"}]}]),
                  gen_ai__usage__input_tokens=3, gen_ai__usage__output_tokens=1),
        otlp_span("03", "01", "chat m", gen_ai__operation__name="chat", gen_ai__agent__name="Checker",
                  gen_ai__usage__input_tokens=5, gen_ai__usage__output_tokens=2)]}]}]}


def otlp_normalise(row):
    """The first conversation of one request as an episode, or the request's rejection."""
    spans, rejected = read_spans([(RowLocation("t.jsonl", 1), row)])
    if rejected:
        raise rejected[0][1]
    if not spans:
        raise Rejection("empty_conversation", "no spans")
    return conversation_to_episode(conversations(spans)[0], "t.jsonl", 10_000)


ROW_55K = {"id": "55001", "model_a": "m-a", "model_b": "m-b", "prompt": json.dumps(["Hi?"]),
           "response_a": json.dumps(["Hello."]), "response_b": json.dumps(["Hey."]),
           "winner_model_a": "1", "winner_model_b": "0", "winner_tie": "0"}
ROW_140K = {"id": "14001", "model_a": "m-a", "model_b": "m-b", "winner": "both_bad", "language": "English",
            "conversation_a": [{"role": "user", "content": [{"type": "text", "text": "Hi?"}]},
                               {"role": "assistant", "content": [{"type": "text", "text": "Hello."}]}],
            "conversation_b": [{"role": "user", "content": [{"type": "text", "text": "Hi?"}]},
                               {"role": "assistant", "content": [{"type": "text", "text": "Hey."}]}]}

FORMATS = {
    "arena": (make_row(), arena),
    "arena_55k": (ROW_55K, arena),
    "arena_140k": (ROW_140K, arena),
    "agent_scaling": (as_row(), as_normalise),
    "mallm": (mallm_row(), lambda r: mallm_row_to_episode(r, "m.jsonl", 10_000)),
    "answer_set": (answer_set_row(), lambda r: answer_set_row_to_episode(r, "a.jsonl", 10_000)),
    "who_and_when": (TEAM_ROW, lambda r: team_row_to_episode(r, "w.json", 10_000)),
    "magentic_one": (MAGENTIC_ROW, lambda r: team_row_to_episode(r, "m.json", 10_000)),
    "otlp": (OTLP_ROW, otlp_normalise),
}
TOKENS = FixedCounter()


def with_enrichments(episode: dict, rank: int = 2) -> dict:
    """The episode as the writer sees it: token fields computed, latent and label fields filled."""
    episode = TOKENS.process(copy.deepcopy(episode))
    for turn in episode["turns"]:
        turn.update(latent_z=[0.0] * rank, latent_h=[0.0] * rank, effective_diversity=1.0, coordination_events=[])
    episode["effective_diversity_mean"] = 1.0
    episode["labels"] = {"coordination_success": None, "agreement_level": None, "efficiency_rating": None,
                         "rationale": None, "labeler": {"name": "t", "version": "t", "model": None,
                                                        "prompt_version": None}, "missing_reason": "test"}
    return episode


def parquet_round_trip(episode: dict) -> dict:
    features = episode_features(2)
    table = pa.Table.from_pylist([features.encode_example(episode)], schema=features.arrow_schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return pq.read_table(io.BytesIO(buffer.getvalue())).to_pylist()[0]


@pytest.mark.parametrize("source_format", sorted(FORMATS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_malformed_rows_are_episodes_or_known_rejections(source_format, data):
    base, normalise = FORMATS[source_format]
    row = data.draw(mutated(base))
    try:
        episode = normalise(raise_rejection(check_nesting(row)))  # the loader's row check, then the reader
    except Rejection as rejection:
        assert rejection.reason in REJECT_REASONS
        return
    encoded = with_enrichments(episode)
    back = parquet_round_trip(encoded)
    assert back["episode_id"] == episode["episode_id"]
    assert [t["prompt"] for t in back["turns"]] == [t["prompt"] for t in episode["turns"]]
    assert back["metadata"]["tstamp"] == episode["metadata"]["tstamp"]
    assert all(isinstance(v, float) and math.isfinite(v) for v in [back["metadata"]["tstamp"]] if v is not None)


def raise_rejection(row):
    if isinstance(row, Rejection):
        raise row
    return row


def string_paths(value, prefix=()):
    """(path, is_key) of every string value and every object key in a nested row."""
    if isinstance(value, str):
        yield prefix, False
    elif isinstance(value, dict):
        for key, child in value.items():
            yield prefix + (key,), True
            yield from string_paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from string_paths(child, prefix + (index,))


def with_surrogate(row, path, is_key):
    row = copy.deepcopy(row)
    parent = row
    for step in path[:-1]:
        parent = parent[step]
    if is_key:
        parent[path[-1] + "\ud800"] = parent.pop(path[-1])
    else:
        parent[path[-1]] = parent[path[-1]][:3] + "\udfff" + parent[path[-1]][3:]
    return row


@pytest.mark.parametrize("source_format", sorted(FORMATS))
def test_a_lone_surrogate_in_any_string_or_key_of_any_format_is_a_counted_rejection(tmp_path, source_format):
    """Every string field of every format, one at a time, as a JSON file holds it ("\\udfff" escapes): the row is
    rejected as invalid_utf8 at its file and line, never a build aborted at the Parquet writer."""
    base, _ = FORMATS[source_format]
    paths = list(string_paths(base))
    assert len(paths) >= 8
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(with_surrogate(base, p, k)) for p, k in paths) + "\n", encoding="ascii")
    read = list(iter_source_rows(str(path)))
    assert [location.line for location, _ in read] == list(range(1, len(paths) + 1))
    assert all(isinstance(row, Rejection) and row.reason == "invalid_utf8" for _, row in read)


@pytest.mark.parametrize("source_format, edit", [
    ("arena_55k", lambda row: row.update(response_a=json.dumps(["Hel\udfffo."]))),
    ("arena_55k", lambda row: row.update(prompt=json.dumps([{"\ud800": "Hi?"}]))),
    ("otlp", lambda row: row["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["attributes"][2]["value"].update(
        stringValue=json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Q\ud800"}]}]))),
])
def test_a_lone_surrogate_inside_a_json_encoded_field_is_a_rejection(source_format, edit):
    """Fields that hold JSON in a string (the 55k release's turns, OpenTelemetry's message attributes) decode
    to text the loader never saw: they get the same check."""
    base, normalise = FORMATS[source_format]
    row = copy.deepcopy(base)
    edit(row)
    assert check_nesting(row) is row  # the escape is plain ASCII in the outer row
    with pytest.raises(Rejection, match="invalid_utf8"):
        normalise(row)


def deeply_nested(depth: int):
    return [deeply_nested(depth - 1)] if depth > 1 else {"a": "b"}


@settings(max_examples=300, deadline=None)
@given(value=JSON_VALUES | st.integers(28, 36).map(deeply_nested) | st.sampled_from(["\ud83d\ude00", "a\\ud800"]),
       ensure_ascii=st.booleans(), wrap=st.integers(0, 33))
def test_checking_a_row_with_its_json_text_finds_what_walking_every_string_finds(value, ensure_ascii, wrap):
    """The loader checks a JSON row with the text it came from (a surrogate needs an escape there, so only the depth
    is walked where there is none): the verdict, reason and detail, is the full walk's, for any value written
    either way (escaped or as UTF-8 characters) at any depth around the limit."""
    for _ in range(wrap):
        value = {"x": value}
    try:
        text = json.dumps(value, ensure_ascii=ensure_ascii)
    except RecursionError:
        return
    decoded = json.loads(text)
    with_text, alone = check_nesting(decoded, text), check_nesting(decoded)
    if isinstance(alone, Rejection):
        assert (with_text.reason, with_text.detail) == (alone.reason, alone.detail)
    else:
        assert with_text is decoded


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(st.binary(max_size=40) | JSON_VALUES.map(lambda v: json.dumps(v).encode()), max_size=6))
def test_arbitrary_jsonl_bytes_are_rows_or_rejections(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("bytes") / "rows.jsonl"
    path.write_bytes(b"\n".join(line.replace(b"\n", b" ") for line in lines))
    for location, row in iter_source_rows(str(path)):
        assert location.line >= 1
        if isinstance(row, Rejection):
            assert row.reason in REJECT_REASONS
        else:
            try:
                arena(row)
            except Rejection as rejection:
                assert rejection.reason in REJECT_REASONS


NEW_REASONS = {"invalid_value", "too_deeply_nested", "duplicate_agent", "corrupt_file"}
