"""The contract every per-episode enrichment stage follows."""

from __future__ import annotations

from abc import ABC, abstractmethod


class EpisodeStage(ABC):
    """Adds fields to one episode. Heavy resources (tokenizers, models) load lazily on first use.

    `name` is what a user sees (progress bars, the report's `stage`); `version` is the recipe's number:
    raise it whenever the stage's output changes, and never reuse a number for other behaviour, so the
    build metadata says which recipe produced a dataset.
    """

    name: str
    version: int

    @abstractmethod
    def process(self, episode: dict) -> dict:
        """Return the episode with this stage's fields filled in."""

    def describe(self) -> dict:
        """Identity and parameters recorded in the build report (recipe version, model identities)."""
        return {"stage": self.name, "version": self.version}
