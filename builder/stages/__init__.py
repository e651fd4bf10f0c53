"""Per-episode enrichment stages. Each one has a single job; builder.stages.writing lists them in order."""
