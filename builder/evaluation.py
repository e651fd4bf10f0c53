"""The dataset's benchmark protocol: score per-episode vectors on a built folder's test split.

One function serves the build (the card's "Test split" table, from the folder it has just written) and
`multi-llm-coord evaluate` (a user's own coordinator vectors on the same folder), so a new coordinator is
compared with ours on equal terms: the same episodes, targets, classifier, baselines and intervals.

- Episodes: a family's full config, `train` + `validation` to fit, `test` to score (splits by prompt group,
  builder.splits). Everything is read from the published Parquet files, so anyone can rerun it.
- Targets: the family's probe targets (pairwise: `side` on decisive battles, `decisive`; N-agent: `final_correct`,
  `consensus`); an episode without a label for a target is left out of that target.
- Classifier: the probe's (standardised features, L2 logistic regression, C=0.1, fixed: no tuning, so the
  validation split is simply more training data here); `majority_class` predicts the training majority.
- Baselines from the data alone: `length` (log output tokens of the agents), `model_identity` (which models took
  part, by side for pairs) and both together. Our stored states: `coordinator_state` (the last turn's `latent_h`,
  untrained: a PCA basis and a fixed decay) and, for pairs, `ordered_latents` (antisymmetric classifier).
- Scores: test accuracy and macro-F1 with 95% intervals from a bootstrap over the test split's prompt groups.
- Cost: train + validation and test each keep at most MAX_EPISODES episodes, as whole prompt groups taken in a
  fixed hash order of the group (GroupSample), so memory stays flat in the build's size and the build and
  `evaluate` score the very same episodes whatever order the files are read in; a result says when it sampled.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from multi_llm_coord import WINNER_NAMES

from builder.layout import DATA_DIR
from builder.splits import split_position
from builder.stages.latents.probe import (MAX_EPISODES, fit_model, group_of, length_features, model_identity,
                                          ordered_latents, prediction_scores)

MIN_TEST_EPISODES = 10  # fewer test episodes with a label: the target is not scored (said so)
READ_BATCH = 512
SAMPLE_SALT = b"multi-llm-coord evaluation sample v1\0"  # not the splits' salt: a sample spans the whole split
FIT_SPLITS = ("train", "validation")


class EvaluationError(Exception):
    """A folder or vectors that cannot be evaluated; one line."""


def sample_position(group: str) -> float:
    """Where a prompt group falls in the sample's order, in [0, 1)."""
    return split_position(group, SAMPLE_SALT)


class GroupSample:
    """At most `limit` episodes, as whole prompt groups: every group whose sample position is below the first
    position at which the groups so far would hold more than `limit` episodes. The kept set depends on the groups'
    sizes and positions alone, not on the order episodes arrive in (a bottom-k sample of groups, with the groups
    above the bound dropped as it falls), so the memory is bounded and a rerun on the same files keeps the same
    episodes. Rows come back in the order they were added."""

    def __init__(self, limit: int):
        self.limit = limit
        self.bound = float("inf")  # groups at or above it are out, for good
        self.held: dict[str, list[tuple[int, dict]]] = {}
        self.highest: list[tuple[float, str]] = []  # max-heap of the held groups' positions (negated)
        self.kept = self.seen = 0

    def add(self, group: str, make_row) -> None:
        """Count an episode of `group`; `make_row()` builds what is kept of it, only when it is kept."""
        self.seen += 1
        position = sample_position(group)
        if position >= self.bound:
            return
        if group not in self.held:
            self.held[group] = []
            heapq.heappush(self.highest, (-position, group))
        self.held[group].append((self.seen, make_row()))
        self.kept += 1
        while self.kept > self.limit:
            negated, dropped = heapq.heappop(self.highest)
            self.bound = -negated
            self.kept -= len(self.held.pop(dropped))

    @property
    def sampled(self) -> bool:
        return self.kept < self.seen

    def rows(self) -> list[dict]:
        return [row for _, row in sorted((item for rows in self.held.values() for item in rows),
                                         key=lambda item: item[0])]


@dataclass
class SplitEpisodes:
    """What the protocol needs of a full config's episodes: train + validation to fit, test to score, each a
    GroupSample of at most MAX_EPISODES episodes (all of them below that)."""

    fit: GroupSample
    test: GroupSample

    def ids(self) -> list[str]:
        return [row["episode_id"] for part in (self.fit, self.test) for row in part.rows()]

    def sampling(self) -> dict:
        """{part: {"kept", "of"}} for the parts that were sampled (empty when every episode is scored)."""
        return {name: {"kept": part.kept, "of": part.seen}
                for name, part in (("train_and_validation", self.fit), ("test", self.test)) if part.sampled}


def read_split_episodes(folder: Path, config: str, family, limit: int | None = None) -> SplitEpisodes:
    """The config's Parquet files, batch by batch, into what the protocol needs of each (sampled) episode; each
    part keeps at most `limit` episodes (MAX_EPISODES by default)."""
    import pyarrow.parquet as pq

    def protocol_row(episode: dict, group: str) -> dict:
        if episode["winner"] is not None:
            episode["winner"] = WINNER_NAMES[episode["winner"]]
        targets = family.probe_targets([episode])
        return {"episode_id": episode["episode_id"], "group": group,
                "targets": {name: values[0] for name, values in targets.items()},
                "state": np.asarray(episode["turns"][-1]["latent_h"], np.float64),
                "ordered": ordered_latents(episode) if family.sided else None,
                "length": length_features([episode], family.sided)[0],
                "models": [a["model"] for a in episode["agents"]]}

    limit = limit or MAX_EPISODES
    found = SplitEpisodes(GroupSample(limit), GroupSample(limit))
    for path in sorted((Path(folder) / DATA_DIR / config).glob("*-*-of-*.parquet")):
        split = path.name.split("-", 1)[0]
        part = found.fit if split in FIT_SPLITS else found.test if split == "test" else None
        if part is None:
            continue
        with pq.ParquetFile(path) as parquet:
            for batch in parquet.iter_batches(batch_size=READ_BATCH):
                for episode in batch.to_pylist():
                    group = group_of(episode)
                    part.add(group, partial(protocol_row, episode, group))
    return found


def baseline_features(rows: list[dict], sided: bool) -> dict[str, np.ndarray]:
    length = np.stack([row["length"] for row in rows])
    identity = model_identity([row["models"] for row in rows], sided)
    features = {"coordinator_state": np.stack([row["state"] for row in rows]), "length": length,
                "model_identity": identity, "length_and_model_identity": np.hstack([length, identity])}
    if sided:
        features["ordered_latents"] = np.stack([row["ordered"] for row in rows])
    return features


def score_on_test(folder: Path, family, vectors: dict[str, np.ndarray] | None = None, seed: int = 0,
                  episodes: SplitEpisodes | None = None) -> dict:
    """{target: {"train_episodes", "test_episodes", "results": {feature set: scores}} or {"skipped": why}}.
    `vectors`: a user's {episode_id: vector}, scored as `your_vectors` beside the baselines and our states."""
    episodes = episodes if episodes is not None else read_split_episodes(folder, family.full_config, family)
    if not episodes.test.kept:
        raise EvaluationError(f"{folder}: config {family.full_config} has no test split (built before splits, or "
                              "empty); rebuild it with this version")
    fit_rows = episodes.fit.rows()
    test_rows = episodes.test.rows()
    sampling = episodes.sampling()  # the same for every target
    rows = fit_rows + test_rows
    features = baseline_features(rows, family.sided)
    if vectors is not None:
        features["your_vectors"] = np.stack([vectors[row["episode_id"]] for row in rows]).astype(np.float64)
    kinds = {"ordered_latents": "antisymmetric"}
    results = {}
    for target in rows[0]["targets"]:
        labels = np.array([row["targets"][target] for row in rows], dtype=object)
        known = np.array([label is not None for label in labels])
        fit = np.flatnonzero(known[:len(fit_rows)])
        test = len(fit_rows) + np.flatnonzero(known[len(fit_rows):])
        if len(test) < MIN_TEST_EPISODES or len(set(labels[fit])) < 2:
            results[target] = {"skipped": f"{len(test)} labelled test episodes, {len(set(labels[fit]))} classes in "
                                          f"train + validation (needs {MIN_TEST_EPISODES} and 2)"}
            continue
        y_fit, y_test = labels[fit].astype(str), labels[test].astype(str)
        groups = np.array([rows[i]["group"] for i in test], dtype=object)
        scores = {}
        for name, x in {"majority_class": np.zeros((len(rows), 1)), **features}.items():
            if target == "decisive" and name == "ordered_latents":
                continue  # who won does not matter for decisive vs tie
            kind = "majority" if name == "majority_class" else kinds.get(name, "linear")
            model = fit_model(kind, np.array(x[fit], dtype=np.float64), y_fit)
            predicted = model.predict(np.array(x[test], dtype=np.float64)).astype(str)
            scores[name] = prediction_scores(y_test, predicted, groups, seed)
        results[target] = {"train_episodes": int(len(fit)), "test_episodes": int(len(test)),
                           "test_groups": int(len(set(groups))), "results": scores}
        if sampling:
            results[target]["sampled"] = sampling
    return results


def read_vectors(path: Path, wanted: list[str]) -> dict[str, np.ndarray]:
    """A user's per-episode vectors: Parquet with `episode_id` and `vector` (a list of numbers) columns, .npz
    with `episode_id` and `vectors` arrays, or .npy holding a structured array with the fields `episode_id` and
    `vector` (a fixed-length subarray). Every id of `wanted` must be there, with one length and finite values."""
    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            if not {"episode_id", "vector"} <= set(table.column_names):
                raise EvaluationError(f"{path}: needs the columns episode_id and vector, has {table.column_names}")
            ids = table.column("episode_id").to_pylist()
            values = table.column("vector").to_pylist()
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as arrays:
                if not {"episode_id", "vectors"} <= set(arrays.files):
                    raise EvaluationError(f"{path}: needs the arrays episode_id and vectors, has {arrays.files}")
                ids, values = arrays["episode_id"].tolist(), list(arrays["vectors"])
        elif path.suffix == ".npy":  # a structured array: one record an episode, fields episode_id and vector
            records = np.load(path, allow_pickle=False)
            if records.dtype.names is None or not {"episode_id", "vector"} <= set(records.dtype.names):
                raise EvaluationError(f"{path}: needs a structured array with the fields episode_id and vector, has "
                                      f"{records.dtype.names or records.dtype}")
            ids, values = records["episode_id"].tolist(), list(records["vector"])
        else:
            raise EvaluationError(f"{path}: expected a .parquet, .npz or .npy file of per-episode vectors")
    except EvaluationError:
        raise
    except Exception as error:  # noqa: BLE001 - any unreadable file is one line
        raise EvaluationError(f"{path}: cannot be read ({str(error)[:200]})") from None
    by_id = {}
    for episode_id, value in zip(ids, values):
        try:
            vector = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise EvaluationError(f"{path}: the vector of {episode_id!r} is not numbers") from None
        by_id[str(episode_id)] = vector
    missing = [episode_id for episode_id in wanted if episode_id not in by_id]
    if missing:
        raise EvaluationError(f"{path}: {len(missing)} of the {len(wanted)} episodes have no vector (first: "
                              f"{missing[0]!r})")
    lengths = {by_id[episode_id].shape for episode_id in wanted}
    if len(lengths) != 1 or len(next(iter(lengths))) != 1:
        raise EvaluationError(f"{path}: vectors must all be 1-D of one length, found shapes {sorted(lengths)[:3]}")
    bad = next((episode_id for episode_id in wanted if not np.isfinite(by_id[episode_id]).all()), None)
    if bad is not None:
        raise EvaluationError(f"{path}: the vector of {bad!r} holds NaN or infinity")
    return {episode_id: by_id[episode_id] for episode_id in wanted}


def test_reading(results: dict) -> list[str]:
    """What the test-split scores say, one sentence a target, computed from the intervals (never a fixed claim)."""
    sentences = []
    for target, result in results.items():
        if "results" not in result:
            continue
        scores = result["results"]
        majority = scores["majority_class"]["accuracy"]
        state = scores["coordinator_state"]
        low, high = state["accuracy_ci95"]
        verdict = (f"the stored coordinator state scores {state['accuracy']} [{low}, {high}], "
                   + ("above" if low > majority else "not above") + f" the majority class ({majority})")
        baselines = {name: scores[name]["accuracy"] for name in
                     ("length", "model_identity", "length_and_model_identity") if name in scores}
        best = max(baselines, key=baselines.get)
        beaten = scores[best]["accuracy_ci95"][0] > high
        sentences.append(f"{target}: {verdict}; best baseline {best} {baselines[best]} {scores[best]['accuracy_ci95']}"
                         + (", above the state's interval" if beaten else "") + ".")
    return sentences


def table_lines(results: dict) -> list[str]:
    """The card's table, for the terminal: one line a feature set, per target."""
    lines = []
    for target, result in results.items():
        if "skipped" in result:
            lines.append(f"{target}: not scored ({result['skipped']})")
            continue
        lines.append(f"{target}: test accuracy (95% CI over {result['test_groups']} prompt groups), macro-F1; fitted "
                     f"on {result['train_episodes']} train + validation episodes, {result['test_episodes']} test")
        if result.get("sampled"):
            lines.append("  sampled as whole prompt groups: " + ", ".join(
                f"{n['kept']} of {n['of']} {part.replace('_', ' ')} episodes" for part, n in result["sampled"].items()))
        for name, score in result["results"].items():
            lines.append(f"  {name:<28}{score['accuracy']:>7}  {score['accuracy_ci95']}  {score['macro_f1']:>7}")
    return lines + [f"reading: {sentence}" for sentence in test_reading(results)]
