"""The dataset card: a Jinja template rendered from the build report with huggingface_hub's DatasetCard."""

from dataset_card.render import render_card

__all__ = ["render_card"]
