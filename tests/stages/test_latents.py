"""Latent states: N*, the turn observation, projections, the recurrent coordinator, the embedding cache,
the probe, and the latent columns of a real build."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pyarrow.parquet as pq
import pytest
from datasets import List, Value, load_dataset

from builder.benchmark.probe import MAX_EPISODES, probe_plan, probe_target
from builder.config import BuildConfig
from builder.pipeline import build
from builder.stages.latents.coordinator import Coordinator, project_episodes
from builder.stages.latents.diversity import effective_diversity
from builder.stages.latents.embeddings import (BATCH_TOKENS, BUCKETED, LENGTH_BUCKETS, Embedder, EmbeddingCache,
                                              ModelIdentity, TableBuilder, embed_episodes, episode_texts, text_key)
from builder.stages.latents.observations import turn_observation
from builder.stages.latents.projection import METHODS, fit_projection
from builder.stages.latents.stage import MAX_FIT_TURNS, fit_turns
from builder.validate import validate_folder
from conftest import PAIRWISE_ONLY, copy_with_edited_rows, make_row, quiet_config, write_jsonl

ALL_MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


# --- N* ------------------------------------------------------------------------------------------------

def test_identical_answers_give_one_and_orthogonal_answers_give_the_agent_count():
    v = np.array([0.6, 0.8, 0.0])
    assert effective_diversity(np.stack([v, v])) == pytest.approx(1.0)
    assert effective_diversity(np.eye(2)) == pytest.approx(2.0)
    assert effective_diversity(np.eye(4)[:3]) == pytest.approx(3.0)


def test_two_agents_match_the_hand_formula_and_ignore_scale_and_order():
    angle = 1.0
    a, b = np.array([1.0, 0.0]), np.array([math.cos(angle), math.sin(angle)])
    shares = [(1 + math.cos(angle)) / 2, (1 - math.cos(angle)) / 2]
    expected = math.exp(-sum(p * math.log(p) for p in shares))
    assert effective_diversity(np.stack([a, b])) == pytest.approx(expected)
    assert effective_diversity(np.stack([7 * b, 0.1 * a])) == pytest.approx(expected)
    assert 1 < expected < 2


def test_opposite_answers_are_not_centred_away():
    # Centring would make every two-agent turn 1; uncentred, opposite vectors are one direction: N* = 1.
    assert effective_diversity(np.array([[1.0, 0.0], [-1.0, 0.0]])) == pytest.approx(1.0)


def test_zero_vectors_stay_finite():
    assert effective_diversity(np.zeros((2, 3))) == 1.0
    assert effective_diversity(np.array([[0.0, 0.0], [1.0, 0.0]])) == pytest.approx(1.0)


# --- observation and projections --------------------------------------------------------------------

def test_turn_observation_is_permutation_invariant():
    rng = np.random.default_rng(0)
    prompt, answers = rng.normal(size=4), rng.normal(size=(3, 4))
    observation = turn_observation(prompt, answers)
    assert observation.shape == (12,)
    assert np.array_equal(observation, turn_observation(prompt, answers[[2, 0, 1]]))
    two = turn_observation(prompt, answers[:2])
    assert np.allclose(two[8:], np.abs(answers[0] - answers[1]) / 2)


def observations(n=60, d=24, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 3)) @ rng.normal(size=(3, d)) + 0.05 * rng.normal(size=(n, d))).astype(np.float32)


@pytest.mark.parametrize("method", METHODS)
def test_each_method_gives_rank_columns_and_is_deterministic(method):
    x = observations()
    first, second = fit_projection(method, x, 4, seed=3), fit_projection(method, x, 4, seed=3)
    z = first.transform(x)
    assert z.shape == (60, 4) and z.dtype == np.float32 and np.isfinite(z).all()
    assert z.tobytes() == second.transform(x).tobytes()
    assert all(first.tensors()[k].tobytes() == second.tensors()[k].tobytes() for k in first.tensors())
    assert first.reconstruction_r2(x) > 0.5  # the planted 3-dimensional structure is kept
    if method == "nmf":
        assert (z >= 0).all()
    if method in ("pca", "svd"):
        assert 0 < first.explained_variance <= 1


def test_pca_r2_equals_its_explained_variance():
    x = observations()
    projection = fit_projection("pca", x, 3, seed=0)
    assert projection.reconstruction_r2(x) == pytest.approx(projection.explained_variance, abs=1e-5)


def test_rank_and_method_errors_are_clear():
    with pytest.raises(ValueError, match="rank 16 needs at least 16 turn observations; this build has 5"):
        fit_projection("pca", observations(n=5), 16, seed=0)
    with pytest.raises(ValueError, match="unknown projection method 'ica'"):
        fit_projection("ica", observations(), 2, seed=0)


# --- the coordinator ----------------------------------------------------------------------------------

def test_recurrence_starts_at_the_first_projection_and_decays():
    coordinator = Coordinator(projection=fit_projection("pca", observations(), 2, 0), decay=0.75, embedding_model={})
    z = np.array([[4.0, 0.0], [0.0, 8.0], [4.0, 4.0]], dtype=np.float32)
    assert coordinator.states(z).tolist() == [[4.0, 0.0], [3.0, 2.0], [3.25, 2.5]]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fitting_leaves_the_observations_as_they_were(method, dtype):
    """No method changes the observations it is fitted on (PCA runs with copy=False, which is safe only while
    its solver does not centre its input in place), also when they are float64 and so are not converted."""
    x = observations().astype(dtype)
    before = x.copy()
    fit_projection(method, x, 3, 0)
    assert np.array_equal(x, before)


@pytest.mark.parametrize("method", METHODS)
def test_saved_coordinator_round_trips(method, tmp_path):
    x = observations()
    coordinator = Coordinator(projection=fit_projection(method, x, 3, 0), decay=0.5, embedding_model={"name": "m"})
    coordinator.save(tmp_path / "c")
    loaded = Coordinator.load(tmp_path / "c")
    assert loaded.describe() == coordinator.describe()
    assert np.allclose(loaded.projection.transform(x), coordinator.projection.transform(x), atol=1e-6)
    assert (tmp_path / "c" / "coordinator.safetensors").read_bytes()[:8] != b"\x80\x04"  # not a pickle


def test_a_saved_coordinator_has_the_same_bytes_every_time(tmp_path):
    """safetensors writes its metadata in a hash map's order, new for every map: with more than one entry the
    same coordinator came out in different bytes (about every other save)."""
    coordinator = Coordinator(projection=fit_projection("pca", observations(), 3, 0), decay=0.5, embedding_model={})
    saved = set()
    for attempt in range(20):
        coordinator.save(tmp_path / str(attempt))
        saved.add((tmp_path / str(attempt) / "coordinator.safetensors").read_bytes())
    assert len(saved) == 1


# --- embeddings and their cache ------------------------------------------------------------------------

class HashEmbedder(Embedder):
    """A stand-in model: deterministic unit vectors from each text's hash; counts what it encodes."""

    def __init__(self, name="hash-model", weights="w1"):
        super().__init__(name, progress=False)
        self.identity = ModelIdentity(name=name, weights_sha256=weights, max_seq_length=None)
        self.encoded: list[str] = []

    def encode(self, texts):
        self.encoded.extend(texts)
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[:16], dtype=np.uint8) for t in texts]
        vectors = np.array(rows, dtype=np.float32) - 127.5
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def tiny_episodes():
    return [{"turns": [{"prompt": f"p{i}", "responses": [{"content": "same"}, {"content": f"a{i}"}]}]} for i in range(4)]


def test_cache_hits_skip_the_model_and_a_new_model_gets_its_own_vectors(tmp_path):
    first = HashEmbedder()
    table = embed_episodes(tiny_episodes(), first, tmp_path)
    assert table.stats["embedded"] == 9 and len(first.encoded) == 9  # 4 prompts, "same", 4 answers
    again = HashEmbedder()
    warm = embed_episodes(tiny_episodes(), again, tmp_path)
    assert again.encoded == [] and warm.stats["from_cache"] == 9
    assert warm.vectors.tobytes() == table.vectors.tobytes()
    retrained = HashEmbedder(weights="w2")  # same name, other weights: nothing may be reused
    embed_episodes(tiny_episodes(), retrained, tmp_path)
    assert len(retrained.encoded) == 9


def test_table_built_in_small_chunks_is_memory_mapped_and_holds_each_text_once(tmp_path):
    episodes = tiny_episodes() * 3  # the same texts again: each is embedded once
    model = HashEmbedder()
    builder = TableBuilder(model, tmp_path / "cache", tmp_path / "work", chunk_texts=2)
    for episode in episodes:
        builder.add(episode_texts(episode))
    table = builder.finish()
    assert isinstance(table.vectors, np.memmap) and table.vectors.shape == (9, 16)
    assert len(model.encoded) == 9 and sorted(model.encoded) == sorted(set(model.encoded))
    assert (tmp_path / "work" / "vectors.f32").stat().st_size == 9 * 16 * 4
    in_memory = embed_episodes(episodes, HashEmbedder(), None)  # one chunk, no cache
    for text in ("p0", "same", "a3"):
        assert table.of([text]).tobytes() == in_memory.of([text]).tobytes()
    assert set(table.index) == {text_key(t) for e in episodes for t in episode_texts(e)}


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_a_texts_vector_does_not_depend_on_its_batch_mates(precision):
    """Encoded amid texts of other lengths and of its own bucket, in any order, alone, or on another number of
    worker threads: the same bytes, in float32 and bfloat16 (a padded batch of mixed lengths moved vectors by up to
    ~1e-7). bfloat16 runs emulated on a CPU without AVX512-BF16: slower, and the same property."""
    embedder = Embedder(progress=False, precision=precision, device="cpu")
    texts = ["A short question?", "Seven is prime, and so is eleven; both have no divisor but one and themselves.",
             "Another short one.", " ".join(f"word{i}" for i in range(400)), "Blue.",
             *(f"Question {i}: is {i} a prime number?" for i in range(30)),  # one bucket, several batch mates
             "Paris is the capital and largest city of France. " * 6]
    together = embedder.encode(texts)
    reversed_ = embedder.encode(texts[::-1])[::-1]
    alone = np.stack([embedder.encode([text])[0] for text in texts[:6]])
    one_thread = Embedder(progress=False, precision=precision, device="cpu", workers=1).encode(texts)
    assert together.tobytes() == reversed_.tobytes() == one_thread.tobytes()
    assert together[:6].tobytes() == alone.tobytes()
    assert together.dtype == np.float32 and np.allclose(np.linalg.norm(together, axis=1), 1, atol=1e-5)


def test_bucketed_batches_have_shapes_that_depend_on_each_text_alone():
    embedder = Embedder(progress=False, device="cpu")
    texts = ["Blue.", " ".join(f"word{i}" for i in range(400)), "Green and red.", "x " * 40]
    batches = embedder.bucketed_batches(texts)
    limit = embedder.model.max_seq_length
    for positions, length, rows in batches:
        assert length in {*LENGTH_BUCKETS, limit} and length <= limit and rows == max(1, BATCH_TOKENS // length)
        assert len(positions) <= rows
    bucket_of = {i: length for positions, length, _ in batches for i in positions}
    assert sorted(bucket_of) == [0, 1, 2, 3] and bucket_of[1] == limit and bucket_of[0] == bucket_of[2] == 16
    assert bucket_of == {i: length for positions, length, _ in embedder.bucketed_batches(texts[::-1])
                         for i in [3 - p for p in positions]}
def arena_rows(ids: range, long_first: bool) -> list[dict]:
    """Battles with answers of many lengths; `long_first`: the first one's answer is far longer than any other."""
    def chat(i: int, answer: str) -> list[dict]:
        return [{"role": "user", "content": f"Question {i}: say something about the number {i}."},
                {"role": "assistant", "content": answer}]

    rows = []
    for i in ids:
        long = long_first and i == ids[0]
        rows.append(make_row(question_id=f"r-{i}", conversation_a=chat(i, ("A long answer. " * 150) if long
                                                                          else f"{i} is a number." * (1 + i % 4)),
                             conversation_b=chat(i, f"About {i}: " + "it is fine. " * (1 + i % 5))))
    return rows


def test_the_same_source_builds_the_same_shards_whatever_the_cache_saw_first(tmp_path):
    """The cache is filled by another source that shares some texts (embedded there beside a far longer one),
    then this source is built over it, and again with a cold cache: byte-identical shards."""
    other = write_jsonl(tmp_path / "other.jsonl", arena_rows(range(0, 8), long_first=True))
    this = write_jsonl(tmp_path / "this.jsonl", arena_rows(range(4, 12), long_first=False))
    common = dict(rank=2, **PAIRWISE_ONLY)
    build(quiet_config(source=other, output_dir=tmp_path / "other", cache_dir=tmp_path / "cache", **common))
    warm = build(quiet_config(source=this, output_dir=tmp_path / "warm", cache_dir=tmp_path / "cache", **common))
    build(quiet_config(source=this, output_dir=tmp_path / "cold", cache_dir=tmp_path / "cold-cache", **common))
    assert warm["configs"]["full"]["episodes"] == 8
    shards = lambda folder: {p.relative_to(folder).as_posix(): p.read_bytes()  # noqa: E731
                             for p in sorted((folder / "data").rglob("*.parquet"))}
    assert shards(tmp_path / "warm") == shards(tmp_path / "cold") != {}
    run = json.loads((tmp_path / "warm" / "build-run.json").read_text())
    assert run["caches"]["pairwise"]["embeddings"]["from_cache"] > 0  # the shared texts did come from the cache


def test_the_basis_is_fitted_on_every_turn_up_to_the_cap_then_on_a_seeded_sample():
    assert fit_turns([1, 2, 3], seed=0).tolist() == [0, 1, 2, 3, 4, 5]
    many = [2] * MAX_FIT_TURNS
    sample = fit_turns(many, seed=0)
    assert len(sample) == MAX_FIT_TURNS and len(set(sample.tolist())) == MAX_FIT_TURNS
    assert sample.max() < 2 * MAX_FIT_TURNS and (np.diff(sample) > 0).all()
    assert fit_turns(many, seed=0).tolist() == sample.tolist() and fit_turns(many, seed=1).tolist() != sample.tolist()
    from multi_llm_coord import FIELD_DOCS

    assert f"{MAX_FIT_TURNS:,} turns" in FIELD_DOCS["turns.latent_z"]  # the uploaded docs name the real cap


@pytest.mark.parametrize("precision", ["float16", "bfloat16"])
def test_half_precision_stays_within_the_stated_tolerance_and_is_cached_apart(precision):
    """--embedding-precision float16 (meant for GPUs; measured here on the CPU, which runs the same model in
    float16) and bfloat16 (CPUs with AVX512-BF16, and GPUs): every vector keeps a cosine similarity with the
    float32 one of at least the stated tolerance (0.999 in float16, 0.995 in bfloat16), on real arena answers as on
    short texts."""
    from builder.sources.loaders import sample_path

    answers = [json.loads(line)["conversation_a"][1]["content"] for line in sample_path().read_text().splitlines()[:6]]
    texts = ["What is the capital of France?", "Paris is the capital and largest city of France. " * 8,
             "def add(a, b):\n    return a + b", "Je ne sais pas.", "量子力学是描述微观粒子的物理学理论。", *answers]
    full = Embedder(progress=False, device="cpu")
    half = Embedder(progress=False, device="cpu", precision=precision)
    a, b = full.encode(texts), half.encode(texts)
    assert b.dtype == np.float32 and b.shape == a.shape
    cosines = (a * b).sum(axis=1) / np.linalg.norm(b, axis=1)
    assert cosines.min() >= {"float16": 0.999, "bfloat16": 0.995}[precision], cosines
    assert half.identity.key != full.identity.key and "precision" not in full.identity.describe()


def test_bfloat16_is_refused_in_one_line_on_a_cpu_that_would_emulate_it(monkeypatch):
    from builder.config import ConfigError
    from builder.stages.latents import embeddings

    monkeypatch.setattr(embeddings, "cpu_runs_bfloat16", lambda: False)
    with pytest.raises(ConfigError, match="bfloat16 needs a CPU with AVX512-BF16 or AMX"):
        BuildConfig(embedding_precision="bfloat16", device="cpu")
    BuildConfig(embedding_precision="bfloat16", device="cuda")  # a GPU runs it
    monkeypatch.setattr(embeddings, "cpu_runs_bfloat16", lambda: True)  # a CPU that runs it natively
    assert BuildConfig(embedding_precision="bfloat16", device="cpu").embedding_precision == "bfloat16"


def test_texts_are_bucketed_unless_a_batch_size_is_given_and_each_way_is_cached_apart():
    assert Embedder(device="cpu").batch_size is None
    assert Embedder(device="cuda", precision="bfloat16").batch_size is None
    assert Embedder(device="cpu", batch_size=5).batch_size == 5
    keys = {Embedder().identity.key, Embedder(batch_size=1).identity.key, Embedder(batch_size=5).identity.key}
    assert len(keys) == 3
    assert Embedder().identity.batching == BUCKETED and Embedder(batch_size=1).identity.batching == "alone"


def test_corrupt_or_partial_cache_files_are_recomputed_not_trusted(tmp_path):
    embed_episodes(tiny_episodes(), HashEmbedder(), tmp_path)
    cache = EmbeddingCache(tmp_path, HashEmbedder().identity)
    (path,) = cache.folder.glob("vectors-*.npz")
    path.write_bytes(path.read_bytes()[:100])  # a partial write
    fresh = HashEmbedder()
    table = embed_episodes(tiny_episodes(), fresh, tmp_path)
    assert table.stats["rejected_cache_files"] == [
        {"file": path.name, "reason": "bytes do not match the hash in the name (truncated or altered)"}]
    assert len(fresh.encoded) == 9
    assert isinstance(cache._read_checked(path), tuple)  # rewritten whole (same content, same name)


def test_cache_files_of_another_model_or_dimension_are_misses_never_wrong_vectors(tmp_path):
    import shutil

    embed_episodes(tiny_episodes(), HashEmbedder(weights="other"), tmp_path)
    other = EmbeddingCache(tmp_path, HashEmbedder(weights="other").identity)
    (foreign,) = other.folder.glob("vectors-*.npz")  # a valid file (its name is its hash) of another model
    mine = EmbeddingCache(tmp_path, HashEmbedder().identity)
    mine.folder.mkdir(parents=True)
    shutil.copy(foreign, mine.folder / foreign.name)
    fresh = HashEmbedder()
    table = embed_episodes(tiny_episodes(), fresh, tmp_path)
    assert len(fresh.encoded) == 9  # nothing taken from the foreign file
    assert [entry["file"] for entry in table.stats["rejected_cache_files"]] == [foreign.name]
    assert "another model" in table.stats["rejected_cache_files"][0]["reason"]
    wide = EmbeddingCache(tmp_path, HashEmbedder().identity, dimension=32)  # the model now says 32 dimensions
    assert all(isinstance(wide._read_checked(p), str) for p in wide.folder.glob("vectors-*.npz"))


def test_a_bad_probe_cache_entry_is_recomputed(tmp_path):
    from builder.benchmark.probe import ScoreCache

    rng = np.random.default_rng(0)
    x, labels, groups = rng.normal(size=(40, 3)), ["a", "b"] * 20, [str(i // 2) for i in range(40)]
    first = probe_target({"state": x}, labels, groups, cache=ScoreCache(tmp_path))
    for path in (tmp_path / "probe").glob("*.json"):
        stored = json.loads(path.read_text())
        path.write_text(json.dumps({"key": stored["key"], "value": {"accuracy": 7}}))  # not a set of scores
    cache = ScoreCache(tmp_path)
    assert probe_target({"state": x}, labels, groups, cache=cache) == first
    assert cache.rejected == 2 and cache.hits == 0


def test_probe_rows_of_shared_arrays_score_as_a_copy_of_those_rows(tmp_path):
    """probe_report hands every target the same arrays and its rows: the scores, and the cache keys, are those
    of the copied rows (float32 features are converted to float64 per fold, as the whole matrix once was)."""
    from builder.benchmark.probe import ScoreCache

    rng = np.random.default_rng(3)
    x32 = rng.normal(size=(90, 5)).astype(np.float32)
    labels_all = np.array(["a", "b", "c"])[rng.integers(0, 3, 90)]
    groups_all = np.array([str(i // 3) for i in range(90)])
    rows = np.sort(rng.choice(90, 60, replace=False))
    copied = probe_target({"s": x32[rows].astype(np.float64), "t": x32[rows]}, labels_all[rows].tolist(),
                          groups_all[rows].tolist(), cache=ScoreCache(tmp_path / "copied"))
    cache = ScoreCache(tmp_path / "shared")
    shared = probe_target({"s": x32.astype(np.float64), "t": x32}, labels_all[rows].tolist(),
                          groups_all[rows].tolist(), rows=rows, cache=cache)
    assert shared == copied
    assert shared["results"]["s"] == shared["results"]["t"] and shared["episodes"] == 60
    assert probe_target({"s": x32[rows].astype(np.float64), "t": x32[rows]}, labels_all[rows].tolist(),
                        groups_all[rows].tolist(), cache=cache) == copied and cache.hits == 3


def test_cache_keys_survive_digests_ending_in_nul_bytes(tmp_path):
    cache = EmbeddingCache(tmp_path, HashEmbedder().identity)
    keys = [b"\x01" * 31 + b"\x00", b"\x00" * 32]
    cache.add(keys, np.ones((2, 3), dtype=np.float32))
    assert set(cache.load()) == set(keys)


def test_default_model_is_the_genuine_all_minilm_l6_v2():
    identity = Embedder().identity
    assert identity.name == "sentence-transformers/all-MiniLM-L6-v2"
    assert identity.weights_sha256 == ALL_MINILM_SHA256
    assert identity.max_seq_length == 256


# --- the probe ------------------------------------------------------------------------------------------

def test_probe_finds_a_planted_signal_and_noise_stays_near_chance():
    rng = np.random.default_rng(0)
    labels = ["tie" if i % 3 == 0 else "decisive" for i in range(150)]
    groups = [str(i // 3) for i in range(150)]
    signal = np.array([[1.0 if label == "tie" else -1.0] for label in labels]) + 0.3 * rng.normal(size=(150, 1))
    planted = np.hstack([signal, rng.normal(size=(150, 5))])
    noise = rng.normal(size=(150, 6))
    result = probe_target({"planted": planted, "noise": noise}, labels, groups, folds=5, seed=0)["results"]
    assert result["planted"]["accuracy"] > 0.95 and result["planted"]["accuracy_ci95"][0] > 0.9
    majority = result["majority_class"]["accuracy"]
    assert majority == pytest.approx(100 / 150, abs=0.02)
    low, high = result["noise"]["accuracy_ci95"]
    assert low <= majority + 0.02 and high < 0.85  # noise is not mistaken for information
    assert low <= result["noise"]["accuracy"] <= high


def test_grouped_folds_remove_what_a_prompt_alone_would_leak():
    """Labels fixed per prompt and features that only identify the prompt: ungrouped folds score them highly,
    grouped folds find nothing (the flaw measured on real arena data)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    rng = np.random.default_rng(3)
    prompts = 60
    prompt_vectors, prompt_labels = rng.normal(size=(prompts, 64)), rng.choice(["a", "b"], prompts)
    groups = np.repeat(np.arange(prompts), 5).astype(str)
    x = prompt_vectors[np.repeat(np.arange(prompts), 5)] + 0.05 * rng.normal(size=(prompts * 5, 64))
    labels = prompt_labels[np.repeat(np.arange(prompts), 5)]
    leaky = cross_val_score(LogisticRegression(max_iter=1000), x, labels,
                            cv=StratifiedKFold(5, shuffle=True, random_state=0)).mean()
    grouped = probe_target({"prompt_identity": x}, labels.tolist(), groups.tolist(), folds=5)["results"]
    assert leaky > 0.75  # without grouping the prompt is "predictive"
    assert grouped["prompt_identity"]["accuracy_ci95"][0] < grouped["majority_class"]["accuracy"] + 0.05


def test_the_antisymmetric_probe_flips_its_prediction_when_the_sides_are_swapped():
    from builder.benchmark.probe import make_model

    rng = np.random.default_rng(5)
    x = rng.normal(size=(200, 4))
    y = np.where(x[:, 0] + 0.2 * rng.normal(size=200) > 0, "model_a", "model_b")
    model = make_model("antisymmetric").fit(x, y)
    assert (model.predict(x) != model.predict(-x)).all()


def test_the_probe_plan_is_one_capped_sample_of_whole_groups_shared_by_the_targets():
    groups = [f"g{i // 4}" for i in range(3 * MAX_EPISODES)]
    labels = {"decisive": ["decisive" if i % 5 else "tie" for i in range(len(groups))],
              "side": [("model_a" if i % 2 else "model_b") if i % 5 else None for i in range(len(groups))]}
    plan = probe_plan(groups, labels, seed=0)
    union = set(plan["decisive"].tolist()) | set(plan["side"].tolist())
    assert len(union) <= MAX_EPISODES and len(plan["decisive"]) > 0.9 * MAX_EPISODES
    assert set(plan["side"].tolist()) <= set(plan["decisive"].tolist())  # side's labels are a subset
    chosen_groups = {groups[i] for i in union}
    assert all(groups[i] not in chosen_groups for i in range(len(groups)) if i not in union)  # whole groups only
    assert probe_plan(groups, labels, seed=0)["side"].tolist() == plan["side"].tolist()
    small = probe_plan(groups[:100], {k: v[:100] for k, v in labels.items()}, seed=0)
    assert small["decisive"].tolist() == list(range(100))  # below the cap: every labelled episode


def test_probe_says_why_it_skips_small_or_single_class_sets():
    x = np.zeros((3, 2))
    groups = [f"g{i}" for i in range(40)]
    small = probe_target({"s": x}, ["tie", "tie", "model_a"], ["g"] * 3)
    assert small["protocol"] == "not_scored" and "scoring needs 30 in 10" in small["protocol_reason"]
    assert "only one outcome class" in probe_target({"s": np.zeros((40, 2))}, ["tie"] * 40, groups)["protocol_reason"]
    assert "occurs in 1 prompt group" in probe_target({"s": np.zeros((40, 2))}, ["tie"] * 39 + ["model_a"],
                                                      groups)["protocol_reason"]
    assert "results" in probe_target({"s": np.random.default_rng(0).normal(size=(40, 2))}, ["tie", "model_a"] * 20,
                                     groups)


# --- a real build ---------------------------------------------------------------------------------------

def test_built_latents_load_with_declared_types_and_reproject(sample_build):
    output_dir, report = sample_build
    rank = report["options"]["rank"]
    dataset = load_dataset(str(output_dir), "full", split="all")
    turn_features = dataset.features["turns"].feature
    assert turn_features["latent_z"] == List(Value("float32"), length=rank)
    assert turn_features["latent_h"] == List(Value("float32"), length=rank)
    episodes = pq.read_table(output_dir / "data" / "full" / "train-00000-of-00001.parquet").to_pylist()
    coordinator = Coordinator.load(output_dir / "coordinator")
    assert coordinator.embedding_model["weights_sha256"] == ALL_MINILM_SHA256
    latents = project_episodes(coordinator, episodes)
    for episode, found in zip(episodes, latents):
        stored_z = np.array([t["latent_z"] for t in episode["turns"]], dtype=np.float32)
        stored_h = np.array([t["latent_h"] for t in episode["turns"]], dtype=np.float32)
        assert np.allclose(found.projections, stored_z, atol=1e-5)
        assert np.allclose(found.states, stored_h, atol=1e-5)
        assert found.diversity == pytest.approx([t["effective_diversity"] for t in episode["turns"]])
        assert all(1 <= d <= 2 for d in found.diversity)
        for turn, own in zip(episode["turns"], found.responses):
            assert np.allclose(own, [r["latent"] for r in turn["responses"]], atol=1e-5)
    probe = report["families"]["pairwise"]["latent_probe"]["targets"]
    baselines = {"prompt_only", "length", "model_identity", "majority_class"}
    assert set(probe["decisive"]["results"]) == {"coordinator_state", "full_dimensional_state"} | baselines
    assert set(probe["side"]["results"]) == {"coordinator_state", "ordered_latents", "full_dimensional_state"} | baselines
    assert len(report["families"]["pairwise"]["latent_probe"]["reading"]) == 2 and "side (cross fitted):" in report["families"]["pairwise"]["latent_probe"]["reading"][0]


def test_mini_and_preview_latents_live_in_the_full_basis(sample_build):
    output_dir, _ = sample_build
    full = {e["episode_id"]: e for e in load_dataset(str(output_dir), "full", split="all")}
    for name in ("mini", "preview"):
        for episode in load_dataset(str(output_dir), name, split="train"):
            assert [t["latent_h"] for t in episode["turns"]] == [t["latent_h"] for t in full[episode["episode_id"]]["turns"]]


@pytest.mark.parametrize("method", ["svd", "nmf", "vae"])
def test_every_method_builds_a_valid_folder(method, tmp_path):
    # the rank curve is trained on the embeddings, not on the projection: it would only add time here
    report = build(quiet_config(output_dir=tmp_path / "out", projection=method, rank=4, trained_ranks="none"))
    assert report["families"]["pairwise"]["stages"][1]["method"] == method and report["families"]["pairwise"]["stages"][1]["rank"] == 4
    assert validate_folder(tmp_path / "out") == []


def test_validate_catches_non_finite_latents_and_impossible_diversity(sample_build, tmp_path):
    def break_latents(rows):
        rows[0]["turns"][0]["latent_z"][0] = float("nan")
        rows[1]["turns"][0]["effective_diversity"] = 2.5

    output_dir = copy_with_edited_rows(sample_build[0], tmp_path / "dataset", "mini", break_latents)
    problems = validate_folder(output_dir)
    assert any("latent_z / latent_h missing or not finite" in p for p in problems)
    assert any("effective_diversity 2.5 outside [1, 2]" in p for p in problems)


def test_probe_scores_are_reused_for_identical_inputs_only(tmp_path, monkeypatch):
    from builder.benchmark.probe import ScoreCache

    rng = np.random.default_rng(1)
    from builder.benchmark import probe

    x, labels, groups = rng.normal(size=(40, 3)), ["a", "b"] * 20, [str(i // 2) for i in range(40)]
    first = probe_target({"s": x}, labels, groups, cache=ScoreCache(tmp_path))

    def refit(*args, **kwargs):
        raise AssertionError("refitted although the scores are cached")

    monkeypatch.setattr(probe, "cross_validated_scores", refit)
    assert probe_target({"s": x}, labels, groups, cache=ScoreCache(tmp_path)) == first
    with pytest.raises(AssertionError, match="refitted"):
        probe_target({"s": x + 1e-3}, labels, groups, cache=ScoreCache(tmp_path))


def swapped(row: dict) -> dict:
    """The same battle with the two sides exchanged."""
    flip = {"model_a": "model_b", "model_b": "model_a"}
    return {**row, "model_a": row["model_b"], "model_b": row["model_a"], "conversation_a": row["conversation_b"],
            "conversation_b": row["conversation_a"], "winner": flip.get(row["winner"], row["winner"])}


def test_swapping_the_sides_keeps_the_symmetric_state_and_negates_the_ordered_latents(tmp_path):
    from conftest import make_row, quiet_config, write_jsonl

    rows = [make_row(question_id=f"w-{i}", winner=["model_a", "model_b", "tie"][i % 3],
                     conversation_a=[{"role": "user", "content": f"Topic {i}: explain it."},
                                     {"role": "assistant", "content": f"A short answer about topic {i}."}],
                     conversation_b=[{"role": "user", "content": f"Topic {i}: explain it."},
                                     {"role": "assistant", "content": f"A much longer answer, with details, on {i} " * 3}])
            for i in range(8)]
    build(quiet_config(source=write_jsonl(tmp_path / "a.jsonl", rows), output_dir=tmp_path / "a", rank=3))
    build(quiet_config(source=write_jsonl(tmp_path / "b.jsonl", [swapped(r) for r in rows]), output_dir=tmp_path / "b",
                       rank=3))
    first = {e["episode_id"]: e for e in load_dataset(str(tmp_path / "a"), "full", split="all")}
    second = {e["episode_id"]: e for e in load_dataset(str(tmp_path / "b"), "full", split="all")}
    for episode_id, episode in first.items():
        other = second[episode_id]
        for turn, turn_swapped in zip(episode["turns"], other["turns"]):
            assert turn["latent_z"] == turn_swapped["latent_z"] and turn["latent_h"] == turn_swapped["latent_h"]
            own = [r["latent"] for r in turn["responses"]]
            assert [r["latent"] for r in turn_swapped["responses"]] == own[::-1]
            difference = np.subtract(own[0], own[1])
            assert np.array_equal(np.subtract(*[r["latent"] for r in turn_swapped["responses"]]), -difference)


def test_the_default_cache_follows_xdg_cache_home(monkeypatch, tmp_path):
    from builder.stages.latents.embeddings import default_cache_dir

    monkeypatch.delenv("MULTI_LLM_COORD_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "multi-llm-coord"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # the spec says to ignore a relative one
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "multi-llm-coord"
    monkeypatch.setenv("MULTI_LLM_COORD_CACHE_DIR", str(tmp_path / "ours"))
    assert default_cache_dir() == tmp_path / "ours"
