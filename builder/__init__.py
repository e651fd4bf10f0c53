"""Builds the multi-llm-coord dataset: sources -> episodes -> enrichment stages -> Parquet configs."""

__version__ = "0.1.0"
