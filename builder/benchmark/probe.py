"""The probe: how much outcome information does the coordinator state keep? Grouped, baselined, bounded.

- **Grouped**: cross-validation folds never split a prompt (pairwise battles) or a question (debates)
  between training and test (folds by a stable hash of the group, builder.benchmark.scoring, as every score of
  the dataset): the same prompt in both would let a probe recognise the prompt instead of reading the state
  (measured: the prompt alone predicts arena winners well above the majority class).
- **Baselined**: every target is scored with the coordinator state and, beside it, the obvious baselines:
  the majority class, the prompt alone, the answers' lengths, and the models' identities.
- **Bounded**: each score is the pooled out-of-fold accuracy (and macro-F1) with a 95% interval from a
  percentile bootstrap over groups (1,000 resamples), plus the spread over folds; at most `MAX_EPISODES`
  episodes (one seeded sample of whole groups, shared by the targets) keep the probe's cost flat in the
  build's size.

Feature sets (those that apply to a family):
- coordinator_state: the final h_T (rank numbers), symmetric in the agents.
- ordered_latents (pairwise): mean over turns of responses[0].latent - responses[1].latent; fitted without
  intercept or centring, so that swapping the two sides negates the features and flips the prediction.
- full_dimensional_state: the same recurrence on the full turn observations (what h_T would be unprojected).
- prompt_only: e(first prompt); length: log output tokens of the sides (difference, |difference|, sum) or,
  for N agents, their mean and spread; model_identity: one-hot of model_a and of model_b (N agents: which
  models took part); majority_class.

Targets. Pairwise: `side` (model_a vs model_b, decisive battles only) and `decisive` (a side won vs a tie).
The symmetric state cannot tell the sides apart (its turn observation is identical when the answers are
swapped), so for `side` only ordered features can carry information: a symmetric score above the majority
class would be leakage, and the report says so. The four-way `winner` is not probed for that reason.
N-agent: `final_correct` (was the group's final answer right) and `consensus` (did every agent end on the
same answer).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np

from builder.benchmark.baselines import PROBE_BASELINES, classifier_of, described, scored_on
from builder.benchmark.bootstrap import RESAMPLES
from builder.benchmark.scoring import (CROSS_FITTED, PROTOCOL_TEXT, TEST_SPLIT, choose_protocol, fit_parts, fold_of,
                                       fold_parts, prediction_scores, reading)
from builder.files import JsonFileCache, RowFile
from builder.stages.latents.observations import episode_observations

MAX_EPISODES = 4_000
CHUNK_ROWS = 512  # rows the probe converts or scales at once (see fit_model, float64_rows)
PROBE_VERSION = "probe_v4"  # change when the classifiers, folds or scores change: cached scores are keyed by it
SCORE_FIELDS = ("accuracy", "accuracy_ci95", "macro_f1", "macro_f1_ci95", "fold_accuracy_mean", "fold_accuracy_std")
SYMMETRIC = ("coordinator_state", "full_dimensional_state")


def _valid_scores(value) -> bool:
    if not isinstance(value, dict) or set(value) != set(SCORE_FIELDS):
        return False
    numbers = [value[f] for f in SCORE_FIELDS if not f.endswith("ci95")]
    intervals = [value[f] for f in SCORE_FIELDS if f.endswith("ci95")]
    return (all(isinstance(n, (int, float)) and 0 <= n <= 1 for n in numbers)
            and all(isinstance(i, list) and len(i) == 2 and all(isinstance(v, (int, float)) for v in i) for i in intervals))


class ScoreCache(JsonFileCache):
    """Cross-validation scores on disk, keyed by a hash of the exact features, labels, groups and settings.

    The full-dimensional features do not change with the rank or the projection method and are the expensive
    part of the probe, so a rebuild with other latent options reuses their scores. An entry that is not a
    complete set of scores is a miss: the probe recomputes it.
    """

    def __init__(self, root):
        super().__init__(Path(root) / "probe" if root else None, check=_valid_scores)

    @staticmethod
    def key(x: np.ndarray, y: np.ndarray, groups: np.ndarray, k: int, seed: int, model: str,
            rows: np.ndarray | None = None) -> str:
        """The key of x[rows] (all of x by default): the rows' bytes are hashed CHUNK_ROWS at a time, the same
        digest as the copied rows' buffer, without the copy."""
        shape = x.shape if rows is None else (len(rows), *x.shape[1:])
        digest = hashlib.sha256(f"{PROBE_VERSION}|{model}|{k}|{seed}|{shape}|{x.dtype}".encode())
        if rows is None:
            digest.update(np.ascontiguousarray(x))  # the array's own buffer: the same bytes as tobytes(), no copy
        else:
            for start in range(0, len(rows), CHUNK_ROWS):
                digest.update(np.ascontiguousarray(x[rows[start:start + CHUNK_ROWS]]))
        digest.update("\n".join(map(str, y)).encode())
        digest.update("\n".join(map(str, groups)).encode())
        return digest.hexdigest()


def make_model(kind: str):
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "majority":
        return DummyClassifier(strategy="most_frequent")
    # A fixed, moderately strong L2 penalty (C=0.1) and tol 1e-3: on the ~1,150 full-dimensional features the
    # default C=1 overfits (measured: 0.65 vs 0.68 grouped accuracy on 2,400 arena battles) and costs 3x the time.
    # copy=False: the scaler scales in place the rows it is given, which fit_model always hands it as a fresh
    # float64 copy of the fold (a second copy of the 4,000 x 1,152 training rows was the probe's peak).
    if kind == "antisymmetric":  # f(-x) = -f(x): no intercept, scaled but not centred
        return make_pipeline(StandardScaler(with_mean=False, copy=False),
                             LogisticRegression(C=0.1, tol=1e-3, fit_intercept=False, max_iter=1000))
    return make_pipeline(StandardScaler(copy=False), LogisticRegression(C=0.1, tol=1e-3, max_iter=1000))


def fit_model(kind: str, x: np.ndarray, y: np.ndarray):
    """`make_model(kind)` fitted on (x, y), scaling `x` in place. The scaler learns its mean and variance
    CHUNK_ROWS rows at a time (`partial_fit`): its one-shot variance would copy the whole training matrix."""
    model = make_model(kind)
    if kind == "majority":
        return model.fit(x, y)
    scaler, classifier = model[0], model[-1]
    for start in range(0, len(x), CHUNK_ROWS):
        scaler.partial_fit(x[start:start + CHUNK_ROWS])
    classifier.fit(scaler.transform(x), y)
    return model


def float64_rows(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """x[rows] as a new float64 array, copied CHUNK_ROWS rows at a time (no float32 copy of the whole fold)."""
    out = np.empty((len(rows), x.shape[1]), np.float64)
    for start in range(0, len(rows), CHUNK_ROWS):
        out[start:start + CHUNK_ROWS] = x[rows[start:start + CHUNK_ROWS]]
    return out


def fitted_predictions(kind: str, x, y: np.ndarray, parts: list[tuple[np.ndarray, np.ndarray]],
                       rows: np.ndarray | None = None) -> np.ndarray:
    """Each part's predicted positions by `make_model(kind)` fitted on that part's fit positions only (a fit part
    with one class predicts it): the one fitting loop of the probe, the benchmark table and the rank curve's
    baselines. `x` is an array or anything indexed like one (a `RowFile`), `rows` its row of each position (the
    positions themselves by default); each part's rows are copied to float64 on their own (float64_rows)."""
    rows = np.arange(len(y)) if rows is None else rows
    predicted = np.empty(len(y), dtype=object)
    for fit, held in parts:
        if len(set(y[fit].tolist())) < 2:
            predicted[held] = y[fit][0]
            continue
        model = fit_model(kind, float64_rows(x, rows[fit]), y[fit])
        predicted[held] = model.predict(float64_rows(x, rows[held]))
    return predicted


def fitted_scores(feature_sets: dict, target: str, y: np.ndarray, parts: list[tuple[np.ndarray, np.ndarray]],
                  groups: np.ndarray, seed: int) -> dict[str, dict]:
    """{name: scores} of each feature set that is scored on `target` (builder.benchmark.baselines): fitted by its
    classifier on each part's fit positions, scored on the positions the parts predict; the benchmark table's and
    the rank curve's one scoring loop."""
    scored = np.sort(np.concatenate([held for _, held in parts]))
    results = {}
    for name, x in feature_sets.items():
        if scored_on(name, target):
            predicted = fitted_predictions(classifier_of(name), x, y, parts)
            results[name] = prediction_scores(y[scored], predicted[scored], groups[scored], seed)
    return results


def scored_target(target: str, labels: np.ndarray, groups: np.ndarray, in_test: np.ndarray, folds: np.ndarray,
                  features: dict, seed: int, theirs: np.ndarray | None = None) -> tuple[dict, np.ndarray]:
    """One target of a table, by the one protocol: (its result, the positions it scored). The result is the
    protocol and why, and where it is scored, how, on how many episodes and groups, and each feature set's scores
    (`features`, majority_class among them); `theirs`, a user's class at each position (users_classes), is scored
    as `your_predictions` on the same episodes. The benchmark table's and the failure modes' one loop per target."""
    protocol = choose_protocol(labels, groups, in_test)
    if not protocol.scored:
        return protocol.describe(), np.zeros(0, np.int64)
    known = np.array([label is not None for label in labels], dtype=bool)
    y = np.array([str(label) for label in labels], dtype=object)
    parts = fit_parts(protocol, known, in_test, folds)
    scored = np.sort(np.concatenate([held for _, held in parts]))
    scores = fitted_scores(features, target, y, parts, groups, seed)
    if theirs is not None:
        scores["your_predictions"] = prediction_scores(y[scored], theirs[scored], groups[scored], seed)
    return {**protocol.describe(), "protocol_text": PROTOCOL_TEXT[protocol.name],
            "scored_episodes": int(len(scored)), "scored_groups": int(len(set(groups[scored]))),
            "fit_episodes": int(known[~in_test].sum()) if protocol.name == TEST_SPLIT else None,
            "folds": len(parts) if protocol.name == CROSS_FITTED else None, "results": scores}, scored


def users_classes(predictions: dict[str, dict] | None, rows: list[dict], target: str) -> np.ndarray | None:
    """A user's class for `target` at each row ("None" where they gave none, which never matches), or None."""
    if predictions is None:
        return None
    return np.array([str((predictions.get(row["episode_id"]) or {}).get(target)) for row in rows], dtype=object)


def cross_validated_scores(x: np.ndarray, y: np.ndarray, groups: np.ndarray, k: int, seed: int, kind: str,
                           rows: np.ndarray | None = None) -> dict:
    """Grouped k-fold scores of one feature set, on x[rows] (all of x by default): the folds are the scoring
    protocol's (builder.benchmark.scoring.fold_of, a stable hash of the prompt group), so the probe, the benchmark
    and the rank curve cut a set the same way. `x` may be float32: each fold's rows are converted to float64 on
    their own copy (the same numbers as copying the rows and converting the whole matrix first, without holding
    either)."""
    parts = fold_parts(fold_of(groups, k))
    predictions = fitted_predictions(kind, x, y, parts, rows)
    fold_accuracy = [float((predictions[held] == y[held]).mean()) for _, held in parts]
    return {**prediction_scores(y, predictions, groups, seed),
            "fold_accuracy_mean": round(float(np.mean(fold_accuracy)), 4),
            "fold_accuracy_std": round(float(np.std(fold_accuracy)), 4)}


def cap_by_groups(groups: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Indices of at most `limit` episodes, taken as whole groups in a seeded order (all when fewer)."""
    if len(groups) <= limit:
        return np.arange(len(groups))
    order = np.random.default_rng(seed).permutation(np.unique(groups))
    keep, count = [], 0
    for group in order:
        members = np.flatnonzero(groups == group)
        if count + len(members) > limit:
            continue
        keep.append(members)
        count += len(members)
    return np.sort(np.concatenate(keep))


def probe_target(features: dict, labels: list[str], groups: list[str], *, folds: int = 5,
                 seed: int = 0, cache: ScoreCache | None = None,
                 available: int | None = None, rows: np.ndarray | None = None) -> dict:
    """Grouped cross-validated scores of each feature set and the majority class, or why the probe was skipped.
    Each feature set is fitted by its classifier in the baselines' table (builder.benchmark.baselines); `available` is how
    many labelled episodes the family had when the caller already capped them (see `probe_plan`); `rows` are
    the feature rows of `labels`, in order, when the arrays hold more episodes than this target (all by default).
    A feature set is an array or anything indexed like one by row numbers (a `RowFile`); its rows are never
    copied as a whole: each fold copies its own (see cross_validated_scores)."""
    cache = cache or ScoreCache(None)
    y_all, g_all = np.asarray(labels), np.asarray(groups)
    keep = cap_by_groups(g_all, MAX_EPISODES, seed)
    y, g = y_all[keep], g_all[keep]
    protocol = choose_protocol(y, g, np.zeros(len(y), bool))  # the one minimum (builder.benchmark.scoring)
    if not protocol.scored:
        return protocol.describe()
    counts = Counter(y.tolist())
    k = folds
    index = keep if rows is None else np.asarray(rows)[keep]
    models = {name: (classifier_of(name), x, index) for name, x in features.items()}
    models["majority_class"] = (classifier_of("majority_class"), np.zeros((len(index), 1)), None)
    results = {}
    for name, (kind, x, x_rows) in models.items():
        key = cache.key(x, y, g, k, seed, kind, rows=x_rows)
        scores = cache.get(key)
        if scores is None:
            scores = cross_validated_scores(x, y, g, k, seed, kind, rows=x_rows)
            cache.put(key, scores)
        results[name] = scores
    return {"protocol": CROSS_FITTED, "protocol_reason": "the probe reads every labelled episode (capped): "
                                                         f"{k} folds by prompt group",
            "episodes": int(len(y)), "episodes_available": int(available if available is not None else len(y_all)), "groups": int(len(set(g.tolist()))),
            "folds": k, "classes": {str(c): int(n) for c, n in sorted(counts.items())}, "results": results}


# --- targets ----------------------------------------------------------------------------------------------

# --- features ---------------------------------------------------------------------------------------------

def ordered_latents(episode: dict) -> np.ndarray:
    """Mean over turns of responses[0].latent - responses[1].latent: negated when the sides are swapped."""
    return np.mean([np.subtract(t["responses"][0]["latent"], t["responses"][1]["latent"]) for t in episode["turns"]],
                   axis=0)


class ProbeFeatures:
    """The probe's feature rows, gathered batch by batch during the writing pass for the episodes the plan
    chose (at most MAX_EPISODES), so the probe never needs the family in memory. Each feature set's rows go to
    a `RowFile` in `folder` (the build's work folder): the probe reads them back fold by fold, and its memory
    no longer grows with its sample (4,000 episodes are 25 MB of features). Features are read from the latents
    the stage wrote; the full-dimensional state is recomputed from the turn observations, which the dataset
    does not store; see the module docstring."""

    def __init__(self, coordinator, table, sided: bool, folder: Path):
        """`sided`: the family's two agents are sides whose order means something (builder.families)."""
        self.coordinator, self.table, self.sided, self.folder = coordinator, table, sided, Path(folder)
        self.rows: dict[str, RowFile] = {}
        self.models: list[list[str]] = []

    def add(self, episodes: list[dict]) -> None:
        if not episodes:
            return
        features = {"coordinator_state": np.array([e["turns"][-1]["latent_h"] for e in episodes], dtype=np.float32)}
        if self.sided:
            features["ordered_latents"] = np.stack([ordered_latents(e) for e in episodes]).astype(np.float32)
        features["full_dimensional_state"] = np.stack(
            [self.coordinator.states(episode_observations(e, self.table)[0])[-1] for e in episodes]).astype(np.float32)
        prompts = [next((t["prompt"] for t in e["turns"] if t["prompt"]), None) for e in episodes]
        zero = np.zeros(self.table.dimension, np.float32)
        features["prompt_only"] = np.stack([self.table.of([p])[0] if p is not None else zero for p in prompts])
        features["length"] = length_features(episodes, self.sided)
        for name, rows in features.items():
            if name not in self.rows:
                self.rows[name] = RowFile(self.folder / f"{name}.rows", rows.shape[1], rows.dtype)
            self.rows[name].append(rows)
        self.models += [[a["model"] for a in e["agents"]] for e in episodes]

    def arrays(self) -> dict:
        """{feature set: [episodes, dims]}, in the order the episodes were added: RowFiles, whose rows are read
        (and, for a classifier, converted to float64) one fold at a time; the small model identity in memory."""
        features = dict(self.rows)
        features["model_identity"] = model_identity(self.models, self.sided)
        return features

    def baselines(self) -> dict[str, object]:
        """{name: rows}: what the rank curve scores beside the trained coordinators, in the
        order the episodes were added (builder.benchmark.trained.rank_curve)."""
        arrays = self.arrays()
        features = {"majority_class": np.zeros((len(self.models), 1))}
        for name in ("length", "model_identity", "prompt_only", "coordinator_state", "full_dimensional_state",
                     "ordered_latents"):
            if name in arrays:
                features[name] = arrays[name]
        if self.models:
            length = arrays["length"][np.arange(len(self.models))]
            features["length_and_model_identity"] = np.hstack([length, arrays["model_identity"]])
        return features

    def close(self) -> None:
        for rows in self.rows.values():
            rows.close()


def length_features(episodes: list[dict], sided: bool) -> np.ndarray:
    """Log output tokens of the agents: pairs, the difference, its size and the sum; N agents, mean, std, range."""
    outputs = [np.log1p([a["output_tokens"] for a in e["token_totals"]["per_agent"]]) for e in episodes]
    if sided:
        return np.array([[o[0] - o[1], abs(o[0] - o[1]), o[0] + o[1]] for o in outputs])
    return np.array([[o.mean(), o.std(), o.max() - o.min()] for o in outputs])


def model_identity(models: list[list[str]], sided: bool) -> np.ndarray:
    """One-hot of the models that took part: pairs, which model is on side a and which on side b."""
    names = sorted({m for agents in models for m in agents})
    position = {m: i for i, m in enumerate(names)}
    if sided:
        rows = np.zeros((len(models), 2 * len(names)))
        for row, agents in zip(rows, models):
            row[position[agents[0]]] = 1
            row[len(names) + position[agents[1]]] = 1
        return rows
    rows = np.zeros((len(models), len(names)))
    for row, agents in zip(rows, models):
        for m in agents:
            row[position[m]] = 1
    return rows


def probe_plan(groups: list[str], labels: dict[str, list[str | None]], seed: int = 0) -> dict[str, np.ndarray]:
    """For each target, the positions (in the family's order) of the episodes it is scored on: those with a
    label among one seeded sample of whole groups of at most MAX_EPISODES episodes, shared by the targets (so
    the probe's features are gathered for MAX_EPISODES episodes at most). Known from the reading pass."""
    labelled_any = np.array([i for i in range(len(groups)) if any(v[i] is not None for v in labels.values())],
                            dtype=np.int64)
    sample = set()
    if len(labelled_any):
        sample = set(labelled_any[cap_by_groups(np.asarray(groups, dtype=object)[labelled_any], MAX_EPISODES,
                                                seed)].tolist())
    return {name: np.array([i for i, v in enumerate(values) if v is not None and i in sample], dtype=np.int64)
            for name, values in labels.items()}


def probe_report(features: ProbeFeatures, positions: list[int], plan: dict[str, np.ndarray],
                 labels: dict[str, list[str | None]], groups: list[str], *, folds: int = 5, seed: int = 0,
                 cache: ScoreCache | None = None) -> dict:
    """Score every target on the planned episodes; `features` holds their rows in `positions` order."""
    cache = cache or ScoreCache(None)
    arrays = features.arrays()
    row_of = {position: row for row, position in enumerate(positions)}
    targets = {}
    for name, chosen in plan.items():
        rows = np.array([row_of[i] for i in chosen.tolist()], dtype=np.int64)
        # the same arrays: probe_target reads this target's rows, one fold at a time
        selected = {feature: x for feature, x in arrays.items() if scored_on(feature, name)}
        available = sum(1 for label in labels[name] if label is not None)
        targets[name] = probe_target(selected, [labels[name][i] for i in chosen.tolist()],
                                     [groups[i] for i in chosen.tolist()], folds=folds, seed=seed, cache=cache,
                                     available=available, rows=rows)
    sizes = {"rank": features.coordinator.projection.rank, "full": 3 * features.table.dimension,
             "embedding": features.table.dimension}
    report = {
        "version": PROBE_VERSION,
        "grouping": "folds by a stable hash of the prompt (pairwise) or question (debates), the scoring protocol's "
                    "(builder.benchmark.scoring.fold_of)",
        "classifier": "StandardScaler + LogisticRegression(C=0.1, tol=1e-3); ordered_latents without intercept or "
                      "centring; majority_class a DummyClassifier",
        "scores": "pooled out-of-fold accuracy and macro-F1, 95% percentile bootstrap over groups "
                  f"({RESAMPLES} resamples), accuracy mean and std over folds",
        "cost_bound": f"at most {MAX_EPISODES} episodes (one seeded sample of whole groups, shared by the targets)",
        "features": described({*arrays, "majority_class"}, **sizes),
        "targets": targets,
    }
    report["reading"] = probe_reading(targets)
    return report


def probe_reading(targets: dict) -> list[str]:
    """What the scores say, one sentence a target (builder.benchmark.scoring.reading), with what only the probe
    adds: the ordered latents beside the symmetric state, and why `side` is a leakage check."""
    sentences = []
    for name, result in targets.items():
        scores = result.get("results") or {}
        notes = []
        if "ordered_latents" in scores:
            ordered = scores["ordered_latents"]
            notes.append(f"ordered per-agent latents {ordered['accuracy']} {ordered['accuracy_ci95']}")
        if name == "side" and scores:
            notes.append("the symmetric state cannot identify the side by construction, so its score is a leakage "
                         "check, not information kept")
        sentences.append(reading(name, scores, "coordinator_state", PROBE_BASELINES, result, notes=tuple(notes)))
    return sentences
