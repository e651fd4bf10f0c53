"""Label statistics for the build report: distributions, means per outcome group, labeler agreement. How well each
label ranks the outcome is measured by the benchmark (builder/benchmark/label_validity.py)."""

from __future__ import annotations

from collections import Counter

from builder.stages.labels.vocabulary import AGREEMENT_LEVELS


def label_statistics(tally) -> dict:
    """Distributions of the labels, and their means per outcome group (the winner for arena battles; correct,
    wrong or unknown for debates), from a family's tally (builder/output/tally.py)."""
    labels = tally.labels
    return {
        "labelled": tally.labelled,
        "missing": labels.missing,
        "coordination_success": _histogram(labels.coordination_success),
        "efficiency_rating": _histogram(labels.efficiency_rating),
        "agreement_level": {level: labels.agreement_level.get(level, 0) for level in AGREEMENT_LEVELS},
        "turn_events": labels.events_known(),
        "by_outcome": {
            group: {
                "episodes": sums.episodes,
                "mean_coordination_success": round(sums.coordination_success / sums.episodes, 3),
                "mean_efficiency_rating": round(sums.efficiency_rating / sums.episodes, 3),
                "agreement_level": {level: sums.agreement_level.get(level, 0) for level in AGREEMENT_LEVELS},
            }
            for group, sums in sorted(labels.by_outcome.items())
        },
    }


LABEL_SIGNALS = ("coordination_success", "efficiency_rating", "agreement_level")


def _histogram(counts: Counter) -> dict[str, int]:
    return {str(score): counts.get(score, 0) for score in range(11)}


def labeler_agreement(first: dict[str, dict], second: dict[str, dict]) -> dict:
    """Cohen's kappa on agreement_level and Spearman's rho on the two scores, over episodes both labelled."""
    from scipy.stats import spearmanr
    from sklearn.metrics import cohen_kappa_score

    shared = sorted(i for i in first if i in second and first[i]["missing_reason"] is None
                    and second[i]["missing_reason"] is None)
    result: dict = {"episodes": len(shared)}
    if len(shared) < 3:
        result["skipped"] = f"{len(shared)} episodes labelled by both; agreement needs at least 3"
        return result
    levels_a = [first[i]["agreement_level"] for i in shared]
    levels_b = [second[i]["agreement_level"] for i in shared]
    kappa = cohen_kappa_score(levels_a, levels_b, labels=AGREEMENT_LEVELS)
    result["agreement_level_cohen_kappa"] = None if kappa != kappa else round(float(kappa), 4)
    result["agreement_level_exact_match"] = round(sum(a == b for a, b in zip(levels_a, levels_b)) / len(shared), 4)
    for score in ("coordination_success", "efficiency_rating"):
        a, b = [first[i][score] for i in shared], [second[i][score] for i in shared]
        if len(set(a)) < 2 or len(set(b)) < 2:
            result[f"{score}_spearman"] = None  # undefined when one labeler gives a single value
            continue
        result[f"{score}_spearman"] = round(float(spearmanr(a, b).statistic), 4)
    return result
