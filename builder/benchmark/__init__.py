"""The benchmark: what the dataset's states and labels are scored on, and how.

One protocol (scoring.py: the test split where it is large enough, grouped cross-fitting below, "not scored" below
the minimum) scores every table: the latent probe (probe.py), the benchmark table that `evaluate` gives anyone's
states or predictions (evaluation.py), the trained coordinators and their rank curve (trained.py), failure
attribution (attribution.py), MAST's failure modes as targets (failure_modes.py) and label validity
(label_validity.py), each against the baselines of one table
(baselines.py) with bootstrap intervals over prompt groups (bootstrap.py). analyses.py runs them on a written
family for the build. Every module here reads episodes as the build wrote them; none enriches an episode.

    from builder.benchmark import TrainedCoordinator
"""

from __future__ import annotations

__all__ = ["TrainedCoordinator"]


def __getattr__(name: str):
    # Deferred: the trained coordinators import torch, which a build that scores nothing need not load
    if name == "TrainedCoordinator":
        from builder.benchmark.trained import TrainedCoordinator

        return TrainedCoordinator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
