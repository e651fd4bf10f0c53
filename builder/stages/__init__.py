"""Per-episode enrichment stages. Each one has a single job and is listed in builder.pipeline."""
