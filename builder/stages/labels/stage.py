"""The label stage: labels every episode of the build with the chosen labeler, then writes them.

Labelling runs over the whole build at once (the judge is asynchronous and batched); `LabelStage`
then writes `labels` and each turn's `coordination_events`. With the judge, the offline labeler runs
too, and the report gives how much the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from builder.config import LABELERS
from builder.stages.base import EpisodeStage
from builder.stages.labels.judge import JudgeLabeler, JudgeSettings
from builder.stages.labels.offline import OfflineLabeler
from builder.stages.labels.report import labeler_agreement



@dataclass
class LabelRun:
    labels: dict[str, tuple[dict, list[list[str]] | None]]
    identity: dict
    judge_usage: dict | None = None
    agreement: dict | None = None

    def main_failure(self) -> str:
        """The most frequent reason an episode got no label, with how many share it ("none" if all labelled)."""
        from collections import Counter

        reasons = Counter(labels["missing_reason"] for labels, _ in self.labels.values() if labels["missing_reason"])
        if not reasons:
            return "none"
        reason, count = reasons.most_common(1)[0]
        return f"{reason} ({count} episodes)"


def label_build(episodes: list[dict], *, labeler: str, table, judge: JudgeSettings | None, cache_dir: Path | None,
                show_progress: bool = True) -> LabelRun:
    offline = OfflineLabeler(table)
    offline_labels = {e["episode_id"]: offline.label(e) for e in episodes}
    if labeler == "offline":
        return LabelRun(labels=offline_labels, identity=offline.identity)
    if labeler != "judge":
        raise ValueError(f"unknown labeler {labeler!r} (choose from {', '.join(LABELERS)})")
    if judge is None or not judge.model:
        raise ValueError("the judge labeler needs a judge model")
    from tqdm.auto import tqdm

    client = JudgeLabeler(judge, cache_dir)
    with tqdm(total=len(episodes), disable=not show_progress, desc="judge", unit=" ep") as bar:
        judged = client.label_all(episodes, on_done=lambda: bar.update(1))
    # Episodes the judge could not label keep null labels (with the reason) and offline events per turn,
    # so that the turn-level column stays filled.
    merged = {i: (labels, events if events is not None else offline_labels[i][1]) for i, (labels, events) in judged.items()}
    agreement = labeler_agreement({i: labels for i, (labels, _) in offline_labels.items()},
                                  {i: labels for i, (labels, _) in judged.items()})
    return LabelRun(labels=merged, identity=client.identity, judge_usage=client.usage.to_report(), agreement=agreement)


class LabelStage(EpisodeStage):
    """Writes `labels` and `turns[].coordination_events`."""

    name = "labels"
    version = 2  # 2: labels read no outcome

    def __init__(self, run: LabelRun):
        self.run = run

    def describe(self) -> dict:
        return {"stage": self.name, "version": self.version, "labeler": self.run.identity}

    def process(self, episode: dict) -> dict:
        labels, events = self.run.labels[episode["episode_id"]]
        episode["labels"] = labels
        for turn, turn_events in zip(episode["turns"], events):
            turn["coordination_events"] = turn_events
        return episode
