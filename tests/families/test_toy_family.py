"""A fourth kind of episode, defined here and registered with one line, builds, loads, validates, shows in
`stats` and renders its card section without any other module knowing of it: the proof that a family is the
whole unit (builder/families/base.py)."""

from __future__ import annotations

import json

import datasets
import pytest
from huggingface_hub import DatasetCard

from conftest import make_row, write_jsonl

from builder import families
from builder.cli import main
from builder.episode import agent, empty_metadata, empty_outcome, episode, response, turn
from builder.families import EpisodeFamily, FamilyPlan, SourceOption
from builder.rejections import RowLocation
from builder.validate import validate_folder


def toy_episode(row: dict) -> dict:
    answers = row["answers"]
    outcome = empty_outcome() | {"final_answer": row["truth"], "ground_truth": row["truth"],
                                 "final_correct": answers[0] == row["truth"],
                                 "final_consensus": answers.count(answers[0]) / len(answers)}
    agents = [agent(f"voter_{i}", f"toy-model-{i}") for i in range(len(answers))]
    return episode(episode_id=row["id"], source="toy", topology="independent", task="toy-vote", agents=agents,
                   turns=[turn(0, row["question"], [response(a["agent_id"], f"I say {answer}.", answer,
                                                             answer == row["truth"])
                                                    for a, answer in zip(agents, answers)])],
                   winner=None, outcome=outcome, metadata=empty_metadata(row["id"]))


class ToyVoteFamily(EpisodeFamily):
    name = "toy"
    title = "Toy votes"
    source_option = SourceOption("--toy-source", "JSONL files of toy votes (one question, every agent's answer).")
    full_config, mini_config = "toy-full", "toy-mini"
    config_descriptions = {"toy-mini": "A few toy votes.", "toy-full": "Every toy vote."}
    coordinator_dir = "coordinator-toy"
    figure_prefix = "toy_"
    card_template = ("## Toy votes (configs {{ family.configs | join(', ') }})\n\n"
                     "{{ section.rows_read }} toy rows read; final answers correct: "
                     "{{ section.n_agent.final_accuracy.accuracy }} of {{ section.n_agent.final_accuracy.episodes }}.\n\n"
                     "![Toy tokens]({{ figure('token_distribution') }})\n")

    def plan(self, config):
        paths = config.family_source_list(self.name)
        if not paths:
            return None

        def rows():
            for path in paths:
                with open(path, encoding="utf-8") as handle:
                    for number, line in enumerate(handle, 1):
                        yield RowLocation(path, number), json.loads(line), toy_episode

        return FamilyPlan(self, rows=rows)


@pytest.fixture
def toy_family():
    family = families.register(ToyVoteFamily())  # the one line a new family adds
    yield family
    families.FAMILIES.remove(family)


def test_a_fourth_family_registered_with_one_line_builds_loads_validates_and_renders(toy_family, tmp_path, capsys):
    arena = write_jsonl(tmp_path / "battles.jsonl", [make_row(question_id=f"q-{i}") for i in range(6)])
    questions = ["Is 7 prime?", "Is 9 prime?", "Is 2 even?", "Is 15 odd?", "Is 0 positive?", "Is 1 prime?",
                 "Is 11 prime?", "Is 4 odd?"]
    toy = write_jsonl(tmp_path / "votes.jsonl", [
        {"id": f"t-{i}", "question": q, "truth": "yes" if i % 2 == 0 else "no",
         "answers": ["yes", "no", "yes"] if i % 3 else ["no", "no", "no"]} for i, q in enumerate(questions)])
    out = tmp_path / "out"
    assert main(["build", "--source", arena, "--toy-source", toy, "--debate-source", "none", "--team-source", "none",
                 "-o", str(out), "--rank", "2", "--trained-ranks", "none", "--no-progress"]) == 0
    assert "toy: rows read 8, accepted 8, rejected 0" in capsys.readouterr().out

    report = json.loads((out / "stats.json").read_text())
    assert report["families"]["toy"]["rows_read"] == 8 and report["families"]["debate"] is None
    assert report["options"]["family_sources"]["toy"] == ["votes.jsonl"]
    assert report["configs"]["toy-full"]["episodes"] == 8 and report["configs"]["toy-mini"]["episodes"] == 3
    assert validate_folder(out) == []

    loaded = datasets.load_dataset(str(out), "toy-full")
    assert sum(split.num_rows for split in loaded.values()) == 8
    first = datasets.load_dataset(str(out), "toy-mini", split="train")[0]
    assert first["task"] == "toy-vote" and [a["model"] for a in first["agents"]] == [f"toy-model-{i}" for i in range(3)]

    card = DatasetCard.load(out / "README.md")
    assert "## Toy votes (configs toy-mini, toy-full)" in card.text
    assert "8 toy rows read; final answers correct:" in card.text
    assert "![Toy tokens](figures/toy_token_distribution.png)" in card.text
    assert {c["config_name"] for c in card.data.to_dict()["configs"]} >= {"toy-full", "toy-mini"}
    assert (out / "coordinator-toy" / "coordinator.safetensors").is_file()

    assert main(["stats", str(out)]) == 0
    assert "toy-full" in capsys.readouterr().out


def test_a_family_whose_names_clash_is_refused():
    class Clash(ToyVoteFamily):
        full_config = "debate-full"

    with pytest.raises(ValueError, match="clashes with 'debate'"):
        families.register(Clash())
    assert [f.name for f in families.FAMILIES] == ["pairwise", "debate", "agents"]
