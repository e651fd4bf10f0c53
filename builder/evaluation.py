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
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from builder.layout import DATA_DIR
from builder.stages.latents.probe import (fit_model, group_of, length_features, model_identity, ordered_latents,
                                          prediction_scores)

MIN_TEST_EPISODES = 10  # fewer test episodes with a label: the target is not scored (said so)
READ_BATCH = 512


class EvaluationError(Exception):
    """A folder or vectors that cannot be evaluated; one line."""


def read_split_episodes(folder: Path, config: str, family) -> dict[str, list[dict]]:
    """{split: [what the protocol needs of each episode]} from the config's Parquet files, batch by batch."""
    import pyarrow.parquet as pq

    from multi_llm_coord import WINNER_NAMES

    found: dict[str, list[dict]] = {}
    for path in sorted((Path(folder) / DATA_DIR / config).glob("*-*-of-*.parquet")):
        split = path.name.split("-", 1)[0]
        with pq.ParquetFile(path) as parquet:
            for batch in parquet.iter_batches(batch_size=READ_BATCH):
                for episode in batch.to_pylist():
                    if episode["winner"] is not None:
                        episode["winner"] = WINNER_NAMES[episode["winner"]]
                    targets = family.probe_targets([episode])
                    found.setdefault(split, []).append({
                        "episode_id": episode["episode_id"], "group": group_of(episode),
                        "targets": {name: values[0] for name, values in targets.items()},
                        "state": np.asarray(episode["turns"][-1]["latent_h"], np.float64),
                        "ordered": ordered_latents(episode) if family.sided else None,
                        "length": length_features([episode], family.sided)[0],
                        "models": [a["model"] for a in episode["agents"]]})
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
                  splits: dict[str, list[dict]] | None = None) -> dict:
    """{target: {"train_episodes", "test_episodes", "results": {feature set: scores}} or {"skipped": why}}.
    `vectors`: a user's {episode_id: vector}, scored as `your_vectors` beside the baselines and our states."""
    splits = splits if splits is not None else read_split_episodes(folder, family.full_config, family)
    if not splits.get("test"):
        raise EvaluationError(f"{folder}: config {family.full_config} has no test split (built before splits, or "
                              "empty); rebuild it with this version")
    fit_rows = splits.get("train", []) + splits.get("validation", [])
    test_rows = splits["test"]
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
    return results


def read_vectors(path: Path, wanted: list[str]) -> dict[str, np.ndarray]:
    """A user's per-episode vectors: Parquet with `episode_id` and `vector` (a list of numbers) columns, .npz
    with `episode_id` and `vectors` arrays, or .npy holding a structured array with the fields `episode_id` and
    `vector` (a fixed-length subarray). Every id of `wanted` must be there, with one length and finite values."""
    path = Path(path)
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
        for name, score in result["results"].items():
            lines.append(f"  {name:<28}{score['accuracy']:>7}  {score['accuracy_ci95']}  {score['macro_f1']:>7}")
    return lines + [f"reading: {sentence}" for sentence in test_reading(results)]
