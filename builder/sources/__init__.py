"""Sources: read raw rows from the embedded sample, local files or the Hub, and normalise them to episodes."""

from builder.sources.loaders import SourceError, iter_source_rows
from builder.sources.rejections import REJECT_REASONS, RejectLog, Rejection

__all__ = ["REJECT_REASONS", "RejectLog", "Rejection", "SourceError", "iter_source_rows"]
