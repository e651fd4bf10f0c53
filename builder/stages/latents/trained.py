"""The trained coordinators' old address, kept for one release: they moved to builder.benchmark.trained with the rest
of the benchmark (import `TrainedCoordinator` from builder.benchmark). Any name read here warns and is the new one."""

from __future__ import annotations

import importlib
import warnings


def __getattr__(name: str):
    warnings.warn("builder.stages.latents.trained moved to builder.benchmark.trained; import TrainedCoordinator from "
                  "builder.benchmark (this address goes in the next release)", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module("builder.benchmark.trained"), name)
