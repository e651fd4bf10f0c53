"""Label statistics for the build report: distributions, means per outcome group, how well each label ranks
the outcome (grouped AUC beside the length baseline), labeler agreement."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from builder.stages.bootstrap import RESAMPLES, auc_interval
from builder.stages.labels.vocabulary import AGREEMENT_LEVELS, EVENTS


def label_statistics(episodes: list[dict], group=lambda episode: episode["winner"]) -> dict:
    """Distributions of the labels, and their means per outcome group (the winner for arena battles)."""
    labelled = [e for e in episodes if e["labels"]["missing_reason"] is None]
    by_outcome: dict[str, list[dict]] = defaultdict(list)
    for episode in labelled:
        by_outcome[group(episode)].append(episode["labels"])
    return {
        "labelled": len(labelled),
        "missing": len(episodes) - len(labelled),
        "coordination_success": _histogram(e["labels"]["coordination_success"] for e in labelled),
        "efficiency_rating": _histogram(e["labels"]["efficiency_rating"] for e in labelled),
        "agreement_level": {level: sum(1 for e in labelled if e["labels"]["agreement_level"] == level)
                            for level in AGREEMENT_LEVELS},
        "turn_events": {event: sum(t["coordination_events"].count(event) for e in labelled for t in e["turns"])
                        for event in EVENTS},
        "by_outcome": {
            winner: {
                "episodes": len(labels),
                "mean_coordination_success": round(sum(one["coordination_success"] for one in labels) / len(labels), 3),
                "mean_efficiency_rating": round(sum(one["efficiency_rating"] for one in labels) / len(labels), 3),
                "agreement_level": {level: sum(1 for one in labels if one["agreement_level"] == level)
                                    for level in AGREEMENT_LEVELS},
            }
            for winner, labels in sorted(by_outcome.items())
        },
    }


LABEL_SIGNALS = ("coordination_success", "efficiency_rating", "agreement_level")


def label_validity(episodes: list[dict], outcomes: dict[str, list[bool | None]], groups: list[str],
                   seed: int = 0) -> dict:
    """How well each label, and beside it the length baseline (the episode's output tokens), ranks a binary
    outcome: AUC (0.5 = no relation, 1 = perfect, below 0.5 = reversed) with a 95% percentile bootstrap over
    groups (prompts or questions), on the labelled episodes with a known outcome. Labels never read the
    outcome, so this measures a relation, not an echo."""
    from sklearn.metrics import roc_auc_score

    signals = {
        "coordination_success": [e["labels"]["coordination_success"] for e in episodes],
        "efficiency_rating": [e["labels"]["efficiency_rating"] for e in episodes],
        "agreement_level": [None if e["labels"]["agreement_level"] is None
                            else AGREEMENT_LEVELS.index(e["labels"]["agreement_level"]) for e in episodes],
        "length_baseline": [e["token_totals"]["output_tokens"] for e in episodes],
    }
    result = {"method": f"AUC, 95% percentile bootstrap over prompt groups ({RESAMPLES} resamples)", "outcomes": {}}
    for outcome, values in outcomes.items():
        keep = [i for i, v in enumerate(values) if v is not None and signals["coordination_success"][i] is not None]
        y = np.array([values[i] for i in keep], dtype=bool)
        if len(keep) < 10 or y.all() or not y.any():
            result["outcomes"][outcome] = {"skipped": f"{len(keep)} episodes, {int(y.sum())} positive: too few of a class"}
            continue
        g = np.array([groups[i] for i in keep])
        scores = {}
        for name, column in signals.items():
            s = np.array([column[i] for i in keep], dtype=np.float64)
            scores[name] = {"auc": round(float(roc_auc_score(y, s)), 4), "auc_ci95": auc_interval(s, y, g, seed)}
        result["outcomes"][outcome] = {"episodes": len(keep), "positive": int(y.sum()), "groups": len(set(g.tolist())),
                                       "scores": scores}
    return result


def _histogram(values) -> dict[str, int]:
    counts = Counter(values)
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
