"""How well each coordination label ranks an outcome it never read: grouped AUC with a bootstrap interval, beside
the length baseline (the build report's label validity)."""

from __future__ import annotations

import numpy as np

from builder.benchmark.bootstrap import RESAMPLES, auc_interval
from builder.stages.labels.report import LABEL_SIGNALS


def label_validity(signals: dict[str, np.ndarray], outcomes: dict[str, np.ndarray], groups: np.ndarray,
                   seed: int = 0) -> dict:
    """How well each label, and beside it the length baseline (the episode's output tokens), ranks a binary
    outcome: AUC (0.5 = no relation, 1 = perfect, below 0.5 = reversed) with a 95% percentile bootstrap over
    groups (prompts or questions), on the labelled episodes with a known outcome. Labels never read the
    outcome, so this measures a relation, not an echo.

    `signals` are per-episode arrays (NaN where an episode has no label), `outcomes` per-episode arrays of
    1 / 0 / -1 (unknown), `groups` per-episode group numbers."""
    from sklearn.metrics import roc_auc_score

    result = {"method": f"AUC, 95% percentile bootstrap over prompt groups ({RESAMPLES} resamples)", "outcomes": {}}
    labelled = ~np.isnan(signals["coordination_success"]) if len(groups) else np.zeros(0, bool)
    for outcome, values in sorted(outcomes.items()):
        keep = np.flatnonzero((values >= 0) & labelled)
        y = values[keep].astype(bool)
        if len(keep) < 10 or y.all() or not y.any():
            result["outcomes"][outcome] = {"skipped": f"{len(keep)} episodes, {int(y.sum())} positive: too few of a class"}
            continue
        g = groups[keep]
        scores = {}
        for name in (*LABEL_SIGNALS, "length_baseline"):
            s = signals[name][keep].astype(np.float64)
            scores[name] = {"auc": round(float(roc_auc_score(y, s)), 4), "auc_ci95": auc_interval(s, y, g, seed)}
        result["outcomes"][outcome] = {"episodes": int(len(keep)), "positive": int(y.sum()),
                                       "groups": len(set(g.tolist())), "scores": scores}
    return result
