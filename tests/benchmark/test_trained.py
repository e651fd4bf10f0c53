"""Trained low-rank recurrent coordinators and the rank curve: they learn an outcome signal that is really in the
observations (ordered for sides, pooled for N agents), exactly antisymmetric in the sides, deterministic, bounded
in what they keep of an episode; the build reports, draws, saves and validates the curve, and the saved model run
on the published test split gives back the report's own scores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from builder.benchmark.trained import (MAX_RESPONSES, SequenceFeatures, Swap, TrainedCoordinator,
                                       averaged_probabilities, episode_sequence, label_indices, padded, rank_curve,
                                       rank_curve_reading, train_one)
from builder.config import FULL, parse_ranks
from builder.families.debate import DebateFamily
from builder.families.pairwise import PairwiseFamily
from builder.validate import validate_folder


def test_parse_ranks():
    assert parse_ranks("1,2,4,8,16,32,64,full") == (1, 2, 4, 8, 16, 32, 64, FULL)
    assert parse_ranks(" full , 8, 2") == (2, 8, FULL)
    assert parse_ranks("none") == ()
    for bad in ("0", "2,2", "x", "513", "", "-1"):
        with pytest.raises(ValueError):
            parse_ranks(bad)


def sided_features(count: int, seed: int = 0) -> SequenceFeatures:
    """`count` one-turn pairs whose side is carried by which side's answer vector is larger on dimension 0
    (10% of the labels flipped), and whose decisiveness by the size of the gap; splits by a fixed pattern."""
    rng = np.random.default_rng(seed)
    features = SequenceFeatures(table=None, family=PairwiseFamily(), fractions=(0.8, 0.1, 0.1))
    for i in range(count):
        gap = rng.normal()
        sequence = rng.normal(scale=0.3, size=(1, 2, 6)).astype(np.float32)
        sequence[0, 0, 0] += gap
        sequence[0, 1, 0] -= gap
        side = "model_a" if (gap > 0) != (rng.random() < 0.1) else "model_b"
        decisive = abs(gap) > 0.4
        features.sequences.append(sequence.astype(np.float16))
        features.groups.append(f"g{i}")
        features.splits.append("test" if i % 10 == 9 else "validation" if i % 10 == 8 else "train")
        features.labels.setdefault("side", []).append(side if decisive else None)
        features.labels.setdefault("decisive", []).append("decisive" if decisive else "tie")
    return features


def no_baselines(count: int) -> dict:
    return {"majority_class": np.zeros((count, 1))}


def test_a_trained_rank_one_coordinator_finds_an_ordered_signal_that_the_majority_class_misses():
    features = sided_features(800)
    curve = rank_curve(features, no_baselines(800), ranks=(1, 3), seed=0,
                       embedding_model={"name": "synthetic", "weights_sha256": "-", "dimension": 4})
    side = curve.report["targets"]["side"]["results"]
    assert side["trained_rank_1"]["accuracy_ci95"][0] > side["majority_class"]["accuracy"] + 0.15
    assert side["trained_rank_1"]["accuracy"] >= 0.75 and side["trained_rank_1"]["trained"] is True
    assert side["majority_class"]["trained"] is False and side["majority_class"]["rank"] is None
    assert set(curve.report["ranks"]) == {"1", "3", "1_without_prompt", "3_without_prompt"}
    assert side["trained_rank_1_without_prompt"]["prompt"] is False and side["trained_rank_1"]["prompt"] is True
    # every target is cross-fitted, so only the saved model is trained on `train`: the one whose mean validation
    # loss over the folds is lowest
    chosen = curve.report["chosen_rank"]
    fold_loss = {name: record["cross_fitting_validation_loss"] for name, record in curve.report["ranks"].items()}
    assert chosen == min(fold_loss, key=fold_loss.get) and "validation_loss" in curve.report["ranks"][chosen]
    assert curve.chosen.rank == int(chosen.split("_")[0])
    assert curve.report["episodes"] == {"train": 640, "validation": 80, "test": 80}
    # 80 test episodes are too few for a fixed split: every labelled pair is predicted once, out of fold
    labelled = sum(label is not None for label in features.labels["side"])
    assert curve.report["targets"]["side"]["protocol"] == "cross_fitted"
    assert curve.report["targets"]["side"]["scored_episodes"] == labelled
    sentences = rank_curve_reading(curve.report)
    assert sentences[1].startswith("side (cross fitted): the best trained rank with the prompt (")
    assert "; without the prompt the best trained rank (" in sentences[1]
    assert " above the majority class" in sentences[1]


def test_a_large_test_split_scores_the_models_trained_on_train_alone():
    features = sided_features(3000)
    curve = rank_curve(features, no_baselines(3000), ranks=(1,), seed=0,
                       embedding_model={"name": "synthetic", "weights_sha256": "-", "dimension": 4})
    side = curve.report["targets"]["side"]
    test_labelled = sum(features.labels["side"][i] is not None for i in range(3000) if features.splits[i] == "test")
    assert side["protocol"] == "test_split" and side["scored_episodes"] == test_labelled >= 150
    assert side["results"]["trained_rank_1"]["accuracy"] >= 0.75


def test_the_side_prediction_flips_exactly_when_the_sides_are_swapped():
    features = sided_features(200)
    classes = {"side": ["model_a", "model_b"], "decisive": ["decisive", "tie"]}
    rows = {s: np.flatnonzero(np.asarray(features.splits) == s) for s in ("train", "validation", "test")}
    swap = Swap.of(PairwiseFamily.sides, classes)
    run = train_one(features.sequences, features.labels, classes, rows, 3, swap, seed=1)
    batch = padded(features.sequences[:32], 2)
    swapped = padded([s[:, ::-1] for s in features.sequences[:32]], 2)
    import torch

    with torch.no_grad():
        forward, backward = averaged_probabilities(run.model, batch, swap), averaged_probabilities(run.model, swapped, swap)
    assert torch.allclose(forward["side"], backward["side"].flip(-1), atol=1e-6)
    assert torch.allclose(forward["decisive"], backward["decisive"], atol=1e-6)
    assert not torch.allclose(forward["side"][:, 0], forward["side"][:, 1])  # it does say something


def test_training_is_deterministic_for_a_seed_and_changes_with_it():
    features = sided_features(200)
    classes = {"side": ["model_a", "model_b"], "decisive": ["decisive", "tie"]}
    rows = {s: np.flatnonzero(np.asarray(features.splits) == s) for s in ("train", "validation", "test")}
    swap = Swap.of(PairwiseFamily.sides, classes)
    weights = [train_one(features.sequences, features.labels, classes, rows, 2, swap, seed).model.state_dict()
               for seed in (5, 5, 6)]
    assert all((weights[0][k] == weights[1][k]).all() for k in weights[0])
    assert any((weights[0][k] != weights[2][k]).any() for k in weights[0])


def test_trainings_in_forked_workers_give_what_they_give_in_this_process(monkeypatch):
    """From PARALLEL_FROM episodes on, the trainings run in worker processes forked by a fork server that imported
    torch beforehand (spawned where there is none): each job is seeded on its own and trains on one torch thread,
    so the curve, every score and the chosen model's weights are those of the same trainings run here."""
    import torch

    import builder.benchmark.trained as trained

    features = sided_features(200)
    curves = {}
    for cpus in (1, 2):  # one CPU: in this process; two: the workers, whatever this machine has
        monkeypatch.setattr(trained, "usable_cpus", lambda cpus=cpus: cpus)
        assert trained.parallel_training(len(features.sequences)) == (cpus == 2)
        if cpus == 2:
            trained.prepare_training_workers()
        curves[cpus] = rank_curve(features, no_baselines(200), ranks=(1, 2), seed=0,
                                  embedding_model={"name": "synthetic", "weights_sha256": "-", "dimension": 4})
    assert curves[1].report == curves[2].report and "targets" in curves[1].report
    here, there = curves[1].chosen.model.state_dict(), curves[2].chosen.model.state_dict()
    assert here.keys() == there.keys() and all(torch.equal(here[k], there[k]) for k in here)


def test_n_agent_coordinators_pool_any_number_of_agents():
    """Debates: 2 to 5 agents a round, 1 to 3 rounds; correct when the agents' mean on dimension 1 is positive."""
    rng = np.random.default_rng(3)
    features = SequenceFeatures(table=None, family=DebateFamily(), fractions=(0.8, 0.1, 0.1))
    for i in range(600):
        agents, rounds = rng.integers(2, 6), rng.integers(1, 4)
        sequence = rng.normal(scale=0.5, size=(rounds, agents, 5)).astype(np.float32)
        features.sequences.append(sequence.astype(np.float16))
        features.groups.append(f"q{i}")
        features.splits.append("test" if i % 10 == 9 else "validation" if i % 10 == 8 else "train")
        features.labels.setdefault("final_correct", []).append("True" if sequence[-1, :, 1].mean() > 0 else "False")
        features.labels.setdefault("consensus", []).append(None)
    curve = rank_curve(features, no_baselines(600), ranks=(2,), seed=0,
                       embedding_model={"name": "synthetic", "weights_sha256": "-", "dimension": 3})
    result = curve.report["targets"]["final_correct"]["results"]
    assert result["trained_rank_2"]["accuracy"] >= 0.75
    assert result["trained_rank_2"]["accuracy_ci95"][0] > result["majority_class"]["accuracy"]
    assert "consensus" not in curve.report["targets"]  # no labels: not a target
    assert curve.report["training"]["sides"] is None


class ListTable:
    """An embedding table over given texts (what the build's EmbeddingTable answers: `of` and `dimension`)."""

    dimension = 3

    def of(self, texts):
        return np.array([[len(t), t.count("a"), 1.0] for t in texts], np.float32)


def test_an_episode_keeps_its_last_whole_turns_within_the_bound():
    def reply(agent, text):
        return {"agent_id": agent, "content": text, "output_tokens": len(text), "input_tokens": 3}

    long_pairs = {"agents": [{"agent_id": "model_a"}, {"agent_id": "model_b"}],
                  "turns": [{"prompt": "aaaa" if t == 1 else None,  # later rounds: no new user message
                             "responses": [reply("model_b", "b" * t), reply("model_a", "a" * t)]} for t in range(1, 21)]}
    sequence = episode_sequence(long_pairs, ListTable(), sided=True)
    assert sequence.shape == (MAX_RESPONSES // 2, 2, 8)  # [e(answer); 2 token counts; e(prompt)]
    assert sequence[-1, 0, 1] == 20 and sequence[-1, 1, 1] == 0  # side a first whatever the order in the turn
    assert np.isclose(sequence[-1, 0, 3], np.log1p(20)) and np.isclose(sequence[-1, 0, 4], np.log1p(3))
    # the last turns were asked nothing new: they carry the first turn's prompt, cut off with its turn
    assert sequence[-1, 0, 5:].tolist() == [4, 4, 1] == sequence[-1, 1, 5:].tolist()
    crowd = {"agents": [], "turns": [{"prompt": None, "responses": [reply(f"a{i}", "x")
                                                                    for i in range(MAX_RESPONSES + 4)]}]}
    crowded = episode_sequence(crowd, ListTable(), sided=False)
    assert crowded.shape == (1, MAX_RESPONSES, 8) and not crowded[..., 5:].any()  # one turn, capped; no prompt


def test_the_reading_is_computed_from_the_intervals():
    def row(accuracy, low, high, rank=None):
        return {"accuracy": accuracy, "accuracy_ci95": [low, high], "macro_f1": accuracy, "macro_f1_ci95": [low, high],
                "rank": rank, "trained": rank is not None}

    results = {"trained_rank_1": row(0.6, 0.55, 0.65, "1"), "trained_rank_4": row(0.9, 0.85, 0.95, "4"),
               "majority_class": row(0.5, 0.45, 0.55), "length": row(0.7, 0.65, 0.75),
               "coordinator_state": row(0.5, 0.4, 0.6)}
    curve = {"targets": {"side": {"protocol": "test_split", "results": results}}}
    [sentence] = rank_curve_reading(curve)
    assert sentence.startswith("side (test split): the best trained rank with the prompt (4) scores 0.9 [0.85, 0.95], above the "
                               "majority class (0.5)")
    assert "best baseline length 0.7 [0.65, 0.75] (its interval clears the baseline's)" in sentence
    results["length"] = row(0.95, 0.9, 0.99)
    results["model_identity"] = row(0.8, 0.7, 0.84)
    [sentence] = rank_curve_reading(curve)
    assert "best baseline length 0.95 [0.9, 0.99] (the intervals overlap)" in sentence
    assert "model_identity" not in sentence
    results["trained_rank_4"] = row(0.6, 0.52, 0.66, "4")
    [sentence] = rank_curve_reading(curve)
    assert "(the baseline's interval clears it)" in sentence and "not above the majority class" not in sentence
    curve["targets"]["side"] = {"protocol": "not_scored", "protocol_reason": "9 labelled episodes"}
    assert rank_curve_reading(curve) == ["side: not scored (9 labelled episodes)."]
    assert rank_curve_reading({"skipped": "why"}) == ["not trained: why."]


# --- in the build ---------------------------------------------------------------------------------------------

def test_the_sample_build_reports_draws_and_saves_the_rank_curve(sample_build):
    folder, report = sample_build
    curve = report["families"]["pairwise"]["rank_curve"]
    ranks = {"1", "2", "4", "8", "16", "32", "64"}
    assert set(curve["ranks"]) == ranks | {f"{r}_without_prompt" for r in ranks}
    for target in ("side", "decisive"):
        rows = curve["targets"][target]["results"]
        assert {f"trained_rank_{r}" for r in curve["ranks"]} <= set(rows)
        assert {"majority_class", "length", "model_identity", "prompt_only", "length_and_model_identity",
                "coordinator_state"} <= set(rows)
    assert (folder / "figures" / "rank_curve.png").stat().st_size > 10_000
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "**Rank curve: trained low-rank recurrent coordinators (full).**" in card
    assert "| `trained_rank_64` | 64 | yes |" in card and "](figures/rank_curve.png)" in card
    info = json.loads((folder / "coordinator" / "trained-coordinator.json").read_text())
    assert info["sides"] == ["model_a", "model_b"] and set(info["targets"]) == {"side", "decisive"}
    assert "no state of this model is stored in the dataset's rows" in info["not_in_rows"]
    assert info["observation_dims"] == (770 if info["prompt_input"] else 386)
    assert str(info["rank"]) + ("" if info["prompt_input"] else "_without_prompt") == curve["chosen_rank"]
    assert report["families"]["debate"]["rank_curve"]["skipped"]  # too few labelled debates: said, not faked


def test_the_saved_model_run_on_the_published_validation_split_gives_its_recorded_loss(sample_build):
    """The saved model is the chosen rank trained on `train`: run on the published `validation` rows it gives the
    validation loss the report records for that rank (its stopping criterion)."""
    from multi_llm_coord import WINNER_NAMES

    folder, report = sample_build
    coordinator = TrainedCoordinator.load(folder / "coordinator")
    episodes = []
    for path in sorted((folder / "data" / "full").glob("validation-*.parquet")):
        episodes += pq.read_table(path).to_pylist()
    for episode in episodes:
        episode["winner"] = WINNER_NAMES[episode["winner"]]
    results = coordinator.run(episodes)
    assert all(len(r["state"]) == coordinator.rank for r in results)
    curve = report["families"]["pairwise"]["rank_curve"]
    targets = PairwiseFamily().probe_targets(episodes)
    loss = sum(np.mean([-np.log(max(r["probabilities"][t][label], 1e-12)) for r, label in zip(results, labels)
                        if label is not None])
               for t, labels in targets.items() if any(label is not None for label in labels))
    # float32 in training, float64 here: equal to 1e-4, where another rank or epoch differs by far more
    assert abs(float(loss) - curve["ranks"][curve["chosen_rank"]]["validation_loss"]) < 1e-4


def test_validate_names_a_missing_trained_coordinator(sample_build, tmp_path):
    folder, _ = sample_build
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (copy / "coordinator" / "trained-coordinator.json").unlink()
    problems = validate_folder(copy)
    assert any("coordinator/trained-coordinator.json is missing" in p for p in problems)


def test_a_model_trained_on_other_embeddings_refuses_to_run(sample_build):
    folder, _ = sample_build
    coordinator = TrainedCoordinator.load(folder / "coordinator")
    coordinator.embedding_model = {**coordinator.embedding_model, "weights_sha256": "0" * 64}
    with pytest.raises(ValueError, match="trained on embeddings of"):
        coordinator.run([])


def test_label_indices_mark_missing_labels():
    labels = {"side": ["model_a", None, "model_b"]}
    assert label_indices(labels, np.arange(3), {"side": ["model_a", "model_b"]})["side"].tolist() == [0, -1, 1]


def test_a_debate_build_trains_pooled_coordinators_on_real_histories(tmp_path):
    """120 Agent-Scaling histories on 120 questions: the agents agree on 4 (right) or on 5 (wrong), so the answers'
    embeddings carry `final_correct`; the debate family's rank curve is trained on pooled agents and saved."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))
    from test_debates import history_row, write_history

    from builder.pipeline import build
    from conftest import quiet_config

    folder = tmp_path / "histories"
    folder.mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i in range(120):
        answer = "4" if rng.random() < 0.6 else "5"
        row = history_row(answers=[[answer] * 3] * 3)
        for number in row.values():
            number["debate_answer_iscorr"] = answer == "4"
        rows.append(row)
    write_history(folder, "gsm8k_debate_120__MIXED3_N=3_R=2.jsonl", rows)
    (tmp_path / "q.jsonl").write_text("".join(f'"Question {i}: what is 2+2?"\n' for i in range(120)))
    # debates alone (`source="none"`): the pairwise sample would train the same ranks again, `full` included
    report = build(quiet_config(output_dir=tmp_path / "out", rank=3, source="none",
                                family_sources={"debate": (str(folder),), "agents": ("none",)},
                                questions=(f"gsm8k={tmp_path / 'q.jsonl'}",), trained_ranks="2,full"))
    curve = report["families"]["debate"]["rank_curve"]
    assert set(curve["ranks"]) == {"2", "full", "2_without_prompt", "full_without_prompt"}
    assert curve["training"]["sides"] is None
    result = curve["targets"]["final_correct"]
    assert result["protocol"] == "cross_fitted" and result["scored_episodes"] == 120  # 120 questions: every one once
    assert result["results"]["trained_rank_2"]["accuracy"] > result["results"]["majority_class"]["accuracy"]
    assert "consensus" not in curve["targets"]  # every debate ends in agreement: one class, not a target
    info = json.loads((tmp_path / "out" / "coordinator-debate" / "trained-coordinator.json").read_text())
    assert info["sides"] is None and info["targets"] == {"final_correct": ["correct", "wrong"]}
    assert (tmp_path / "out" / "figures" / "debate_rank_curve.png").is_file()
    assert validate_folder(tmp_path / "out") == []


def test_the_adam_steps_are_torch_adams_bit_for_bit():
    """AdamSteps runs torch's own functional Adam: the same weights as torch.optim.Adam, a parameter without a
    gradient (here the bias, on the middle steps) neither stepped nor decayed by either."""
    import torch

    from builder.benchmark.trained import LEARNING_RATE, WEIGHT_DECAY, AdamSteps

    torch.manual_seed(0)
    ours, theirs = torch.nn.Linear(5, 3), torch.nn.Linear(5, 3)
    theirs.load_state_dict(ours.state_dict())
    optimisers = {id(ours): AdamSteps(ours.parameters()),
                  id(theirs): torch.optim.Adam(theirs.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)}
    x = torch.randn(8, 5)
    for step in range(6):
        for model in (ours, theirs):
            optimisers[id(model)].zero_grad()
            loss = (x @ model.weight.T).pow(2).sum() if step in (2, 3) else model(x).pow(2).sum()
            loss.backward()
            optimisers[id(model)].step()
        assert torch.equal(ours.weight, theirs.weight) and torch.equal(ours.bias, theirs.bias), step
    assert not torch.equal(ours.weight, torch.nn.Linear(5, 3).weight)


def test_training_imports_no_compiler():
    """A torch Optimizer imports torch._dynamo when it is built (about 2 s); the coordinators' training does not."""
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from builder.benchmark.trained import train_one\n"
            "rng = np.random.default_rng(0)\n"
            "sequences = [rng.normal(size=(1, 2, 6)).astype(np.float16) for _ in range(20)]\n"
            "labels = {'side': ['model_a', 'model_b'] * 10}\n"
            "rows = {'train': np.arange(16), 'validation': np.arange(16, 20)}\n"
            "train_one(sequences, labels, {'side': ['model_a', 'model_b']}, rows, 2, None, 0)\n"
            "print('torch._dynamo' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"
