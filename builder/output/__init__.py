"""Output: Parquet configs in a Hub-ready folder, the build report, written atomically."""
