"""The global latent fit, and the per-episode stage that applies it.

    table       = TableBuilder(...)                   global: every distinct text embedded once (cached)
    coordinator = fit_coordinator(sample, ...)        global: the projection basis, fitted on the turns that
                                                      fit_turns chose (all of them up to MAX_FIT_TURNS)
    LatentStage(coordinator, table).process(e)        per episode: z_t, h_t, each response's latent, N*

The probe (builder.benchmark.probe) is a report step afterwards: it reads the latents the stage wrote.
"""

from __future__ import annotations

import numpy as np

from builder.stages.base import EpisodeStage
from builder.stages.latents.coordinator import Coordinator, episode_latents
from builder.stages.latents.embeddings import EmbeddingTable
from builder.stages.latents.projection import fit_projection


MAX_FIT_TURNS = 4_000


def fit_turns(turns_per_episode: list[int], seed: int, cap: int = MAX_FIT_TURNS) -> np.ndarray:
    """Positions (in the family's turn order) of the turn observations the basis is fitted on: every turn up to
    `cap`, else a seeded uniform sample of `cap` turns, so the fit's memory and time stay flat in the build's
    size (a rank-r basis of 3d-dimensional observations is well determined by a few thousand of them)."""
    total = int(sum(turns_per_episode))
    if total <= cap:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, size=cap, replace=False))


def fit_coordinator(observations: np.ndarray, *, total_turns: int, embedding_model: dict, method: str, rank: int,
                    decay: float, seed: int) -> Coordinator:
    """Fit the low-rank basis on the sampled turn observations (`fit_turns`); the recurrence needs no fit."""
    projection = fit_projection(method, observations, rank, seed)
    return Coordinator(
        projection=projection,
        decay=decay,
        embedding_model=embedding_model,
        fit={"turn_observations": int(observations.shape[0]), "turns_in_family": int(total_turns),
             "sample": "every turn" if observations.shape[0] == total_turns
             else f"a seeded uniform sample of {observations.shape[0]} turns",
             "observation_dims": int(observations.shape[1]),
             "explained_variance": _rounded(projection.explained_variance),
             "reconstruction_r2": _rounded(projection.reconstruction_r2(observations)), "seed": seed},
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


class LatentStage(EpisodeStage):
    """Computes and writes turns[].latent_z, turns[].latent_h, turns[].responses[].latent,
    turns[].effective_diversity and effective_diversity_mean."""

    name = "latents"
    version = 2  # 2: each response's own latent

    def __init__(self, coordinator: Coordinator, table: EmbeddingTable):
        self.coordinator = coordinator
        self.table = table

    def describe(self) -> dict:
        return {"stage": self.name, "version": self.version, **self.coordinator.describe(),
                "embedding_stats": self.table.stats}

    def process(self, episode: dict) -> dict:
        latents = episode_latents(self.coordinator, episode, self.table)
        for turn, z, h, diversity, own in zip(episode["turns"], latents.projections, latents.states, latents.diversity,
                                              latents.responses):
            turn["latent_z"] = z.tolist()
            turn["latent_h"] = h.tolist()
            turn["effective_diversity"] = diversity
            for response, latent in zip(turn["responses"], own):
                response["latent"] = latent.tolist()
        episode["effective_diversity_mean"] = float(np.mean(latents.diversity))
        return episode
