"""The per-episode latent stage and the global fit it applies.

`fit_latents` runs once per build: embed every distinct text (cached), build all turn observations,
fit the projection basis, compute every episode's latents and run the probe on them. `LatentStage`
then writes each episode's z_t, h_t and N*.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from builder.progress import progress
from builder.stages.base import EpisodeStage
from builder.stages.latents.coordinator import Coordinator, EpisodeLatents, latents_of
from builder.stages.latents.embeddings import Embedder, EmbeddingTable, embed_episodes
from builder.stages.latents.observations import episode_observations
from builder.stages.latents.probe import run_probe
from builder.stages.latents.projection import fit_projection


@dataclass
class LatentFit:
    coordinator: Coordinator
    table: EmbeddingTable
    probe: dict
    latents: dict[str, EpisodeLatents]  # by episode id


def fit_latents(episodes: list[dict], *, embedder: Embedder, cache_dir: Path | None, method: str, rank: int,
                decay: float, seed: int, probe_folds: int, probe_targets, show_progress: bool = True) -> LatentFit:
    """`probe_targets(episodes)` gives {target name: label per episode (None: not labelled)}."""
    table = embed_episodes(episodes, embedder, cache_dir)
    per_episode = [episode_observations(e, table) for e in episodes]  # (turn observations, answers, prompts)
    observations = np.concatenate([turn_observations for turn_observations, _, _ in per_episode])
    projection = fit_projection(method, observations, rank, seed)
    coordinator = Coordinator(
        projection=projection,
        decay=decay,
        embedding_model={**asdict(embedder.identity), "dimension": int(table.vectors.shape[1])},
        fit={"turn_observations": int(observations.shape[0]), "observation_dims": int(observations.shape[1]),
             "explained_variance": _rounded(projection.explained_variance),
             "reconstruction_r2": _rounded(projection.reconstruction_r2(observations)), "seed": seed},
    )
    latents = {e["episode_id"]: latents_of(coordinator, *observed)
               for e, observed in zip(episodes, progress(per_episode, show_progress, desc="coordinator", unit=" ep"))}
    full_states = np.stack([coordinator.states(x)[-1] for x, _, _ in per_episode])
    probe = run_probe(episodes, [latents[e["episode_id"]] for e in episodes], full_states, table, probe_targets,
                      folds=probe_folds, seed=seed, cache_dir=cache_dir)
    return LatentFit(coordinator=coordinator, table=table, probe=probe, latents=latents)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


class LatentStage(EpisodeStage):
    """Writes turns[].latent_z, turns[].latent_h, turns[].effective_diversity and effective_diversity_mean."""

    name = "latents"
    version = 2  # 2: each response's own latent

    def __init__(self, fit: LatentFit):
        self.fit = fit

    def describe(self) -> dict:
        return {"stage": self.name, "version": self.version, **self.fit.coordinator.describe(), "embedding_stats": self.fit.table.stats}

    def process(self, episode: dict) -> dict:
        latents = self.fit.latents[episode["episode_id"]]
        for turn, z, h, diversity, own in zip(episode["turns"], latents.projections, latents.states, latents.diversity,
                                              latents.responses):
            turn["latent_z"] = z.tolist()
            turn["latent_h"] = h.tolist()
            turn["effective_diversity"] = diversity
            for response, latent in zip(turn["responses"], own):
                response["latent"] = latent.tolist()
        episode["effective_diversity_mean"] = float(np.mean(latents.diversity))
        return episode
