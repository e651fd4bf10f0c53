"""The turn observation: what the coordinator sees of one turn, the same for 2 or N agents.

    x_t = [ e(prompt_t) ; mean_i e(answer_i,t) ; std_i e(answer_i,t) ]        (3 x embedding dimension)

e() is the L2-normalised sentence embedding; mean and std (population, elementwise) run over the agents,
so x_t does not change when the agents are listed in another order. For two agents the std part is
|e(a) - e(b)| / 2: where the answers differ, not who wrote which.
"""

from __future__ import annotations

import numpy as np

from builder.stages.latents.embeddings import EmbeddingTable

OBSERVATION_DEFINITION = "[e(prompt); mean over agents of e(answer); elementwise std over agents of e(answer)]"


def turn_observation(prompt_vector: np.ndarray, answer_vectors: np.ndarray) -> np.ndarray:
    # Sorting each dimension over the agents fixes the summation order, so the float result is exactly
    # the same for any order of the agents (not only up to rounding).
    answers = np.sort(np.asarray(answer_vectors, dtype=np.float64), axis=0)
    return np.concatenate([prompt_vector, answers.mean(axis=0), answers.std(axis=0)]).astype(np.float32)


def episode_observations(episode: dict, table: EmbeddingTable) -> tuple[np.ndarray, list[np.ndarray]]:
    """(turn observations [turns, 3d], per turn the agents' answer vectors [agents, d])."""
    answers = [table.of([r["content"] for r in turn["responses"]]) for turn in episode["turns"]]
    prompts = table.of([turn["prompt"] for turn in episode["turns"]])
    observations = np.stack([turn_observation(p, a) for p, a in zip(prompts, answers)])
    return observations, answers


def build_observations(episodes: list[dict], table: EmbeddingTable) -> np.ndarray:
    """All turn observations of a build, episode by episode, turn by turn: the rows the basis is fitted on."""
    return np.concatenate([episode_observations(e, table)[0] for e in episodes])
