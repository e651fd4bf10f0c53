"""The one table of what the benchmark scores beside a state: each feature set's name, what it reads, its classifier,
whether it is a trivial baseline, and the targets it skips. The probe, the benchmark table (`evaluate`) and the rank
curve take their rows, descriptions and classifiers from here, so a name means one thing in every table.

The prompt has two baselines because the tables differ in what they may load: `prompt_only` is the first prompt's
sentence embedding (the build has the model), `prompt_words` its words hashed into counts (`evaluate` runs on any
copy of the data, without the model).
"""

from __future__ import annotations

from dataclasses import dataclass

MAJORITY, LOGISTIC, ANTISYMMETRIC = "majority", "logistic", "antisymmetric"  # builder.benchmark.probe.make_model
PROMPT_WORDS = 256  # hashed word counts of the first prompt in prompt_words


@dataclass(frozen=True)
class FeatureSet:
    name: str
    reads: str  # what it is, for the reports ({rank}, {full} and {embedding} are filled in with the sizes)
    classifier: str = LOGISTIC
    baseline: bool = True  # a trivial baseline, not a state under test
    skips: tuple[str, ...] = ()  # targets it is not scored on


# Who won does not matter for decisive vs tie: a side-ordered feature set is not scored on it
SIDE_BLIND_TARGETS = ("decisive",)

FEATURE_SETS = (
    FeatureSet("majority_class", "baseline: always the most frequent class of the training part", MAJORITY),
    FeatureSet("length", "baseline: log output tokens of the agents (pairs: difference, |difference|, sum; N agents: "
                         "mean, std, range)"),
    FeatureSet("model_identity", "baseline: which models took part (pairs: one-hot of model_a and of model_b)"),
    FeatureSet("prompt_only", "baseline: the first prompt's embedding ({embedding} dims)"),
    FeatureSet("prompt_words", f"baseline: the first prompt's words and word pairs hashed into {PROMPT_WORDS} counts "
                               "(log-scaled; no model needed)"),
    FeatureSet("length_and_model_identity", "baseline: length and model identity together"),
    FeatureSet("all_baselines", "baseline: length, model identity and prompt_words together"),
    FeatureSet("system_name", "baseline: which multi-agent system ran the trace (one-hot; MAST's failure modes)"),
    FeatureSet("benchmark_name", "baseline: which benchmark the trace's task came from (one-hot; MAST's failure "
                                 "modes)"),
    FeatureSet("system_benchmark_and_length", "baseline: system, benchmark and length together (MAST's failure "
                                              "modes)"),
    FeatureSet("coordinator_state", "final coordinator state h_T ({rank} dims; symmetric in the agents)",
               baseline=False),
    FeatureSet("ordered_latents", "mean over turns of responses[0].latent - responses[1].latent ({rank} dims; "
                                  "antisymmetric classifier)", ANTISYMMETRIC, False, SIDE_BLIND_TARGETS),
    FeatureSet("full_dimensional_state", "the same recurrence on the full turn observations ({full} dims)",
               baseline=False),
)
BY_NAME = {feature_set.name: feature_set for feature_set in FEATURE_SETS}

# The baselines each table scores, in the order its reading compares them
PROBE_BASELINES = ("majority_class", "prompt_only", "length", "model_identity", "length_and_model_identity")
BENCHMARK_BASELINES = ("majority_class", "length", "model_identity", "prompt_words", "length_and_model_identity",
                       "all_baselines")
RANK_CURVE_BASELINES = ("majority_class", "length", "model_identity", "prompt_only", "length_and_model_identity")
FAILURE_MODE_BASELINES = ("majority_class", "length", "system_name", "benchmark_name", "system_benchmark_and_length")
SUBJECT = "coordinator_state"  # the stored state each table's sentence reads against its baselines
UNTRAINED_STATES = ("coordinator_state", "full_dimensional_state", "ordered_latents")


def classifier_of(name: str) -> str:
    """The classifier a feature set is fitted with; a user's own vectors are fitted as any state is."""
    return BY_NAME[name].classifier if name in BY_NAME else LOGISTIC


def scored_on(name: str, target: str) -> bool:
    return name not in BY_NAME or target not in BY_NAME[name].skips


def described(names, **sizes) -> dict[str, str]:
    """{name: what it reads} for the feature sets among `names`, in the table's order."""
    return {f.name: f.reads.format(**sizes) for f in FEATURE_SETS if f.name in names}
