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
- Baselines from the data alone (builder.benchmark.baselines): `length` (log output tokens of the agents),
  `model_identity` (which models took part, by side for pairs), `prompt_words` (the first prompt's hashed words: no
  model needed), both first two together, and all three. Our stored states: `coordinator_state` (the last turn's `latent_h`,
  untrained: a PCA basis and a fixed decay) and, for pairs, `ordered_latents` (antisymmetric classifier).
- Scores: test accuracy and macro-F1 with 95% intervals from a bootstrap over the test split's prompt groups.
- Cost: train + validation and test each keep at most MAX_EPISODES episodes, as whole prompt groups taken in a
  fixed hash order of the group (GroupSample), so memory stays flat in the build's size and the build and
  `evaluate` score the very same episodes whatever order the files are read in; a result says when it sampled.
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from multi_llm_coord import WINNER_NAMES

from builder.benchmark.attribution import attribution_row
from builder.benchmark.baselines import BENCHMARK_BASELINES, PROMPT_WORDS, SUBJECT
from builder.benchmark.failure_modes import failure_mode_row
from builder.benchmark.probe import (MAX_EPISODES, length_features, model_identity, ordered_latents, scored_target,
                                    users_classes)
from builder.benchmark.scoring import NOT_SCORED, fold_of, reading
from builder.layout import DATA_DIR
from builder.splits import group_of, split_position

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
    GroupSample of at most MAX_EPISODES episodes (all of them below that); what failure attribution needs of
    every annotated episode (builder.benchmark.attribution); and what the failure-mode targets need of every
    episode with a verdict on a MAST code (builder.benchmark.failure_modes)."""

    fit: GroupSample
    test: GroupSample
    attribution: list[dict]
    failure_modes: list[dict] = field(default_factory=list)

    def ids(self) -> list[str]:
        return [row["episode_id"] for part in (self.fit, self.test) for row in part.rows()]

    def state_ids(self) -> list[str]:
        """The episodes whose vectors a table fits on: the benchmark's (sampled) and every MAST trace."""
        return list(dict.fromkeys(self.ids() + [row["episode_id"] for row in self.failure_modes]))

    def scored_ids(self) -> list[str]:
        """Every episode a table scores: those with vectors and every annotated run of failure attribution."""
        return list(dict.fromkeys(self.state_ids() + [row["episode_id"] for row in self.attribution]))

    def sampling(self) -> dict:
        """{part: {"kept", "of"}} for the parts that were sampled (empty when every episode is scored)."""
        return {name: {"kept": part.kept, "of": part.seen}
                for name, part in (("train_and_validation", self.fit), ("test", self.test)) if part.sampled}


def published_episodes(folder: Path, config: str) -> Iterator[tuple[str, list[dict]]]:
    """(split, a batch of episodes) of the config's Parquet files, in the order of its files (split, shard), as
    the dataset holds them with the winner's class number read back as its name."""
    import pyarrow.parquet as pq

    for path in sorted((Path(folder) / DATA_DIR / config).glob("*-*-of-*.parquet")):
        split = path.name.split("-", 1)[0]
        with pq.ParquetFile(path) as parquet:
            for batch in parquet.iter_batches(batch_size=READ_BATCH):
                episodes = batch.to_pylist()
                for episode in episodes:
                    if episode.get("winner") is not None:
                        episode["winner"] = WINNER_NAMES[episode["winner"]]
                yield split, episodes


def read_split_episodes(folder: Path, config: str, family, limit: int | None = None,
                        each_batch: Callable[[list[dict]], None] | None = None) -> SplitEpisodes:
    """The config's Parquet files, batch by batch, into what the protocol needs of each (sampled) episode and the
    attribution rows of the annotated ones; each part keeps at most `limit` episodes (MAX_EPISODES by default).
    `each_batch` sees every batch too, so a caller that needs more of the episodes reads them in the same pass."""

    def protocol_row(episode: dict, group: str) -> dict:
        targets = family.probe_targets([episode])
        return {"episode_id": episode["episode_id"], "group": group,
                "targets": {name: values[0] for name, values in targets.items()},
                "state": np.asarray(episode["turns"][-1]["latent_h"], np.float64),
                "ordered": ordered_latents(episode) if family.sided else None,
                "length": length_features([episode], family.sided)[0],
                "models": [a["model"] for a in episode["agents"]],
                "prompt": next((turn["prompt"] for turn in episode["turns"] if turn["prompt"]), "") or ""}

    limit = limit or MAX_EPISODES
    found = SplitEpisodes(GroupSample(limit), GroupSample(limit), [])
    for split, batch in published_episodes(folder, config):
        if each_batch is not None:
            each_batch(batch)
        found.attribution += [row for row in map(attribution_row, batch) if row is not None]
        found.failure_modes += [row for row in (failure_mode_row(episode, split) for episode in batch)
                                if row is not None]
        part = found.fit if split in FIT_SPLITS else found.test if split == "test" else None
        if part is None:
            continue
        for episode in batch:
            group = group_of(episode)
            part.add(group, partial(protocol_row, episode, group))
    return found


def prompt_features(prompts: list[str]) -> np.ndarray:
    """The prompt_words baseline's features: the first prompt's words and word pairs, hashed into PROMPT_WORDS
    counts (log-scaled). A fixed function of the text, so it needs no model and is the same on any copy."""
    from sklearn.feature_extraction.text import HashingVectorizer

    hashed = HashingVectorizer(n_features=PROMPT_WORDS, ngram_range=(1, 2), alternate_sign=False, norm=None)
    return np.log1p(hashed.transform(prompts).toarray())


def baseline_features(rows: list[dict], sided: bool) -> dict[str, np.ndarray]:
    """The feature sets scored beside a user's: the trivial baselines (length, model identity, the prompt alone,
    their combination) and the dataset's stored, untrained states."""
    length = np.stack([row["length"] for row in rows])
    identity = model_identity([row["models"] for row in rows], sided)
    prompt = prompt_features([row["prompt"] for row in rows])
    features = {"length": length, "model_identity": identity, "prompt_words": prompt,
                "length_and_model_identity": np.hstack([length, identity]),
                "all_baselines": np.hstack([length, identity, prompt]),
                "coordinator_state": np.stack([row["state"] for row in rows])}
    if sided:
        features["ordered_latents"] = np.stack([row["ordered"] for row in rows])
    return features


def score_on_test(folder: Path, family, vectors: dict[str, np.ndarray] | None = None, seed: int = 0,
                  episodes: SplitEpisodes | None = None, predictions: dict[str, dict] | None = None) -> dict:
    """{target: {protocol, scored episodes, "results": {row: scores}} or {protocol: not_scored, why}}, each target
    by the one protocol (builder.benchmark.scoring): the test split where it is large enough, grouped cross-fitting
    over every split below that, not scored below the minimum.
    `vectors`: a user's {episode_id: vector}, scored as `your_vectors` (fitted like every feature set);
    `predictions`: a user's {episode_id: {target: class}}, scored as `your_predictions` on the same episodes."""
    episodes = episodes if episodes is not None else read_split_episodes(folder, family.full_config, family)
    if not episodes.fit.kept and not episodes.test.kept:
        raise EvaluationError(f"{folder}: config {family.full_config} has no episodes in its train, validation or "
                              "test splits")
    fit_rows, test_rows = episodes.fit.rows(), episodes.test.rows()
    sampling = episodes.sampling()  # the same for every target
    rows = fit_rows + test_rows
    in_test = np.arange(len(rows)) >= len(fit_rows)
    groups = np.array([row["group"] for row in rows], dtype=object)
    folds = fold_of(groups)
    features = baseline_features(rows, family.sided)
    if vectors is not None:
        features["your_vectors"] = np.stack([vectors[row["episode_id"]] for row in rows]).astype(np.float64)
    features = {"majority_class": np.zeros((len(rows), 1)), **features}
    results = {}
    for target in rows[0]["targets"]:
        labels = np.array([row["targets"][target] for row in rows], dtype=object)
        results[target], _ = scored_target(target, labels, groups, in_test, folds, features, seed,
                                           users_classes(predictions, rows, target))
        if sampling and "results" in results[target]:
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
    """What the benchmark's scores say, one sentence a target (builder.benchmark.scoring.reading)."""
    return [reading(target, result.get("results") or {}, SUBJECT, BENCHMARK_BASELINES, result)
            for target, result in sorted(results.items())  # the order stats.json keeps
            if isinstance(result, dict) and "protocol" in result]


def table_lines(results: dict) -> list[str]:
    """The card's table, for the terminal: one line a row, per target, under how it was scored."""
    lines = []
    for target, result in results.items():
        if result.get("protocol") == NOT_SCORED:
            lines.append(f"{target}: not scored ({result['protocol_reason']})")
            continue
        lines.append(f"{target}: {result['protocol_text']}; accuracy (95% CI over {result['scored_groups']} prompt "
                     f"groups), macro-F1, on {result['scored_episodes']} episodes")
        if result.get("sampled"):
            lines.append("  sampled as whole prompt groups: " + ", ".join(
                f"{n['kept']} of {n['of']} {part.replace('_', ' ')} episodes" for part, n in result["sampled"].items()))
        for name, score in result["results"].items():
            lines.append(f"  {name:<28}{score['accuracy']:>7}  {score['accuracy_ci95']}  {score['macro_f1']:>7}")
    scored = {target: result for target, result in results.items() if result.get("protocol") != NOT_SCORED}
    return lines + [f"reading: {sentence}" for sentence in test_reading(scored)]


# --- any copy of the dataset: a folder of the published files, or a Hub repo --------------------------------

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_target(target: str, config: str, revision: str | None = None) -> Path:
    """The local folder that holds `config`'s published Parquet files: `target` itself when it is a folder (a
    build, or a copy with only `data/` and `README.md`), else `target` read as a Hub dataset repo id and only that
    config's files (and the card) downloaded at `revision` through huggingface_hub (its cache, its token)."""
    path = Path(target)
    if path.exists() or not REPO_ID.match(target):
        return path
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError, \
        RevisionNotFoundError

    try:
        return Path(snapshot_download(target, repo_type="dataset", revision=revision,
                                      allow_patterns=[f"{DATA_DIR}/{config}/*", "README.md", "stats.json"]))
    except RevisionNotFoundError:
        raise EvaluationError(f"{target}: no revision {revision!r} on the Hub") from None
    except RepositoryNotFoundError:
        raise EvaluationError(f"{target}: no such dataset repo on the Hub (or no access to it), and no such "
                              "folder here") from None
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as error:
        raise EvaluationError(f"{target}: could not be downloaded from the Hub "
                              f"({str(error).splitlines()[0][:200]})") from None


def evaluation_seed(folder: Path) -> int:
    """The seed the card's intervals used: the build's own (stats.json) where the copy has it, else the build's
    default, 0 (a copy of the published data has no stats.json unless it was pushed with it)."""
    report = Path(folder) / "stats.json"
    try:
        return int(json.loads(report.read_text(encoding="utf-8"))["options"]["seed"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def read_table_rows(path: Path, what: str) -> list[dict]:
    """A user's JSONL or Parquet file as rows; one line on a file that cannot be read (with its line number)."""
    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except Exception as error:  # noqa: BLE001 - any unreadable file is one line
            raise EvaluationError(f"{path}: cannot be read as Parquet ({str(error)[:200]})") from None
    if path.suffix not in (".jsonl", ".json"):
        raise EvaluationError(f"{path}: expected a .jsonl or .parquet file of {what}")
    rows = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as error:
                raise EvaluationError(f"{path}:{number}: not a JSON object ({error})") from None
            if not isinstance(row, dict):
                raise EvaluationError(f"{path}:{number}: not a JSON object")
            rows.append(row)
    return rows


ATTRIBUTION_COLUMNS = ("failure_agent", "failure_step")


def read_predictions(path: Path, targets: list[str], wanted: list[str]) -> dict[str, dict]:
    """A user's per-episode predictions, {episode_id: {column: value}}: JSONL or Parquet keyed by `episode_id`, a
    class per target (e.g. `side`, `decisive`; `final_correct`, `consensus`) and, for agent teams, `failure_agent`
    and `failure_step`. Every id of `wanted` must be there, and at least one known column."""
    by_id = {}
    for number, row in enumerate(read_table_rows(path, "predictions"), 1):
        if "episode_id" not in row:
            raise EvaluationError(f"{path}: row {number} has no episode_id")
        by_id[str(row["episode_id"])] = row
    columns = {c for row in by_id.values() for c in row} & {*targets, *ATTRIBUTION_COLUMNS}
    if not columns:
        raise EvaluationError(f"{path}: no prediction column; expected some of "
                              f"{', '.join([*targets, *ATTRIBUTION_COLUMNS])} beside episode_id")
    missing = [episode_id for episode_id in wanted if episode_id not in by_id]
    if missing:
        raise EvaluationError(f"{path}: {len(missing)} of the {len(wanted)} episodes have no prediction (first: "
                              f"{missing[0]!r})")
    return {episode_id: {c: by_id[episode_id].get(c) for c in columns} for episode_id in wanted}
