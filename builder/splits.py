"""Train / validation / test splits of the full configs, assigned by a stable hash of an episode's prompt group.

The group is the one the probe's folds use (group_of, below): the normalised first prompt
of a battle, the question of a debate, the task of an agent-team run. An episode's split depends on its group
alone, so no prompt is in two splits, and adding rows to a source never moves an episode already built (a
benchmark's test set stays the test set). The fractions are the build's `--split-fractions` (default 80/10/10).
"""

from __future__ import annotations

import hashlib

from builder.layout import SPLITS

SALT = b"multi-llm-coord split v1\0"  # changing it would move every episode: it is part of the dataset's definition


def split_position(group: str, salt: bytes = SALT) -> float:
    """Where a group falls in [0, 1): the first 8 bytes of sha256(salt + group) as a fraction. Another salt gives
    another order, independent of the splits (the evaluation's sample uses one)."""
    return int.from_bytes(hashlib.sha256(salt + group.encode("utf-8")).digest()[:8], "big") / 2**64


def split_of(group: str, fractions: tuple[float, float, float]) -> str:
    """`train`, `validation` or `test` for an episode of `group`, by cumulative `fractions`."""
    position, bound = split_position(group), 0.0
    for name, fraction in zip(SPLITS, fractions):
        bound += fraction
        if position < bound:
            return name
    return SPLITS[-1]


def parse_fractions(text: str) -> tuple[float, float, float]:
    """"0.8,0.1,0.1" as three fractions that sum to 1, or ValueError."""
    parts = [part.strip() for part in text.split(",")]
    try:
        values = tuple(float(part) for part in parts)
    except ValueError:
        raise ValueError(f"takes three fractions such as 0.8,0.1,0.1, got {text!r}") from None
    if len(values) != 3 or any(not 0 <= v <= 1 for v in values) or abs(sum(values) - 1) > 1e-9 or values[0] == 0:
        raise ValueError(f"takes three fractions in [0, 1] for train, validation and test that sum to 1 (train above "
                         f"0), got {text!r}")
    return values


def group_of(episode: dict) -> str:
    """The prompt (or question) an episode answers: episodes of one group never straddle a fold."""
    prompt = next((t["prompt"] for t in episode["turns"] if t["prompt"]), None)
    if prompt is not None:
        return hashlib.sha256(prompt.strip().lower().encode()).hexdigest()[:16]
    return f"{episode['task']}#{episode['metadata']['question_id']}"
