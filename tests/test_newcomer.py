"""What a newcomer meets first: one-line errors that name the file, the config or the option, the same exit code
for the same kind of mistake in every command, a command's own usage on a bad option, no Python warning on the
terminal, the smallest builds, and figures and a card title that say what they show."""

from __future__ import annotations

import json
import shutil
import warnings

import matplotlib
import pytest

from builder import pipeline
from builder.cli import USAGE_EXIT, main
from builder.families import family_named
from builder.output.tally import EFFICIENCY_NAMES, FamilyTally
from conftest import make_row, write_jsonl
from dataset_card import figures

matplotlib.use("Agg")


def error_lines(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def test_an_empty_source_is_named_in_one_line(tmp_path, capsys):
    empty = tmp_path / "nothing.jsonl"
    empty.write_text("")
    assert main(["build", "--source", str(empty), "-o", str(tmp_path / "out"), "--no-progress",
                 "--debate-source", "none", "--team-source", "none"]) == 1
    assert error_lines(capsys) == ["error: no pairwise episode to write from nothing.jsonl: 0 rows read, 0 rejected, "
                                   "0 accepted before selection"]


def test_rejections_are_named_with_their_counts(tmp_path, capsys):
    rows = write_jsonl(tmp_path / "bad.jsonl", [make_row(question_id="x", winner="a draw"), make_row(question_id=7.5)])
    assert main(["build", "--source", rows, "-o", str(tmp_path / "out"), "--no-progress", "--debate-source", "none",
                 "--team-source", "none"]) == 1
    [line] = error_lines(capsys)
    assert line.startswith("error: no pairwise episode to write from bad.jsonl: 2 rows read, 2 rejected (")
    assert ", 0 accepted before selection" in line and " ," not in line


def test_one_turn_is_said_to_be_too_few_in_one_line_before_any_work(tmp_path, capsys, monkeypatch):
    one = write_jsonl(tmp_path / "one.jsonl", [make_row(question_id="only", conversation_a=[
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}], conversation_b=[
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey"}])])
    monkeypatch.setattr(pipeline, "build_family", lambda *a, **k: pytest.fail("work began"))
    assert main(["build", "--source", one, "-o", str(tmp_path / "out"), "--no-progress"]) == 1
    assert error_lines(capsys) == ["error: the pairwise episodes have 1 turn; fitting the low-rank basis needs at "
                                   "least 2 turns (add an episode, or one with more turns)"]


def test_two_battles_of_one_turn_build_and_validate(tmp_path, capsys):
    chat = [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."}]
    rows = write_jsonl(tmp_path / "two.jsonl", [make_row(question_id=f"t-{i}", conversation_a=chat,
                                                         conversation_b=chat) for i in range(2)])
    assert main(["build", "--source", rows, "-o", str(tmp_path / "out"), "--no-progress", "--debate-source", "none",
                 "--team-source", "none", "--trained-ranks", "none"]) == 0
    assert main(["validate", str(tmp_path / "out")]) == 0


@pytest.mark.parametrize("command", ["validate", "stats", "evaluate"])
def test_a_folder_that_is_no_build_is_an_input_error_in_every_command(tmp_path, capsys, command):
    (tmp_path / "notes").mkdir()
    assert main([command, str(tmp_path / "notes")]) == USAGE_EXIT
    assert error_lines(capsys) == [f"error: {tmp_path / 'notes'}: not a build folder (no stats.json, manifest.json, "
                                   "README.md or data/)"]
    assert main([command, str(tmp_path / "missing")]) == USAGE_EXIT
    assert error_lines(capsys) == [f"error: {tmp_path / 'missing'}: no such folder"]


def test_evaluate_names_a_missing_vectors_file_and_a_config_the_build_lacks(sample_build, tmp_path, capsys):
    folder = sample_build[0]
    assert main(["evaluate", str(folder), "--vectors", str(tmp_path / "mine.parquet")]) == USAGE_EXIT
    assert error_lines(capsys) == [f"error: {tmp_path / 'mine.parquet'}: no such file"]
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("debate-full"))
    assert main(["evaluate", str(copy), "--config", "debate-full"]) == USAGE_EXIT
    assert error_lines(capsys) == [f"error: {copy}: this copy has no config debate-full (its full configs: full, "
                                   "agents-full)"]


def test_a_bad_option_shows_the_commands_own_usage(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["build", "--rnak", "4"])
    assert stopped.value.code == USAGE_EXIT
    err = capsys.readouterr().err
    assert err.startswith("usage: multi-llm-coord build ") and err.rstrip().endswith(
        "multi-llm-coord build: error: unrecognized arguments: --rnak 4")


def test_python_warnings_go_to_the_run_log_not_the_terminal(tmp_path, capsys, monkeypatch):
    original = pipeline.fit_step

    def noisy_fit(*args, **kwargs):
        warnings.warn("invalid value encountered in divide", RuntimeWarning)
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline, "fit_step", noisy_fit)
    rows = write_jsonl(tmp_path / "rows.jsonl", [make_row(question_id=f"w-{i}") for i in range(3)])
    assert main(["build", "--source", rows, "-o", str(tmp_path / "out"), "--no-progress", "--rank", "2",
                 "--debate-source", "none", "--team-source", "none", "--trained-ranks", "none"]) == 0
    captured = capsys.readouterr()
    assert "Warning" not in captured.err and "invalid value" not in captured.err
    assert "python warnings: 1 kinds, recorded in build-run.json" in captured.out
    run = json.loads((tmp_path / "out" / "build-run.json").read_text())
    assert run["python_warnings"] == ["RuntimeWarning: invalid value encountered in divide (test_newcomer.py:"
                                      + run["python_warnings"][0].rsplit(":", 1)[1]]


def token_episode(outputs: list[int]) -> dict:
    return {"token_totals": {"prompt_tokens": 1, "output_tokens": sum(outputs), "total_tokens": 1 + sum(outputs),
                             "agent_input_tokens": 1, "per_agent": [{"output_tokens": n} for n in outputs]},
            "communication_efficiency": dict.fromkeys(EFFICIENCY_NAMES)}


@pytest.mark.parametrize("name, labels", [("agents", ["agent position 0", "agent position 1", "agent position 2"]),
                                          ("pairwise", ["model_a", "model_b"])])
def test_the_token_figure_labels_positions_or_sides_with_whole_counts(name, labels):
    """Not one episode's agent names (the bars mix every episode's agents), and no 1.25 episodes on the axis."""
    import matplotlib.pyplot as plt

    tally = FamilyTally(family_named(name))
    for outputs in ([5, 50, 500], [7, 70, 700], [9, 90, 900]):
        tally.tokens.add(token_episode(outputs[:len(labels)]))
    figure, axes = plt.subplots()
    figures._tokens(axes, tally)
    assert [text.get_text() for text in axes.get_legend().get_texts()] == labels
    assert all(float(tick).is_integer() for tick in axes.get_yticks())
    plt.close(figure)


def test_the_card_title_is_short_and_its_snippets_list_the_splits_built(sample_build):
    folder, report = sample_build
    text = (folder / "README.md").read_text()
    assert "\n# Multi-LLM coordination episodes\n" in text
    for name, info in report["configs"].items():
        splits = sorted(path.name.split("-", 1)[0] for path in (folder / "data" / name).glob("*.parquet"))
        if len(splits) > 1:
            order = [s for s in ("train", "validation", "test") if s in splits]
            assert f'load_dataset("{folder.name}", "{name}")  # DatasetDict: {", ".join(order)}' in text
