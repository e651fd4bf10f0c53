"""The turn observation: what the coordinator sees of one turn, the same for 2 or N agents.

    x_t = [ e(prompt_t) ; mean_i e(answer_i,t) ; std_i e(answer_i,t) ]        (3 x embedding dimension)

(e(prompt_t) is the zero vector for a debate round that carries no new user message.)

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


def response_observations(prompt_vector: np.ndarray, answer_vectors: np.ndarray) -> np.ndarray:
    """[agents, 3d]: for each agent, the observation its turn would have had if it had answered alone,
    [e(prompt); e(answer_i); 0] (mean over one agent is its answer, std is 0). Projected on the turn basis
    it gives each response's own latent, which keeps who said what."""
    answers = np.asarray(answer_vectors, dtype=np.float32)
    prompts = np.repeat(np.asarray(prompt_vector, dtype=np.float32)[None, :], len(answers), axis=0)
    return np.concatenate([prompts, answers, np.zeros_like(answers)], axis=1)


def episode_observations(episode: dict, table: EmbeddingTable) -> tuple[np.ndarray, list[np.ndarray]]:
    """(turn observations [turns, 3d], per turn the agents' answer vectors [agents, d], per turn the prompt
    vector [d] (zero for a round without a prompt))."""
    answers = [table.of([r["content"] for r in turn["responses"]]) for turn in episode["turns"]]
    # A round without a new user message (prompt null) has nothing to embed: its prompt part is zero.
    zero = np.zeros(table.dimension, dtype=np.float32)
    prompts = [zero if turn["prompt"] is None else table.of([turn["prompt"]])[0] for turn in episode["turns"]]
    observations = np.stack([turn_observation(p, a) for p, a in zip(prompts, answers)])
    return observations, answers, prompts
