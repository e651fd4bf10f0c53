"""Labels: the offline labeler as a per-episode stage, the LLM judge as a batch step after it.

    OfflineLabelStage(table).process(e)    per episode: labels and turn events from texts, tokens, embeddings
    JudgeStep(settings, ...).process(b)    per batch (asynchronous, cached): replaces the labels with the judge's;
                                           an episode it cannot label keeps null labels with the reason and
                                           the offline turn events; the report gives the two labelers' agreement
"""

from __future__ import annotations

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

    def cache_counts(self) -> dict | None:
        """What the judge's answer cache gave in this run (None without a judge)."""
        if not self.judge_usage:
            return None
        return {k: self.judge_usage[k] for k in ("calls", "cached", "cache_rejected")}


class OfflineLabelStage(EpisodeStage):
    """Computes and writes `labels` and `turns[].coordination_events` with the offline rules."""

    name = "labels"
    version = 3  # 2: labels read no outcome; 3: one-speaker turns (agent teams) and their events

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


class JudgeStep:
    """The judge, batch by batch as the writing pass streams the (offline-labelled) episodes: one client for
    the whole family, so the call budget, the cache and the usage report span every batch. For the agreement
    with the offline labeler it keeps only the two labelers' scores of each episode."""

    name = "judge"

    def __init__(self, settings: JudgeSettings, cache_dir: Path | None, total: int, show_progress: bool = True):
        from tqdm.auto import tqdm

        self.client = JudgeLabeler(settings, cache_dir)
        self.bar = tqdm(total=total, disable=not show_progress, desc="judge", unit=" ep")
        self.offline: dict[str, dict] = {}
        self.judged: dict[str, dict] = {}

    def process(self, episodes: list[dict]) -> list[dict]:
        judged = self.client.label_all(episodes, on_done=lambda: self.bar.update(1))
        for episode in episodes:
            labels, events = judged[episode["episode_id"]]
            self.offline[episode["episode_id"]] = _scores(episode["labels"])
            self.judged[episode["episode_id"]] = _scores(labels)
            episode["labels"] = labels
            if events is not None:  # otherwise the offline events stay, so the turn-level column stays filled
                for turn, turn_events in zip(episode["turns"], events):
                    turn["coordination_events"] = turn_events
        return episodes

    def finish(self) -> LabelRun:
        self.bar.close()
        return LabelRun(identity=self.client.identity, judge_usage=self.client.usage.to_report(),
                        agreement=labeler_agreement(self.offline, self.judged))


def _scores(labels: dict) -> dict:
    return {k: labels[k] for k in ("coordination_success", "efficiency_rating", "agreement_level", "missing_reason")}
