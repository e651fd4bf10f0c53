"""Latent states: sentence embeddings -> low-rank turn projections -> a recurrent coordinator state,
plus effective diversity N* and a probe of how much outcome information the low-rank state keeps.

Global fits (the embedding table, the projection basis) are separate from the per-episode stage that
applies them: builder.pipeline fits once on the whole build and applies the result to every config.
"""
