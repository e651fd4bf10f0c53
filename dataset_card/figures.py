"""Figures shown in the dataset card, drawn from each family's full config (PNG, matplotlib Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from builder.layout import FIGURES_DIR

def write_figures(tally, family, folder: Path) -> dict[str, str]:
    """Write a family's figures into `folder` from its full config's tally (builder/output/tally.py), their names
    prefixed by the family's `figure_prefix`; return {figure name: path relative to the dataset root}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    drawings = {"token_distribution": _tokens, "latent_states": _latents, "effective_diversity": _diversity}
    for name, draw in ((name, drawings[name]) for name in family.figures):
        figure, axes = plt.subplots(figsize=(6.4, 4.0), dpi=100)
        draw(axes, tally)
        figure.tight_layout()
        name = family.figure_prefix + name
        path = folder / f"{name}.png"
        figure.savefig(path, metadata={"Software": None})  # no version stamp in the file
        plt.close(figure)
        written[name] = f"{FIGURES_DIR}/{path.name}"
    return written


def _tokens(axes, tally):
    by_position = tally.by_key["output_tokens_by_position"]
    positions = len(by_position)
    values = [by_position[str(i)] for i in range(positions)]
    top = max(max(v) for v in values if v) or 1
    bins = np.logspace(0, np.log10(top + 1), 30)
    for index, series in enumerate(values):
        label = tally.agent_ids[index] if positions <= 4 and index < len(tally.agent_ids) else f"agent {index}"
        axes.hist([v + 1 for v in series], bins=bins, alpha=0.55, label=label)
    axes.set_xscale("log")
    axes.set_xlabel("output tokens per episode (+1, log scale)")
    axes.set_ylabel("episodes")
    axes.set_title("Output tokens per agent")
    axes.legend()


def _latents(axes, tally):
    states = tally.final_state_matrix().astype(np.float64)
    centred = states - states.mean(axis=0)
    # The two leading principal directions of the final states (any projection method): a faithful 2-D view.
    _, _, directions = np.linalg.svd(centred, full_matrices=False)
    points = centred @ directions[:2].T if len(directions) >= 2 else np.c_[centred[:, :1], np.zeros(len(states))]
    groups = tally.outcome_groups
    for group, colour in tally.family.outcome_colours.items():
        chosen = [i for i, g in enumerate(groups) if g == group]
        if chosen:
            axes.scatter(points[chosen, 0], points[chosen, 1], s=14, alpha=0.7, c=colour, label=group)
    axes.set_xlabel("first principal direction of h_T")
    axes.set_ylabel("second principal direction of h_T")
    axes.set_title("Final coordinator states, coloured by outcome")
    axes.legend(fontsize=8)


def _diversity(axes, tally):
    values = [v for series in tally.by_key["diversity_by_turn"].values() for v in series]
    top = int(max(tally.numbers["agents"]))
    axes.hist(values, bins=np.linspace(1, top, 31), color="#9467bd")
    axes.set_xlabel("effective diversity N* per turn (1 = identical answers)")
    axes.set_ylabel("turns")
    axes.set_title("Effective diversity of the agents' answers")
