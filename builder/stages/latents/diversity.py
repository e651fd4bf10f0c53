"""Effective diversity N* (K*) of the agents' answers at one turn, as Agent-Scaling computes it.

Rows = the agents' answer embeddings, L2-normalised. The uncentred second moment M M^T (n x n; same
non-zero eigenvalues as M^T M) has eigenvalues clipped at 0 and normalised to sum 1; values <= 1e-12
are dropped; N* = exp(Shannon entropy). It is NOT centred: centring would give every two-agent turn
N* = 1. For two agents the eigenvalues are (1 +- cos)/2, so N* runs from 1 (identical answers) to 2
(orthogonal answers); for n agents from 1 to n.
A zero vector (a model that maps empty text to zeros) contributes nothing; if every row is zero the
turn has no measurable diversity and N* = 1.
"""

from __future__ import annotations

import numpy as np

EIGENVALUE_FLOOR = 1e-12


def effective_diversity(vectors: np.ndarray) -> float:
    rows = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    rows = np.divide(rows, norms, out=np.zeros_like(rows), where=norms > EIGENVALUE_FLOOR)
    eigenvalues = np.clip(np.linalg.eigvalsh(rows @ rows.T), 0.0, None)
    total = eigenvalues.sum()
    if total <= EIGENVALUE_FLOOR:
        return 1.0
    shares = eigenvalues / total
    shares = shares[shares > EIGENVALUE_FLOOR]
    return float(np.exp(-(shares * np.log(shares)).sum()))
