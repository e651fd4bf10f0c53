"""The per-episode stages of the writing pass, in order, and how a batch goes through them. Both engines
(builder/engines.py) and the pipeline take them from here, so neither imports the other."""

from __future__ import annotations

import contextlib

from builder.stages.base import EpisodeStage
from builder.stages.labels.stage import OfflineLabelStage
from builder.stages.latents.coordinator import Coordinator
from builder.stages.latents.embeddings import EmbeddingTable
from builder.stages.latents.stage import LatentStage
from builder.stages.token_logs import TokenLogStage


def writing_stages(encoding: str, coordinator: Coordinator, table: EmbeddingTable) -> list[EpisodeStage]:
    """The per-episode stages, in order, run in the writing pass on the selected episodes only: token logs
    (which need no fit), then what applies the family's fit."""
    return [
        TokenLogStage(encoding),
        LatentStage(coordinator, table),
        OfflineLabelStage(table),
    ]


def describe_stages(encoding: str, coordinator: Coordinator, table: EmbeddingTable) -> list[dict]:
    """The writing stages' identities and parameters for the report (recipe versions, models). Each engine makes
    its own stages where it runs them (a Ray actor in its process); making them loads nothing."""
    return [stage.describe() for stage in writing_stages(encoding, coordinator, table)]


def run_stages(stages: list[EpisodeStage], episodes: list[dict], step=None) -> list[dict]:
    """A batch of episodes through `stages`, in order, each timed under its name."""
    for stage in stages:
        with step(stage.name) if step else contextlib.nullcontext():
            episodes = [stage.process(e) for e in episodes]
    return episodes
