"""Sources: read raw rows from the embedded sample, local files or the Hub, and normalise them to episodes."""

from builder.sources import agent_scaling  # noqa: F401  (registers its request rebuilder: builder/token_bases.py)
from builder.sources.loaders import SourceError, iter_source_rows

__all__ = ["SourceError", "iter_source_rows"]
