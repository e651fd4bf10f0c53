"""Sources: read raw rows from the embedded sample, local files or the Hub, and normalise them to episodes."""

from builder.sources.loaders import SourceError, iter_source_rows

__all__ = ["SourceError", "iter_source_rows"]
