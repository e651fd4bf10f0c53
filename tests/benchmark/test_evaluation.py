"""The benchmark protocol: train / validation / test splits of the full configs by prompt group, stable under
added rows, loadable every way `datasets` loads; the test-split table in the report and card; and `evaluate`,
which reproduces the card's row for the stored state and refuses bad vectors in one line."""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.cli import main
from builder.families import FAMILIES
from builder.pipeline import build
from builder.splits import group_of, split_of
from conftest import PAIRWISE_ONLY, make_row, quiet_config, write_jsonl

WINNERS = ["model_a", "model_b", "tie", "tie (bothbad)"]


def battles(count: int, start: int = 0) -> list[dict]:
    """`count` one-turn battles on distinct prompts; model_a's long answers win more often (a signal to find)."""
    draw = random.Random(start)
    rows = []
    for i in range(start, start + count):
        winner = draw.choices(WINNERS, weights=[4, 3, 1, 1])[0]
        long_a = winner == "model_a" or draw.random() < 0.2
        rows.append(make_row(
            question_id=f"e-{i}", winner=winner, turn=1, model_a=draw.choice(["m1", "m2", "m3"]), model_b="m4",
            conversation_a=[{"role": "user", "content": f"Question {i}: how do rivers form?"},
                            {"role": "assistant", "content": "Rivers form when rain gathers. " * (12 if long_a else 2)}],
            conversation_b=[{"role": "user", "content": f"Question {i}: how do rivers form?"},
                            {"role": "assistant", "content": f"Water flows downhill ({i % 7})."}]))
    return rows


@pytest.fixture(scope="module")
def split_build(tmp_path_factory):
    folder = tmp_path_factory.mktemp("splits")
    source = write_jsonl(folder / "battles.jsonl", battles(160))
    report = build(quiet_config(source=source, output_dir=folder / "out", rank=4, **PAIRWISE_ONLY))
    return folder / "out", report


def ids_by_split(folder, config="full") -> dict[str, set[str]]:
    return {split: set(load_dataset(str(folder), config, split=split)["episode_id"])
            for split in ("train", "validation", "test")}


def test_full_configs_have_three_splits_by_prompt_group_and_small_ones_one(split_build):
    folder, report = split_build
    splits = ids_by_split(folder)
    assert sum(map(len, splits.values())) == 160 and all(splits.values())
    assert {s: report["families"]["pairwise"]["splits"][s]["episodes"] for s in splits} == {s: len(ids) for s, ids in splits.items()}
    assert sum(report["families"]["pairwise"]["splits"]["test"]["outcomes"].values()) == len(splits["test"])
    full = load_dataset(str(folder), "full")
    assert sorted(full) == ["test", "train", "validation"]
    groups = {split: {group_of(e) for e in full[split]} for split in full}
    assert not (groups["train"] & groups["test"]) and not (groups["validation"] & groups["test"])
    assert list(load_dataset(str(folder), "mini")) == ["train"]
    streamed = load_dataset(str(folder), "full", split="test", streaming=True)
    assert {e["episode_id"] for e in streamed} == splits["test"]
    card = (folder / "README.md").read_text()
    assert "data/full/test-*.parquet" in card and "## Benchmark: train / validation / test" in card


def test_adding_rows_never_moves_an_episode_between_splits(split_build, tmp_path):
    folder, _ = split_build
    before = ids_by_split(folder)
    source = write_jsonl(tmp_path / "more.jsonl", battles(160) + battles(40, start=160))
    build(quiet_config(source=source, output_dir=tmp_path / "out", rank=4, **PAIRWISE_ONLY))
    after = ids_by_split(tmp_path / "out")
    for split, ids in before.items():
        assert ids <= after[split], split
    # the assignment is a function of the prompt group and the fractions alone, pinned: a change would move
    # published episodes between splits
    assert split_of("some prompt group", (0.8, 0.1, 0.1)) == "train"
    assert split_of("some prompt group", (0.5, 0.25, 0.25)) == "validation"
    assert split_of("q", (0.5, 0.25, 0.25)) == "train"


def test_the_builder_class_yields_the_same_splits(split_build):
    import multi_llm_coord

    folder, report = split_build
    builder = multi_llm_coord.MultiLlmCoord(config_name="full", data_dir=str(folder), rank=report["options"]["rank"])
    builder.download_and_prepare()
    for split, ids in ids_by_split(folder).items():
        assert set(builder.as_dataset(split=split)["episode_id"]) == ids


def test_a_small_set_is_cross_fitted_over_every_split_with_the_baselines(split_build):
    """160 battles leave 16 test episodes: too few for a fixed split, so every battle is scored once, out of fold."""
    _, report = split_build
    decisive = report["families"]["pairwise"]["test_split"]["decisive"]
    assert report["families"]["pairwise"]["splits"]["test"]["episodes"] < 30
    assert decisive["protocol"] == "cross_fitted" and decisive["scored_episodes"] == 160
    assert decisive["scored_groups"] == 160 and decisive["folds"] == 5
    assert {"majority_class", "coordinator_state", "length", "model_identity", "prompt_words",
            "length_and_model_identity", "all_baselines"} <= set(decisive["results"])
    for score in decisive["results"].values():
        low, high = score["accuracy_ci95"]
        assert 0 <= low <= score["accuracy"] <= high <= 1
    # the card says what the scores show, computed from them
    from builder.benchmark.evaluation import test_reading

    card = (split_build[0] / "README.md").read_text()
    state = decisive["results"]["coordinator_state"]
    sentence = next(s for s in test_reading(report["families"]["pairwise"]["test_split"]) if s.startswith("decisive "))
    assert f"- {sentence}" in card and f"scores {state['accuracy']} " in sentence and "(cross fitted)" in sentence


def stored_states(folder, config="full") -> tuple[list[str], np.ndarray]:
    ids, states = [], []
    for path in sorted((folder / "data" / config).glob("*.parquet")):
        for row in pq.read_table(path, columns=["episode_id", "turns"]).to_pylist():
            ids.append(row["episode_id"])
            states.append(row["turns"][-1]["latent_h"])
    return ids, np.array(states)


def test_evaluate_on_the_stored_state_reproduces_the_cards_row(split_build, tmp_path, capsys):
    folder, report = split_build
    ids, states = stored_states(folder)
    vectors = tmp_path / "mine.parquet"
    pq.write_table(pa.table({"episode_id": ids, "vector": states.tolist()}), vectors)
    assert main(["evaluate", str(folder), "--vectors", str(vectors), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)["targets"]
    for target, result in report["families"]["pairwise"]["test_split"].items():
        if "results" in result:
            assert scored[target]["results"]["your_vectors"] == result["results"]["coordinator_state"]
            assert scored[target]["results"]["length"] == result["results"]["length"]
    np.savez(tmp_path / "mine.npz", episode_id=np.array(ids), vectors=states)
    assert main(["evaluate", str(folder), "--vectors", str(tmp_path / "mine.npz")]) == 0
    printed = capsys.readouterr().out
    assert "decisive: grouped 5-fold cross-fitting" in printed and "your_vectors" in printed
    records = np.array(list(zip(ids, states)), dtype=[("episode_id", "U64"), ("vector", "f8", (states.shape[1],))])
    np.save(tmp_path / "mine.npy", records)
    assert main(["evaluate", str(folder), "--vectors", str(tmp_path / "mine.npy"), "--json"]) == 0
    from_npy = json.loads(capsys.readouterr().out)["targets"]
    assert all(from_npy[t]["results"]["your_vectors"] == scored[t]["results"]["your_vectors"] for t in scored
               if "results" in scored[t])
    np.save(tmp_path / "plain.npy", states)  # no ids: one line
    assert main(["evaluate", str(folder), "--vectors", str(tmp_path / "plain.npy")]) == 2
    assert "structured array with the fields episode_id and vector" in capsys.readouterr().err


@pytest.mark.parametrize("damage, message", [
    (lambda ids, states: (ids[1:], states[1:]), "have no vector"),
    (lambda ids, states: (ids, np.where(np.arange(states.size).reshape(states.shape) == 5, np.nan, states)),
     "holds NaN"),
    (lambda ids, states: (ids, [list(s) + [0.0] * (i % 2) for i, s in enumerate(states)]), "one length"),
])
def test_evaluate_refuses_bad_vectors_in_one_line(split_build, tmp_path, capsys, damage, message):
    folder, _ = split_build
    ids, states = damage(*stored_states(folder))
    vectors = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"episode_id": ids, "vector": [list(map(float, s)) for s in states]}), vectors)
    assert main(["evaluate", str(folder), "--vectors", str(vectors)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_evaluate_refuses_a_config_without_episodes(split_build, tmp_path, capsys):
    import shutil

    folder, _ = split_build
    copy = tmp_path / "old"
    shutil.copytree(folder, copy)
    for path in (copy / "data" / "full").glob("*.parquet"):
        path.unlink()
    assert main(["evaluate", str(copy)]) == 2
    assert "has no episodes" in capsys.readouterr().err


@settings(max_examples=80, deadline=None)
@given(sizes=st.lists(st.integers(1, 6), min_size=1, max_size=25), limit=st.integers(1, 40), order=st.randoms())
def test_a_group_sample_keeps_the_first_whole_groups_in_hash_order_whatever_the_reading_order(sizes, limit, order):
    from builder.benchmark.evaluation import GroupSample, sample_position

    episodes = [(f"group {g}", f"{g}-{i}") for g, size in enumerate(sizes) for i in range(size)]
    shuffled = list(episodes)
    order.shuffle(shuffled)
    kept = []
    for reading in (episodes, shuffled):
        sample, built = GroupSample(limit), []
        for group, episode_id in reading:
            sample.add(group, lambda episode_id=episode_id: built.append(episode_id) or {"episode_id": episode_id})
        ids = [row["episode_id"] for row in sample.rows()]
        assert ids == [e for _, e in reading if e in set(ids)]  # the rows come back in reading order
        assert len(ids) <= limit and sample.kept == len(ids) and sample.seen == len(episodes)
        assert set(ids) <= set(built)  # a row is built only for an episode taken in
        kept.append(set(ids))
    assert kept[0] == kept[1]
    expected, total = set(), 0  # groups in hash order, up to the first that would overflow the limit
    for g, size in sorted(enumerate(sizes), key=lambda item: sample_position(f"group {item[0]}")):
        if total + size > limit:
            break
        expected |= {f"{g}-{i}" for i in range(size)}
        total += size
    assert kept[0] == expected and sample.sampled == (len(expected) < len(episodes))


def test_a_large_split_is_scored_on_the_same_sample_of_whole_groups_by_the_build_and_evaluate(tmp_path, monkeypatch,
                                                                                                capsys):
    from builder.benchmark import evaluation

    monkeypatch.setattr(evaluation, "MAX_EPISODES", 16)
    source = write_jsonl(tmp_path / "battles.jsonl", battles(250))
    report = build(quiet_config(source=source, output_dir=tmp_path / "out", rank=4, **PAIRWISE_ONLY))
    decisive = report["families"]["pairwise"]["test_split"]["decisive"]
    splits = report["families"]["pairwise"]["splits"]
    fit_available = splits["train"]["episodes"] + splits["validation"]["episodes"]
    assert decisive["sampled"]["train_and_validation"]["of"] == fit_available > 16
    assert decisive["sampled"]["test"]["of"] == splits["test"]["episodes"] > 16
    kept = decisive["sampled"]["train_and_validation"]["kept"] + decisive["sampled"]["test"]["kept"]
    assert decisive["scored_episodes"] == kept <= 32 and decisive["protocol"] == "cross_fitted"
    assert decisive["scored_groups"] == decisive["scored_episodes"]  # one battle a prompt here: whole groups
    card = (tmp_path / "out" / "README.md").read_text()
    assert (f"{decisive['sampled']['test']['kept']} of {decisive['sampled']['test']['of']} test episodes"
            in " ".join(card.split()))
    # evaluate scores the same episodes: the stored state reproduces the row, from a file of those episodes alone
    pairwise = next(family for family in FAMILIES if family.full_config == "full")
    episodes = evaluation.read_split_episodes(tmp_path / "out", "full", pairwise)
    ids, states = stored_states(tmp_path / "out")
    wanted = set(episodes.ids())
    vectors = tmp_path / "mine.parquet"
    pq.write_table(pa.table({"episode_id": [i for i in ids if i in wanted],
                             "vector": [s.tolist() for i, s in zip(ids, states) if i in wanted]}), vectors)
    assert main(["evaluate", str(tmp_path / "out"), "--vectors", str(vectors), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)["targets"]["decisive"]
    assert scored["results"]["your_vectors"] == decisive["results"]["coordinator_state"]
    assert scored["sampled"] == decisive["sampled"]
    assert main(["evaluate", str(tmp_path / "out")]) == 0
    assert "sampled as whole prompt groups: " in capsys.readouterr().out


def card_rows(card: str) -> set[str]:
    return {line for line in card.splitlines() if line.startswith("| `")}


def test_evaluate_on_a_copy_of_the_published_files_prints_the_cards_table(split_build, tmp_path, capsys):
    """What a user downloads from the Hub (data/ and README.md, no stats.json): the same scores as the card."""
    import shutil

    folder, report = split_build
    copy = tmp_path / "download"
    shutil.copytree(folder / "data", copy / "data")
    shutil.copy(folder / "README.md", copy / "README.md")
    assert main(["evaluate", str(copy), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["targets"] == report["families"]["pairwise"]["test_split"] and scored["seed"] == 0
    rows = card_rows((folder / "README.md").read_text())
    for target, result in scored["targets"].items():
        for name, score in result["results"].items():
            assert f"| `{name}` | {score['accuracy']} | {score['accuracy_ci95']} | {score['macro_f1']} |" in rows
    assert main(["evaluate", str(copy)]) == 0
    assert "decisive: grouped 5-fold cross-fitting over all splits" in capsys.readouterr().out


def test_a_constant_predictions_file_scores_its_class_share(split_build, tmp_path, capsys):
    folder, report = split_build
    ids, _ = stored_states(folder)
    predictions = tmp_path / "constant.jsonl"
    predictions.write_text("".join(json.dumps({"episode_id": i, "decisive": "decisive", "side": "model_a"}) + "\n"
                                   for i in ids))
    assert main(["evaluate", str(folder), "--predictions", str(predictions), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)["targets"]
    full = load_dataset(str(folder), "full", split="all")
    winners = [WINNERS[w] for w in full["winner"]]
    decisive_share = sum(w in ("model_a", "model_b") for w in winners) / len(winners)
    side_share = winners.count("model_a") / sum(w in ("model_a", "model_b") for w in winners)
    assert scored["decisive"]["results"]["your_predictions"]["accuracy"] == round(decisive_share, 4)
    assert scored["side"]["results"]["your_predictions"]["accuracy"] == round(side_share, 4)
    predictions.write_text(json.dumps({"episode_id": ids[0], "side": "model_a"}) + "\n")
    assert main(["evaluate", str(folder), "--predictions", str(predictions)]) == 2
    assert "have no prediction" in capsys.readouterr().err
    predictions.write_text("{not json\n")
    assert main(["evaluate", str(folder), "--predictions", str(predictions)]) == 2
    assert f"{predictions}:1: not a JSON object" in capsys.readouterr().err


def test_evaluate_reads_a_repo_from_the_hub_at_a_revision(split_build, tmp_path):
    """A Hub repo id (the local Hub server): pushed with `push`, scored by `evaluate --revision` in a fresh process."""
    import subprocess
    import sys

    from hub_server import HubServer
    from test_push import cli_env

    folder, report = split_build
    with HubServer() as hub:
        env = cli_env(hub, tmp_path, "hf_test_write_token")
        pushed = subprocess.run([sys.executable, "-m", "builder", "push", str(folder), "--repo-id", "org/coord"],
                                capture_output=True, text=True, env=env, timeout=300)
        assert pushed.returncode == 0, pushed.stderr
        run = lambda *extra: subprocess.run([sys.executable, "-m", "builder", "evaluate", "org/coord", *extra],  # noqa: E731
                                            capture_output=True, text=True, env=env, timeout=300)
        scored = run("--revision", "main", "--json")
        missing = run("--revision", "no-such-branch")
        nowhere = subprocess.run([sys.executable, "-m", "builder", "evaluate", "org/absent"], capture_output=True,
                                 text=True, env=env, timeout=300)
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["targets"] == report["families"]["pairwise"]["test_split"]
    assert missing.returncode == 2 and "no revision 'no-such-branch'" in missing.stderr
    assert nowhere.returncode == 2 and "no such dataset repo" in nowhere.stderr
    assert "Traceback" not in missing.stderr + nowhere.stderr


def test_predictions_must_cover_every_annotated_run_not_only_the_benchmarks_sample(sample_build, tmp_path, monkeypatch,
                                                                                    capsys):
    """Attribution scores every annotated run, even where the benchmark keeps a sample: a predictions file that
    covers the sample alone is refused in one line, not scored with the other runs counted as misses."""
    from builder.benchmark import evaluation

    folder, _ = sample_build
    monkeypatch.setattr(evaluation, "MAX_EPISODES", 2)
    agents = next(family for family in FAMILIES if family.full_config == "agents-full")
    sampled = evaluation.read_split_episodes(folder, "agents-full", agents)
    assert len(sampled.ids()) < len(sampled.attribution) == 6
    predictions = tmp_path / "sampled.jsonl"
    predictions.write_text("".join(json.dumps({"episode_id": i, "failure_agent": "WebSurfer", "failure_step": 0}) + "\n"
                                   for i in sampled.ids()))
    assert main(["evaluate", str(folder), "--config", "agents-full", "--predictions", str(predictions)]) == 2
    assert "have no prediction" in capsys.readouterr().err
