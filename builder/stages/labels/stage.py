"""Labels: the offline labeler as a per-episode stage, the LLM judge as a batch step after it.

    OfflineLabelStage(table).process(e)    per episode: labels and turn events from texts, tokens, embeddings
    judge_labels(full, settings, ...)      batch (asynchronous, cached): replaces the labels with the judge's;
                                           an episode it cannot label keeps null labels with the reason and
                                           the offline turn events; the report gives the two labelers' agreement
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from builder.stages.base import EpisodeStage
from builder.stages.labels.judge import JudgeLabeler, JudgeSettings
from builder.stages.labels.offline import OfflineLabeler
from builder.stages.labels.report import labeler_agreement


@dataclass
class LabelRun:
    """Who labelled a family and, for a judge, what it cost and how it agreed with the offline labels."""

    identity: dict
    judge_usage: dict | None = None
    agreement: dict | None = None


class OfflineLabelStage(EpisodeStage):
    """Computes and writes `labels` and `turns[].coordination_events` with the offline rules."""

    name = "labels"
    version = 2  # 2: labels read no outcome

    def __init__(self, table):
        self.labeler = OfflineLabeler(table)

    def describe(self) -> dict:
        return {"stage": self.name, "version": self.version, "labeler": self.labeler.identity}

    def process(self, episode: dict) -> dict:
        labels, events = self.labeler.label(episode)
        episode["labels"] = labels
        for turn, turn_events in zip(episode["turns"], events):
            turn["coordination_events"] = turn_events
        return episode


def judge_labels(episodes: list[dict], settings: JudgeSettings, cache_dir: Path | None,
                 show_progress: bool = True) -> LabelRun:
    """Label `episodes` (already labelled offline) with the judge, in place."""
    from tqdm.auto import tqdm

    client = JudgeLabeler(settings, cache_dir)
    with tqdm(total=len(episodes), disable=not show_progress, desc="judge", unit=" ep") as bar:
        judged = client.label_all(episodes, on_done=lambda: bar.update(1))
    agreement = labeler_agreement({e["episode_id"]: e["labels"] for e in episodes},
                                  {i: labels for i, (labels, _) in judged.items()})
    for episode in episodes:
        labels, events = judged[episode["episode_id"]]
        episode["labels"] = labels
        if events is not None:  # otherwise the offline events stay, so the turn-level column stays filled
            for turn, turn_events in zip(episode["turns"], events):
                turn["coordination_events"] = turn_events
    return LabelRun(identity=client.identity, judge_usage=client.usage.to_report(), agreement=agreement)


def main_failure(episodes: list[dict]) -> str:
    """The most frequent reason an episode got no label, with how many share it ("none" if all labelled)."""
    reasons = Counter(e["labels"]["missing_reason"] for e in episodes if e["labels"]["missing_reason"])
    if not reasons:
        return "none"
    reason, count = reasons.most_common(1)[0]
    return f"{reason} ({count} episodes)"
