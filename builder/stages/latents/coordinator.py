"""The recurrent coordinator: per episode, a state carried through the turns.

    z_t = P(x_t)                                   the turn observation's low-rank projection
    h_1 = z_1;   h_t = decay * h_{t-1} + (1 - decay) * z_t

A decayed recurrence (an exponential moving average started at the first turn): h_t summarises the
episode so far, weighting recent turns more; `decay` (default 0.5) is recorded with the basis.

The fitted coordinator is saved next to the data as coordinator/coordinator.safetensors (the projection's
arrays; safetensors executes no code on load) and coordinator/coordinator.json (method, rank, decay,
embedding model identity, observation definition, fit quality). `project_episodes` projects new episodes
with a saved coordinator:

    from builder.stages.latents.coordinator import Coordinator, project_episodes
    latents = project_episodes(Coordinator.load("out/coordinator"), episodes)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from builder.layout import COORDINATOR_INFO, COORDINATOR_TENSORS
from builder.stages.latents.diversity import effective_diversity
from builder.stages.latents.embeddings import Embedder, EmbeddingTable, embed_for
from builder.stages.latents.observations import OBSERVATION_DEFINITION, episode_observations, response_observations
from builder.stages.latents.projection import PROJECTIONS, Projection

FORMAT_VERSION = 1


@dataclass
class Coordinator:
    projection: Projection
    decay: float
    embedding_model: dict
    fit: dict = field(default_factory=dict)

    def states(self, projections: np.ndarray) -> np.ndarray:
        states = np.empty_like(projections)
        for t, z in enumerate(projections):
            states[t] = z if t == 0 else self.decay * states[t - 1] + (1.0 - self.decay) * z
        return states

    def describe(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "method": self.projection.method,
            "rank": self.projection.rank,
            "decay": self.decay,
            "recurrence": "h_1 = z_1; h_t = decay * h_(t-1) + (1 - decay) * z_t",
            "observation": OBSERVATION_DEFINITION,
            "embedding_model": self.embedding_model,
            "fit": self.fit,
        }

    def save(self, folder: Path) -> None:
        from safetensors.numpy import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        # One metadata entry: safetensors writes its metadata map in a hash map's order, which changes from one
        # map to the next, so two entries came out in either order and the same build gave different bytes.
        described = json.dumps({"method": self.projection.method, "rank": self.projection.rank}, sort_keys=True)
        save_file(self.projection.tensors(), str(folder / COORDINATOR_TENSORS), metadata={"projection": described})
        (folder / COORDINATOR_INFO).write_text(json.dumps(self.describe(), indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "Coordinator":
        from safetensors.numpy import load_file

        folder = Path(folder)
        info = json.loads((folder / COORDINATOR_INFO).read_text(encoding="utf-8"))
        if info.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{folder}: coordinator format {info.get('format_version')} is not {FORMAT_VERSION}")
        projection = PROJECTIONS[info["method"]](load_file(str(folder / COORDINATOR_TENSORS)), info["rank"])
        return cls(projection=projection, decay=info["decay"], embedding_model=info["embedding_model"],
                   fit=info.get("fit", {}))


@dataclass
class EpisodeLatents:
    projections: np.ndarray       # z_t, [turns, rank]
    states: np.ndarray            # h_t, [turns, rank]
    diversity: list[float]        # N* per turn
    responses: list[np.ndarray]   # per turn, each response's own latent [agents, rank]


def latents_of(coordinator: Coordinator, observations: np.ndarray, answers: list[np.ndarray],
               prompts: list[np.ndarray]) -> EpisodeLatents:
    """An episode's latents from its turn observations and, per turn, its answer and prompt vectors."""
    projections = coordinator.projection.transform(observations)
    per_response = coordinator.projection.transform(
        np.concatenate([response_observations(p, a) for p, a in zip(prompts, answers)]))
    splits = np.cumsum([len(a) for a in answers])[:-1]
    return EpisodeLatents(projections, coordinator.states(projections), [effective_diversity(a) for a in answers],
                          np.split(per_response, splits))


def episode_latents(coordinator: Coordinator, episode: dict, table: EmbeddingTable) -> EpisodeLatents:
    return latents_of(coordinator, *episode_observations(episode, table))


def project_episodes(coordinator: Coordinator, episodes: list[dict], embedder: Embedder | None = None,
                     cache_dir: Path | None = None) -> list[EpisodeLatents]:
    """Latents of `episodes` (dicts in the dataset's layout) with a saved coordinator.

    The embedder defaults to the model the coordinator was fitted with; its identity must match, so
    that vectors from another model are never projected on this basis.
    """
    table = embed_for(coordinator.embedding_model, episodes, embedder, cache_dir, "fitted")
    return [episode_latents(coordinator, episode, table) for episode in episodes]
