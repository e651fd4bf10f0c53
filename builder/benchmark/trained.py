"""Trained low-rank recurrent coordinators, one per rank, and the rank curve: how much of an outcome a state of r
numbers keeps when it is trained to keep it, against the untrained stored state and the baselines.

The state stored in the data (`turns[].latent_h`) is not trained: a PCA basis and a fixed decay. Here, for each
rank r of --trained-ranks (default 1, 2, 4, 8, 16, 32, 64 and `full`, the observation's own dimension), a small
recurrent model is trained whose state has r numbers:

    o_(t,i) = [ e(answer_(t,i)) ; log1p(output tokens_(t,i)) ; log1p(input tokens_(t,i)) ; e(prompt_t) ]
                                                       each agent, each turn; prompt_t: what the agents were asked
                                                       (the turn's user message, else the latest one before it)
    f_(t,i) = tanh(P o_(t,i) + b)                      the learned projection into r dimensions
    u_t     = [ f_(t,a) ; f_(t,b) ]                    sided families (model_a, model_b: order means something)
              [ mean_i f_(t,i) ; max_i f_(t,i) ]       N agents (in any order)
    h_t     = GRUCell(u_t, h_(t-1)),  h_0 = 0          the coordinator state: r numbers
    p(y_k | episode) = softmax(W_k h_T + c_k)          one head per outcome target k

- **Data**: the episodes of the probe's plan (at most MAX_EPISODES, whole prompt groups, seeded), in the dataset's
  own splits: trained on `train`, stopped on `validation`, scored once on `test`. Each episode keeps its last
  MAX_RESPONSES responses (whole turns), so the cost and memory are bounded whatever the build's size.
- **Training**: Adam (LEARNING_RATE, WEIGHT_DECAY), batches of BATCH_SIZE, the cross-entropy of every target
  summed (an episode without a label for a target adds nothing to it); after each epoch the validation loss, and
  the weights of the best epoch are kept (at most MAX_EPOCHS, stopped after PATIENCE epochs without a better one).
  Seeded and deterministic on CPU: the same data, seed and threads give the same weights and scores.
- **Sides**: a sided family's episode is also trained on with its sides swapped (and a side label swapped with
  them), and a prediction averages both orders: the `side` prediction flips exactly when the sides are swapped,
  like the probe's antisymmetric classifier on the ordered latents.
- **Scores**: test accuracy and macro-F1 of each rank's own predictions, with the 95% interval over the test
  split's prompt groups (probe.prediction_scores). On the same test episodes, the stored untrained state and the
  baselines are fitted with the probe's classifier on train + validation (`rank_curve`).
- **The prompt as input**: an answer can only be judged against its question, so the observation ends with the
  prompt's embedding (the same encoder). Every rank is also trained without it (the first d + 2 numbers alone,
  rows `trained_rank_r_without_prompt`), so the curve shows what the prompt adds; neither is chosen on test.
- **Chosen model**: the rank (with or without the prompt) with the lowest validation loss (the test split plays no part) is saved beside the
  fitted basis as trained-coordinator.safetensors (weights; executes no code on load) and
  trained-coordinator.json (rank, observation, targets and classes, embedding model, training record). Run it on
  new episodes with `TrainedCoordinator.load(folder).run(episodes)`.

Nothing trained here is written into an episode's row: a state fitted on an episode's own outcome would leak it.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from builder.benchmark.baselines import RANK_CURVE_BASELINES, UNTRAINED_STATES
from builder.benchmark.probe import fitted_scores
from builder.benchmark.scoring import (CROSS_FITTED, FOLDS, NOT_SCORED, PROTOCOL_TEXT, TEST_SPLIT, Protocol,
                                    choose_protocol, fit_parts, fold_of, fold_parts, prediction_scores, reading)
from builder.config import FULL
from builder.layout import TRAINED_INFO, TRAINED_TENSORS
from builder.machine import usable_cpus
from builder.splits import group_of, split_of, split_position
from builder.stages.latents.embeddings import embed_for

MAX_RESPONSES = 16  # responses an episode keeps (its last whole turns): bounds the sequences' memory
BATCH_SIZE = 64
MAX_EPOCHS = 40
PATIENCE = 6
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 1e-4
FORMAT_VERSION = 2  # 2: the prompt's embedding ends the observation (`prompt_input`)
OBSERVATION_DEFINITION = ("[e(answer); log1p(output tokens); log1p(input tokens); e(prompt)] of each agent at each turn "
                          "(prompt: the turn's user message, else the latest before it); the rows marked without_prompt "
                          "see the first d + 2 numbers alone")
WITHOUT_PROMPT = "_without_prompt"  # the suffix of the rows trained without the prompt
MODEL_DEFINITION = ("f = tanh(P o + b) per agent (r dims); sided: u_t = [f_a; f_b], N agents: u_t = [mean_i f; max_i f]; "
                    "h_t = GRUCell(u_t, h_(t-1)), h_0 = 0; one linear head per target on h_T")


def response_observations(turn: dict, table, prompt: str | None) -> np.ndarray:
    """[agents, 2d + 2]: each response's embedding, its log token counts (an unknown count is 0) and the
    embedding of the prompt it answers (zero without one)."""
    vectors = table.of([response["content"] for response in turn["responses"]])
    tokens = np.log1p([[response["output_tokens"] or 0, response["input_tokens"] or 0]
                       for response in turn["responses"]])
    asked = table.of([prompt])[0] if prompt else np.zeros(table.dimension, np.float32)
    return np.hstack([vectors, tokens, np.tile(asked, (len(vectors), 1))]).astype(np.float32)


def episode_sequence(episode: dict, table, sided: bool) -> np.ndarray:
    """[turns, agents, 2d + 2] of the episode's last whole turns holding at most MAX_RESPONSES responses (at least
    its last turn); a sided episode has exactly its two sides in order, an agent that did not answer left zero."""
    asked, latest = {}, None  # each turn's prompt: its own user message, else the latest one before it
    for turn in episode["turns"]:
        latest = turn["prompt"] or latest
        asked[id(turn)] = latest
    turns, kept = [], 0
    for turn in reversed(episode["turns"]):
        if turns and kept + len(turn["responses"]) > MAX_RESPONSES:
            break
        turns.append(turn)
        kept += len(turn["responses"])
    turns.reverse()
    if sided:
        order = {agent["agent_id"]: position for position, agent in enumerate(episode["agents"][:2])}
    width = 2 if sided else max(1, min(MAX_RESPONSES, max((len(turn["responses"]) for turn in turns), default=1)))
    sequence = np.zeros((len(turns), width, 2 * table.dimension + 2), np.float32)
    for t, turn in enumerate(turns):
        if not turn["responses"]:
            continue
        rows = response_observations(turn, table, asked[id(turn)])[:MAX_RESPONSES]
        if sided:
            for response, row in zip(turn["responses"], rows):
                if response["agent_id"] in order:
                    sequence[t, order[response["agent_id"]]] = row
        else:
            sequence[t, :len(rows)] = rows
    return sequence


class SequenceFeatures:
    """The training sequences of the episodes the probe's plan chose, gathered in the writing pass (float16:
    the embeddings' precision is far finer than what the models resolve), with their split, group and labels."""

    def __init__(self, table, family, fractions: tuple[float, float, float]):
        self.table, self.family, self.fractions = table, family, fractions
        self.sequences: list[np.ndarray] = []
        self.splits: list[str] = []
        self.groups: list[str] = []
        self.labels: dict[str, list[str | None]] = {}

    def add(self, episodes: list[dict]) -> None:
        for episode in episodes:
            self.sequences.append(episode_sequence(episode, self.table, self.family.sided).astype(np.float16))
            self.groups.append(group_of(episode))
            self.splits.append(split_of(self.groups[-1], self.fractions))
        for name, values in self.family.probe_targets(episodes).items():
            self.labels.setdefault(name, []).extend(values)


# --- the model ----------------------------------------------------------------------------------------------

def _torch():
    import torch  # on first use: about 250 MB that a build without the rank curve never pays

    return torch


TRAINING_THREADS = 1


@contextmanager
def training_threads():
    """Torch on one thread while the coordinators train and predict, the count restored after. The models are
    small (a GRU over a few hundred numbers): a second thread bought 2x on a quiet 2-core machine (300 real
    battles: 9.2 s on one, 4.7 s on two), but beside another torch process the two threads spun at their barriers
    and the step took 148 s (31x), where one thread took 10.4 s (1.1x). One thread also makes the trained weights,
    and so the report, the same on every machine and under any load: the summation order of a parallel reduction
    depends on the thread count."""
    torch = _torch()
    before = torch.get_num_threads()
    torch.set_num_threads(TRAINING_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --- the trainings, over the CPUs this process may use ------------------------------------------------------

PARALLEL_FROM = 100  # episodes from which the trainings spread over worker processes (each costs ~2 s to start)


@dataclass(frozen=True)
class TrainingJob:
    """One model to train: the observation variant ("" with the prompt, WITHOUT_PROMPT), its rank, the rows it
    trains and stops on, the rows it predicts, and whether its weights come back (the saved model's)."""

    variant: str
    size: int
    rows: dict
    predict_rows: np.ndarray
    keep_weights: bool
    seed: int


@dataclass
class JobResult:
    epochs: int
    best_epoch: int
    validation_loss: float
    predictions: dict
    weights: dict | None


_CONTEXT: dict = {}


def _training_context(sequences: list[np.ndarray], labels: dict, classes: dict, swap) -> dict:
    columns = sequences[0].shape[2]
    embedding_dims = (columns - 2) // 2
    # with the prompt, and without it: the first d + 2 numbers (views, no copy)
    variants = {"": sequences, WITHOUT_PROMPT: [sequence[..., :columns - embedding_dims] for sequence in sequences]}
    return {"variants": variants, "labels": labels, "classes": classes, "swap": swap}


def _start_worker(sequences, labels, classes, swap) -> None:
    _CONTEXT.update(_training_context(sequences, labels, classes, swap))
    _torch().set_num_threads(TRAINING_THREADS)


def _run_job(job: TrainingJob, context: dict | None = None) -> JobResult:
    context = context or _CONTEXT
    sequences = context["variants"][job.variant]
    run = train_one(sequences, context["labels"], context["classes"], job.rows, job.size, context["swap"], job.seed)
    predictions = predict(run.model, sequences, job.predict_rows, context["classes"], context["swap"])[0]
    weights = {name: value.clone() for name, value in run.model.state_dict().items()} if job.keep_weights else None
    return JobResult(run.epochs, run.best_epoch, run.validation_loss, predictions, weights)


def worker_start_method():
    """How the training workers start: forked by a fork server, a clean process started like a spawned one that
    has imported torch and this module once (so no torch state of the build is forked, and each worker starts in
    milliseconds where a spawned one imports torch for ~1.6 s); spawned where there is no fork server (Windows).
    The server is Python's own (multiprocessing.forkserver), one per process, and ends with it."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", __name__])
    return context


def prepare_training_workers() -> None:
    """Start the fork server now, so that it imports torch while the caller still works on one thread (the build:
    while the analyses read the written files) and the workers fork at once when the trainings begin."""
    if worker_start_method().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def parallel_training(episodes: int) -> bool:
    """Whether the trainings of `episodes` sequences spread over worker processes (see training_pool)."""
    return usable_cpus() >= 2 and episodes >= PARALLEL_FROM


@contextmanager
def training_pool(sequences: list[np.ndarray], labels: dict, classes: dict, swap):
    """A function that runs a list of jobs and returns their results in order, for the duration of the block. From
    PARALLEL_FROM episodes on, the jobs spread over one worker process per usable CPU (worker_start_method; started
    once for every list of the block), each training on one torch thread, so the trainings never ask for more
    threads than the process may use and a busy machine slows them in proportion; each job is seeded on its own,
    so the results are the same in any process."""
    if not parallel_training(len(sequences)):
        context = _training_context(sequences, labels, classes, swap)
        with training_threads():
            yield lambda jobs: [_run_job(job, context) for job in jobs]
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=usable_cpus(), mp_context=worker_start_method(),
                             initializer=_start_worker, initargs=(sequences, labels, classes, swap)) as pool:
        yield lambda jobs: list(pool.map(_run_job, jobs))


def make_model(observation_dims: int, rank: int, classes: dict[str, list[str]], sided: bool):
    torch = _torch()
    nn = torch.nn

    class RecurrentCoordinator(nn.Module):
        """See the module docstring; `state` is h_T, `forward` the heads' logits."""

        def __init__(self):
            super().__init__()
            self.projection = nn.Linear(observation_dims, rank)
            self.cell = nn.GRUCell(2 * rank, rank)
            self.heads = nn.ModuleDict({target: nn.Linear(rank, len(names)) for target, names in classes.items()})

        def state(self, x, agents, turns):
            """x [batch, turns, agents, dims]; agents [batch, turns, agents] and turns [batch, turns]: masks."""
            f = torch.tanh(self.projection(x))
            if sided:
                u = f.flatten(2)
            else:
                mask = agents.unsqueeze(-1)
                mean = (f * mask).sum(2) / mask.sum(2).clamp(min=1)
                u = torch.cat([mean, f.masked_fill(~mask, -1.0).amax(2)], -1)  # tanh >= -1: -1 is neutral for max
            h = x.new_zeros(x.shape[0], rank)
            for t in range(x.shape[1]):
                h = torch.where(turns[:, t:t + 1], self.cell(u[:, t], h), h)  # padded turns carry the state on
            return h

        def forward(self, x, agents, turns):
            h = self.state(x, agents, turns)
            return {target: head(h) for target, head in self.heads.items()}

    return RecurrentCoordinator()


def agents_present(sequence: np.ndarray) -> np.ndarray:
    """[turns, agents]: which agents answered at each turn (an absent one's observation is all zeros)."""
    return np.abs(sequence).sum(-1) > 0


def padded(sequences: list[np.ndarray], width: int | None = None, present: list[np.ndarray] | None = None):
    """(x [n, turns, agents, dims] float32, agent mask, turn mask) as torch tensors, zero-padded. `present`: each
    sequence's agents_present, when the caller pads the same sequences again and again (training's batches)."""
    torch = _torch()
    turns = max(len(s) for s in sequences)
    agents = width or max(s.shape[1] for s in sequences)
    x = np.zeros((len(sequences), turns, agents, sequences[0].shape[2]), np.float32)
    agent_mask = np.zeros((len(sequences), turns, agents), bool)
    turn_mask = np.zeros((len(sequences), turns), bool)
    for i, sequence in enumerate(sequences):
        x[i, :len(sequence), :sequence.shape[1]] = sequence
        agent_mask[i, :len(sequence), :sequence.shape[1]] = agents_present(sequence) if present is None else present[i]
        turn_mask[i, :len(sequence)] = True
    return torch.from_numpy(x), torch.from_numpy(agent_mask), torch.from_numpy(turn_mask)


@dataclass
class Swap:
    """How a sided episode's labels change when its two sides are swapped: per target, class i becomes class
    `permutations[target][i]` (the family's two side labels trade places; other classes stay)."""

    permutations: dict[str, list[int]]

    @classmethod
    def of(cls, sides: tuple[str, str] | None, classes: dict[str, list[str]]) -> "Swap | None":
        if sides is None:
            return None
        trade = {sides[0]: sides[1], sides[1]: sides[0]}
        return cls({target: [names.index(trade[name]) if trade.get(name) in names else i
                             for i, name in enumerate(names)] for target, names in classes.items()})


def averaged_probabilities(model, batch, swap: Swap | None) -> dict:
    """Each head's class probabilities; for a sided family the mean of both side orders (swapped back)."""
    torch = _torch()
    x, agents, turns = batch
    probabilities = {target: torch.softmax(logits, -1) for target, logits in model(x, agents, turns).items()}
    if swap is None:
        return probabilities
    flipped = model(x.flip(2), agents.flip(2), turns)
    return {target: (p + torch.softmax(flipped[target], -1)[:, swap.permutations[target]]) / 2
            for target, p in probabilities.items()}


def label_indices(labels: dict[str, list], rows: np.ndarray, classes: dict[str, list[str]]):
    """{target: tensor of class numbers, -1 where an episode has no label}."""
    torch = _torch()
    return {target: torch.tensor([classes[target].index(str(labels[target][i]))
                                  if labels[target][i] is not None and str(labels[target][i]) in classes[target]
                                  else -1 for i in rows], dtype=torch.long) for target in classes}


def loss_of(log_probabilities: dict, targets: dict):
    """Summed over targets: the mean negative log-likelihood of the episodes with a label."""
    torch = _torch()
    total = torch.zeros(())
    for target, log_p in log_probabilities.items():
        known = targets[target] >= 0
        if known.any():
            total = total + torch.nn.functional.nll_loss(log_p[known], targets[target][known])
    return total


def swapped_targets(targets: dict, swap: Swap) -> dict:
    torch = _torch()
    return {target: torch.where(y >= 0, torch.tensor(swap.permutations[target])[y.clamp_min(0)], y)
            for target, y in targets.items()}


class AdamSteps:
    """torch.optim.Adam(lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY), stepped through its functional form
    (torch.optim.adam.adam, the code Adam.step runs, with the same defaults and state: the same weights bit for
    bit). Constructing a torch Optimizer imports torch._dynamo (about 2 s on these machines), which a build that did
    not load the embedding model, and every training worker, would pay for nothing. As in Adam, a parameter without
    a gradient (a head whose target has no label in the batch) is neither stepped nor decayed."""

    def __init__(self, parameters):
        torch = _torch()
        from torch.optim.adam import adam

        self.adam = adam
        self.parameters = list(parameters)
        self.exp_avgs = [torch.zeros_like(p) for p in self.parameters]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in self.parameters]
        step_dtype = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32  # as Adam's
        self.steps = [torch.tensor(0.0, dtype=step_dtype) for _ in self.parameters]

    def zero_grad(self) -> None:
        for parameter in self.parameters:
            parameter.grad = None

    def step(self) -> None:
        stepped = [i for i, parameter in enumerate(self.parameters) if parameter.grad is not None]
        with _torch().no_grad():
            self.adam([self.parameters[i] for i in stepped], [self.parameters[i].grad for i in stepped],
                 [self.exp_avgs[i] for i in stepped], [self.exp_avg_sqs[i] for i in stepped], [],
                 [self.steps[i] for i in stepped], amsgrad=False, beta1=0.9, beta2=0.999, lr=LEARNING_RATE,
                 weight_decay=WEIGHT_DECAY, eps=1e-8, maximize=False)


@dataclass
class TrainingRun:
    rank: int
    model: object
    epochs: int
    best_epoch: int
    validation_loss: float


def train_one(sequences: list[np.ndarray], labels: dict[str, list], classes: dict[str, list[str]],
              rows: dict[str, np.ndarray], rank: int, swap: Swap | None, seed: int) -> TrainingRun:
    """One model of rank `rank`, trained on rows["train"] and stopped on rows["validation"] (see the module doc)."""
    torch = _torch()
    width = 2 if swap is not None else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = make_model(sequences[0].shape[2], rank, classes, swap is not None)
        optimiser = AdamSteps(model.parameters())
        order = np.random.default_rng(seed)
        validation = padded([sequences[i] for i in rows["validation"]], width)
        validation_targets = label_indices(labels, rows["validation"], classes)
        best, best_state, best_epoch, epochs = float("inf"), None, 0, 0
        present = {i: agents_present(sequences[i]) for i in rows["train"]}  # each epoch pads them again
        for epoch in range(1, MAX_EPOCHS + 1):
            epochs = epoch
            model.train()
            shuffled = order.permutation(rows["train"])
            for start in range(0, len(shuffled), BATCH_SIZE):
                chosen = shuffled[start:start + BATCH_SIZE]
                x, agents, turns = padded([sequences[i] for i in chosen], width, [present[i] for i in chosen])
                targets = label_indices(labels, chosen, classes)
                if swap is not None:  # each episode in both side orders, its labels swapped with it
                    x, agents, turns = torch.cat([x, x.flip(2)]), torch.cat([agents, agents.flip(2)]), turns.repeat(2, 1)
                    targets = {t: torch.cat([y, swapped_targets(targets, swap)[t]]) for t, y in targets.items()}
                logits = model(x, agents, turns)
                loss = loss_of({t: torch.log_softmax(v, -1) for t, v in logits.items()}, targets)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            model.eval()
            with torch.no_grad():
                probabilities = averaged_probabilities(model, validation, swap)
                current = float(loss_of({t: torch.log(p.clamp_min(1e-12)) for t, p in probabilities.items()},
                                        validation_targets))
            if current < best - 1e-6:
                best, best_epoch = current, epoch
                best_state = {name: value.clone() for name, value in model.state_dict().items()}
            elif epoch - best_epoch >= PATIENCE:
                break
        model.load_state_dict(best_state)
        model.eval()
    return TrainingRun(rank, model, epochs, best_epoch, round(best, 6))


def predict(model, sequences: list[np.ndarray], rows: np.ndarray, classes: dict[str, list[str]],
            swap: Swap | None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """({target: predicted class names}, states h_T [episodes, rank]) of sequences[rows], BATCH_SIZE at a time."""
    torch = _torch()
    predicted = {target: [] for target in classes}
    states = []
    with torch.no_grad():
        for start in range(0, len(rows), BATCH_SIZE):
            batch = padded([sequences[i] for i in rows[start:start + BATCH_SIZE]], 2 if swap is not None else None)
            for target, p in averaged_probabilities(model, batch, swap).items():
                predicted[target].append(np.asarray(classes[target], dtype=object)[p.argmax(-1).numpy()])
            states.append(model.state(*batch).numpy())
    return {t: np.concatenate(v) if v else np.array([], object) for t, v in predicted.items()}, \
        (np.concatenate(states) if states else np.zeros((0, 0)))


# --- the rank curve -----------------------------------------------------------------------------------------

def rank_label(rank: int, full_rank: int) -> str:
    return "full" if rank == full_rank else str(rank)


INNER_SALT = b"multi-llm-coord inner validation v1\0"
INNER_VALIDATION = 0.2  # share of a fold's fitting groups that stops its training (cross-fitting)


def inner_split(fit: np.ndarray, groups: np.ndarray) -> dict[str, np.ndarray]:
    """{"train", "validation"} of the `fit` positions: the INNER_VALIDATION share of their prompt groups first in
    a stable hash order (at least one group) stops the training, the others train it."""
    names = sorted(set(groups[fit].tolist()), key=lambda group: split_position(str(group), INNER_SALT))
    stopping = set(names[:max(1, round(INNER_VALIDATION * len(names)))])
    held = np.array([groups[i] in stopping for i in fit], dtype=bool)
    return {"train": fit[~held], "validation": fit[held]}


def rank_curve(sequences: SequenceFeatures, baselines: dict, *, ranks: tuple, seed: int,
               embedding_model: dict) -> "RankCurve":
    """Train a coordinator for each of `ranks` (builder.config.parse_ranks) and score each, beside the `baselines`,
    by each target's protocol (builder.benchmark.scoring): on the test split of the sampled episodes where it is
    large enough, by grouped K-fold cross-fitting below that (each fold predicted by models trained on the other
    folds, stopped on an inner split of their groups), not at all below the minimum.

    `baselines`: {name: feature rows in the sequences' order}, each fitted by its classifier in the baselines' table
    (builder.benchmark.baselines) on the same fitting part. The report's section: per target the protocol and the
    scores of every row, the training record of every rank and the chosen rank (or {"skipped": why}); and the
    chosen model (trained on `train`, stopped on `validation`), to save beside the basis."""
    if not ranks:
        return RankCurve({"skipped": "no rank to train (--trained-ranks none)"})
    if not sequences.sequences:
        return RankCurve({"skipped": "no episode with a label for a probe target"})
    plan = plan_curve(sequences, ranks)
    if not plan.classes:
        return RankCurve({"skipped": "no target has two classes among the sampled episodes"})
    training = train_curve(plan, seed)
    targets = score_curve(plan, training, baselines, seed)
    if not training.runs and not any("results" in result for result in targets.values()):
        return RankCurve({"skipped": "no labelled validation episode to stop the training on, and no target large "
                                     "enough to cross-fit", "targets": targets})
    return choose_rank(plan, training, targets, seed, embedding_model)


@dataclass
class CurvePlan:
    """What the rank curve trains and scores: the models (with and without the prompt, at each rank), each target's
    classes and protocol, and the splits and folds of the sampled episodes."""
    sequences: SequenceFeatures
    rows: dict[str, np.ndarray]  # split name -> positions
    labels: dict[str, list]
    groups: np.ndarray
    known: dict[str, np.ndarray]  # target -> positions with a label
    classes: dict[str, list[str]]  # targets with two classes or more
    in_test: np.ndarray
    protocols: dict[str, Protocol]
    fixed_split: bool  # train and validation both hold a labelled episode: a model can be stopped on validation
    swap: "Swap | None"
    widths: dict[str, int]  # model variant ("" with the prompt, WITHOUT_PROMPT) -> observation width
    models: list[tuple[str, int, int]]  # (variant, size, width)
    name_of: dict[tuple[str, int], str]
    folds: np.ndarray

    @property
    def scored(self) -> list[str]:
        return [target for target, protocol in self.protocols.items() if protocol.scored]


def plan_curve(sequences: SequenceFeatures, ranks: tuple) -> CurvePlan:
    split = np.asarray(sequences.splits, dtype=object)
    rows = {name: np.flatnonzero(split == name) for name in ("train", "validation", "test")}
    labels = sequences.labels
    groups = np.asarray(sequences.groups, dtype=object)
    known = {target: np.array([value is not None for value in labels[target]], bool) for target in labels}
    classes = {target: sorted({str(v) for v in labels[target] if v is not None}) for target in labels}
    classes = {target: names for target, names in classes.items() if len(names) >= 2}
    in_test = split == "test"
    columns = sequences.sequences[0].shape[2]
    widths = {"": columns, WITHOUT_PROMPT: columns - (columns - 2) // 2}  # without the prompt: the first d + 2
    models = [(suffix, widths[suffix] if rank == FULL else rank, widths[suffix]) for suffix in widths for rank in ranks]
    return CurvePlan(
        sequences, rows, labels, groups, known, classes, in_test,
        protocols={target: choose_protocol(labels[target], groups, in_test) for target in classes},
        fixed_split=bool(any(known[t][i] for t in classes for i in rows["train"])
                         and any(known[t][i] for t in classes for i in rows["validation"])),
        swap=Swap.of(sequences.family.sides, classes), widths=widths, models=models,
        name_of={(suffix, size): rank_label(size, width) + suffix for suffix, size, width in models},
        folds=fold_of(groups))


@dataclass
class CurveTraining:
    out_of_fold: dict[tuple[str, int], dict[str, np.ndarray]]  # model -> target -> predictions by position
    fold_losses: dict[tuple[str, int], list[float]]  # model -> validation loss of each cross-fitting fold
    runs: dict[tuple[str, int], JobResult]  # models trained on train, stopped on validation


def train_curve(plan: CurvePlan, seed: int) -> CurveTraining:
    """The cross-fitting folds' models where a target is cross-fitted, then the models trained on `train` and stopped
    on `validation`: every model where a target is scored on the test split; else only the one saved, chosen by its
    mean validation loss over the cross-fitting folds (nothing is chosen on test)."""
    out_of_fold = {key: {t: np.full(len(plan.groups), None, dtype=object) for t in plan.classes}
                   for key in plan.name_of}
    fold_losses: dict[tuple, list[float]] = {key: [] for key in plan.name_of}
    sequences = plan.sequences
    with training_pool(sequences.sequences, plan.labels, plan.classes, plan.swap) as train:
        if any(plan.protocols[t].name == CROSS_FITTED for t in plan.scored):
            jobs = [TrainingJob(suffix, size, inner_split(fit, plan.groups), held, False, seed)
                    for fit, held in fold_parts(plan.folds) for suffix, size, _ in plan.models]
            for job, result in zip(jobs, train(jobs)):
                fold_losses[(job.variant, job.size)].append(result.validation_loss)
                for target, values in result.predictions.items():
                    if plan.protocols[target].name == CROSS_FITTED:
                        out_of_fold[(job.variant, job.size)][target][job.predict_rows] = values
        fixed = [(suffix, size) for suffix, size, _ in plan.models] if plan.fixed_split else []
        if fixed and not any(plan.protocols[t].name == TEST_SPLIT for t in plan.scored) and any(fold_losses.values()):
            fixed = [min(fixed, key=lambda key: (float(np.mean(fold_losses[key])), key[1], key[0]))]
        jobs = [TrainingJob(suffix, size, plan.rows, plan.rows["test"], True, seed) for suffix, size in fixed]
        runs = dict(zip(fixed, train(jobs))) if jobs else {}
        for (suffix, size), result in runs.items():
            for target, values in result.predictions.items():
                out_of_fold[(suffix, size)][target][plan.rows["test"]] = values
    return CurveTraining(out_of_fold, fold_losses, runs)


def score_curve(plan: CurvePlan, training: CurveTraining, baselines: dict, seed: int) -> dict:
    """{target: protocol, scored episodes and groups, the scores of every trained model and baseline}, or why the
    target is not scored."""
    targets = {}
    for target in plan.classes:
        protocol = plan.protocols[target]
        if not protocol.scored or (protocol.name == TEST_SPLIT and not plan.fixed_split):
            targets[target] = protocol.describe() if not protocol.scored else Protocol(
                NOT_SCORED, "no labelled validation episode to stop the training on").describe()
            continue
        y = np.array([str(v) for v in plan.labels[target]], dtype=object)
        parts = fit_parts(protocol, plan.known[target], plan.in_test, plan.folds)
        predicted_rows = np.sort(np.concatenate([part for _, part in parts]))
        y_scored, scored_groups = y[predicted_rows], plan.groups[predicted_rows]
        results = {}
        for suffix, size, width in plan.models:
            predicted = training.out_of_fold[(suffix, size)][target][predicted_rows].astype(str)
            results[f"trained_rank_{plan.name_of[(suffix, size)]}"] = {
                "rank": rank_label(size, width), "trained": True, "prompt": not suffix,
                **prediction_scores(y_scored, predicted, scored_groups, seed)}
        for name, scores in fitted_scores(baselines, target, y, parts, plan.groups, seed).items():
            results[name] = {"rank": None, "trained": False, **scores}
        targets[target] = {**protocol.describe(), "protocol_text": PROTOCOL_TEXT[protocol.name],
                           "scored_episodes": int(len(predicted_rows)),
                           "scored_groups": int(len(set(scored_groups.tolist()))), "results": results}
    return targets


def choose_rank(plan: CurvePlan, training: CurveTraining, targets: dict, seed: int,
                embedding_model: dict) -> "RankCurve":
    """The report's section, and the model to save: of those trained on `train`, the lowest validation loss."""
    runs, fold_losses, name_of = training.runs, training.fold_losses, plan.name_of
    chosen_key = min(runs, key=lambda key: (runs[key].validation_loss, key[1], key[0])) if runs else None
    chosen = None
    if chosen_key is not None:
        chosen = make_model(plan.widths[chosen_key[0]], chosen_key[1], plan.classes, plan.swap is not None)
        chosen.load_state_dict(runs[chosen_key].weights)
        chosen.eval()
    training_record = {
        "optimiser": f"Adam(lr={LEARNING_RATE}, weight_decay={WEIGHT_DECAY})", "batch_size": BATCH_SIZE,
        "max_epochs": MAX_EPOCHS, "patience": PATIENCE, "seed": seed,
        "stopping": "the epoch with the lowest validation loss (summed over targets)",
        "cross_fitting": f"where a target is cross-fitted, each of the {FOLDS} folds is predicted by models trained on "
                         f"the other folds, stopped on {INNER_VALIDATION:.0%} of their prompt groups (a stable hash "
                         "order)",
        "sides": "each episode also in swapped side order; predictions average both orders"
        if plan.swap is not None else None}
    record = {name_of[key]: ({"epochs": runs[key].epochs, "best_epoch": runs[key].best_epoch,
                              "validation_loss": runs[key].validation_loss} if key in runs else {})
              | ({"cross_fitting_validation_loss": round(float(np.mean(fold_losses[key])), 6)} if fold_losses[key]
                 else {}) for key in name_of}
    report = {"episodes": {name: int(len(value)) for name, value in plan.rows.items()},
              "observation": OBSERVATION_DEFINITION, "model": MODEL_DEFINITION, "training": training_record,
              "ranks": record, "chosen_rank": name_of[chosen_key] if chosen else None,
              "chosen_by": ("none saved: no labelled validation episode" if not chosen else "the lowest validation loss"
                            if len(runs) > 1 else "the lowest mean validation loss over the cross-fitting folds"),
              "targets": targets}
    if chosen is None:
        return RankCurve(report)
    model = TrainedCoordinator(chosen, chosen_key[1], plan.classes, plan.sequences.family.sides, embedding_model,
                               {"training": training_record, "rank_record": record[name_of[chosen_key]],
                                "episodes": report["episodes"]}, prompt_input=not chosen_key[0])
    return RankCurve(report, model)


@dataclass
class RankCurve:
    report: dict
    chosen: "TrainedCoordinator | None" = None


@dataclass
class TrainedCoordinator:
    """The chosen trained coordinator: save it beside the data, load it back, run it on episodes.

        from builder.benchmark.trained import TrainedCoordinator
        coordinator = TrainedCoordinator.load("out/coordinator")
        for result in coordinator.run(episodes):   # episodes in the dataset's layout (load_dataset's rows)
            result["state"], result["predictions"]
    """

    model: object
    rank: int
    classes: dict[str, list[str]]
    sides: tuple[str, str] | None  # a sided family's two side labels, in agent order (None: N agents)
    embedding_model: dict
    record: dict
    prompt_input: bool = True  # the observation ends with the prompt's embedding (else: the first d + 2 numbers)

    def describe(self) -> dict:
        dims = int(self.embedding_model["dimension"])
        return {"format_version": FORMAT_VERSION, "rank": self.rank, "observation": OBSERVATION_DEFINITION,
                "prompt_input": self.prompt_input, "observation_dims": 2 * dims + 2 if self.prompt_input else dims + 2,
                "model": MODEL_DEFINITION,
                "sides": list(self.sides) if self.sides else None, "targets": self.classes, "embedding_model": self.embedding_model,
                "trained": self.record,
                "not_in_rows": "no state of this model is stored in the dataset's rows (it was trained on their "
                               "outcomes); run it with TrainedCoordinator.load(folder).run(episodes)"}

    def save(self, folder: Path) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {name: value.contiguous() for name, value in self.model.state_dict().items()}
        save_file(tensors, str(folder / TRAINED_TENSORS), metadata={"rank": str(self.rank)})
        (folder / TRAINED_INFO).write_text(json.dumps(self.describe(), indent=2, sort_keys=True) + "\n",
                                           encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "TrainedCoordinator":
        from safetensors.torch import load_file

        folder = Path(folder)
        info = json.loads((folder / TRAINED_INFO).read_text(encoding="utf-8"))
        if info.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{folder}: trained coordinator format {info.get('format_version')} is not "
                             f"{FORMAT_VERSION}")
        sides = tuple(info["sides"]) if info["sides"] else None
        model = make_model(info["observation_dims"], info["rank"], info["targets"], sides is not None)
        model.load_state_dict(load_file(str(folder / TRAINED_TENSORS)))
        model.eval()
        return cls(model, info["rank"], info["targets"], sides, info["embedding_model"], info["trained"],
                   info["prompt_input"])

    def run(self, episodes: list[dict], embedder=None, cache_dir: Path | None = None) -> list[dict]:
        """Per episode: `state` (h_T, rank numbers), `predictions` and `probabilities` per target. The embedder
        defaults to the model the coordinator was trained with, whose identity must match."""
        table = embed_for(self.embedding_model, episodes, embedder, cache_dir, "trained")
        sided = self.sides is not None
        width = int(self.embedding_model["dimension"]) * (2 if self.prompt_input else 1) + 2
        sequences = [episode_sequence(episode, table, sided)[..., :width] for episode in episodes]
        swap = Swap.of(self.sides, self.classes)
        torch = _torch()
        results = []
        with torch.no_grad(), training_threads():  # as the build predicted: the same numbers
            for start in range(0, len(sequences), BATCH_SIZE):
                batch = padded(sequences[start:start + BATCH_SIZE], 2 if sided else None)
                probabilities = averaged_probabilities(self.model, batch, swap)
                states = self.model.state(*batch).numpy()
                for row, state in enumerate(states):
                    chances = {t: dict(zip(self.classes[t], p[row].tolist())) for t, p in probabilities.items()}
                    results.append({"state": state.tolist(), "probabilities": chances,
                                    "predictions": {t: max(c, key=c.get) for t, c in chances.items()}})
        return results


# --- what the report, the card and the figure show ------------------------------------------------------------

def ordered_rows(results: dict) -> list[tuple[str, dict]]:
    """The rows of a target in reading order: trained ranks with the prompt by rank (full last), then without it,
    the untrained states, the baselines (the report's JSON sorts keys; the card and the figure do not)."""
    trained = sorted((name for name in results if results[name]["trained"]),
                     key=lambda name: (not results[name].get("prompt", True), results[name]["rank"] == FULL,
                                       int(results[name]["rank"]) if results[name]["rank"] != FULL else 0))
    others = [name for name in (*UNTRAINED_STATES, *RANK_CURVE_BASELINES) if name in results]
    return [(name, results[name]) for name in trained + others]


def rank_curve_reading(curve: dict) -> list[str]:
    """What the rank curve shows, one sentence a target (builder.benchmark.scoring.reading, for the best trained rank
    with the prompt against the majority class and the best baseline; then the best without the prompt), never a
    fixed claim."""
    if "skipped" in curve:
        return [f"not trained: {curve['skipped']}."]
    sentences = []
    for target, result in sorted(curve["targets"].items()):  # the order stats.json keeps
        results = result.get("results") or {}
        trained = [(name, scores) for name, scores in ordered_rows(results) if scores["trained"]]
        with_prompt = [item for item in trained if item[1].get("prompt", True)]
        without = [item for item in trained if not item[1].get("prompt", True)]
        best = max(with_prompt, key=lambda item: item[1]["accuracy"])[0] if with_prompt else "-"
        notes = []
        if without:
            _, alone = max(without, key=lambda item: item[1]["accuracy"])
            notes.append(f"without the prompt the best trained rank ({alone['rank']}) scores {alone['accuracy']} "
                         f"{alone['accuracy_ci95']}")
        if "coordinator_state" in results:
            notes.append(f"the untrained stored state {results['coordinator_state']['accuracy']}")
        label = f"the best trained rank with the prompt ({results[best]['rank'] if best in results else '-'})"
        sentences.append(reading(target, results, best, RANK_CURVE_BASELINES, result, label=label, notes=tuple(notes)))
    return sentences
