"""Figures shown in the dataset card, drawn from each family's full config (PNG, matplotlib Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from builder.benchmark.trained import ordered_rows
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
    by_position = tally.tokens.output_by_position
    positions = len(by_position)
    values = [by_position[i] for i in range(positions)]
    top = max(max(v) for v in values if v) or 1
    bins = np.logspace(0, np.log10(top + 1), 30)
    # Positions, not names: one episode's agent names would label bars that mix every episode's agents. A sided
    # family's positions are its sides (model_a, model_b).
    sides = tally.family.sides or ()
    for index, series in enumerate(values):
        label = sides[index] if index < len(sides) else f"agent position {index}"
        axes.hist([v + 1 for v in series], bins=bins, alpha=0.55, label=label if positions <= 8 else None)
    axes.set_xscale("log")
    axes.set_xlabel("output tokens per episode (+1, log scale)")
    axes.set_ylabel("episodes")
    _whole_counts(axes)
    axes.set_title("Output tokens per agent position" + ("" if positions <= 8 else f" ({positions} positions)"))
    if positions <= 8:
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
    values = [v for series in tally.diversity.by_turn.values() for v in series]
    top = int(max(tally.agents_per_episode))
    axes.hist(values, bins=np.linspace(1, top, 31), color="#9467bd")
    axes.set_xlabel("effective diversity N* per turn (1 = identical answers)")
    axes.set_ylabel("turns")
    _whole_counts(axes)
    axes.set_title("Effective diversity of the agents' answers")


def _whole_counts(axes) -> None:
    """A count axis shows whole numbers (no 1.25 episodes)."""
    from matplotlib.ticker import MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(integer=True))


def write_rank_curve(curve: dict, family, folder: Path) -> dict[str, str]:
    """The rank curve (builder.benchmark.trained): accuracy of the trained coordinators against their rank,
    with 95% intervals, beside the untrained stored state and the baselines, for the targets that were scored
    (test split or cross-fitted, said in each title); {} when none was."""
    scored = {t: r for t, r in curve.get("targets", {}).items() if "results" in r}
    if not scored:
        return {}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    figure, axes_list = plt.subplots(1, len(scored), figsize=(5.2 * len(scored), 4.0), dpi=100, squeeze=False)
    lines = {"majority_class": ("#7f7f7f", ":"), "length": ("#ff7f0e", "--"), "model_identity": ("#2ca02c", "--"),
             "prompt_only": ("#8c564b", "--"), "length_and_model_identity": ("#d62728", "-."),
             "coordinator_state": ("#9467bd", "-")}
    for axes, (target, result) in zip(axes_list[0], scored.items()):
        trained = [(name, s) for name, s in ordered_rows(result["results"]) if s["trained"]]
        ranks = list(dict.fromkeys(s["rank"] for _, s in trained))  # the x axis: each rank once
        for prompt, colour, marker, label in ((True, "#1f77b4", "o-", "trained coordinator, with the prompt"),
                                              (False, "#17becf", "s--", "trained coordinator, without the prompt")):
            rows = [s for _, s in trained if s.get("prompt", True) == prompt]
            if not rows:
                continue
            positions = np.array([ranks.index(s["rank"]) for s in rows]) + (0 if prompt else 0.12)
            accuracy = np.array([s["accuracy"] for s in rows])
            intervals = np.array([s["accuracy_ci95"] for s in rows])
            axes.errorbar(positions, accuracy, yerr=[accuracy - intervals[:, 0], intervals[:, 1] - accuracy],
                          fmt=marker, color=colour, capsize=3, label=label)
        for name, (colour, style) in lines.items():
            if name in result["results"]:
                label = f"{name} (not trained)" if name == "coordinator_state" else name
                axes.axhline(result["results"][name]["accuracy"], color=colour, linestyle=style, linewidth=1,
                             label=label)
        axes.set_xticks(np.arange(len(ranks)), ranks)
        axes.set_xlabel("rank r of the coordinator state")
        axes.set_ylabel("accuracy (95% CI over prompt groups)")
        axes.set_title(f"{target}: {result['scored_episodes']} episodes, {result['protocol'].replace('_', ' ')}")
        axes.set_ylim(0, 1)
    axes_list[0][-1].legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    name = family.figure_prefix + "rank_curve"
    path = folder / f"{name}.png"
    figure.savefig(path, metadata={"Software": None})
    plt.close(figure)
    return {name: f"{FIGURES_DIR}/{path.name}"}
