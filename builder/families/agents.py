"""Agent teams: agents with roles that speak in turn, address each other and run tools (Who&When's AG2 and
Magentic-One runs, AG2 group-chat transcripts; builder/sources/agent_teams.py). One speaker a turn. Configs
agents-mini and agents-full; where the source has human failure annotations, the report measures the
builder's turn events against them (builder/stages/labels/attribution.py)."""

from __future__ import annotations

from collections import Counter

from builder.families.base import EpisodeFamily, FamilyPlan, SourceOption
from builder.provenance import team_provenance
from builder.sources.agent_teams import iter_team_rows, plan_team_sources
from builder.stages.labels.attribution import attribution_report, attribution_row


def usage_summary(counts: Counter) -> dict:
    """The provider's reported tokens beside tiktoken's counts of the same calls, and their ratios (the provider
    counts with the model's own tokenizer and chat format; tiktoken counts the contents only)."""
    ratio = lambda a, b: round(counts[a] / counts[b], 4) if counts[b] else None  # noqa: E731
    return {name: counts[name] for name in ("calls_with_usage", "provider_input_tokens", "tiktoken_input_tokens",
                                            "provider_output_tokens", "tiktoken_output_tokens")} | {
        "input_ratio": ratio("provider_input_tokens", "tiktoken_input_tokens"),
        "output_ratio": ratio("provider_output_tokens", "tiktoken_output_tokens")}


class AgentTeamFamily(EpisodeFamily):
    name = "agents"
    title = "Agent-team episodes"
    source_option = SourceOption(
        "--team-source",
        "Agent-team sources for the agents-* configs (repeatable): Who&When run files (its Algorithm-Generated and "
        "Hand-Crafted folders), AG2 / AutoGen group-chat transcripts, OTLP trace files, folders of them, or `sample`; "
        "`none` for no agent-team configs. Default: the embedded agent-team sample when --source is the embedded "
        "sample, otherwise none.")
    full_config, mini_config = "agents-full", "agents-mini"
    config_descriptions = {
        "agents-mini": "3 complete agent-team episodes chosen deterministically (different layouts first).",
        "agents-full": "Every accepted agent-team episode: histories of agents that speak in turn, address each other "
                       "and run tools (Who&When's AG2 and Magentic-One runs, AG2 group-chat transcripts), one speaker a "
                       "turn, with the source's human failure annotations. Latents use a basis fitted on these episodes "
                       "alone.",
    }
    coordinator_dir = "coordinator-agents"
    figure_prefix = "agents_"
    figures = ("token_distribution", "latent_states")  # N* of one speaker is 1 at every turn: no figure

    def plan(self, config) -> FamilyPlan | None:
        sources = config.family_source_list(self.name)
        if not sources:
            return None
        files = plan_team_sources(sources)
        provenance = {}
        for team_file in files:
            found = team_provenance(team_file.path, team_file.layout)
            provenance.setdefault(found.name, found)
        return FamilyPlan(self, rows=lambda: iter_team_rows(files, config.max_text_chars),
                          provenance=list(provenance.values()))

    def tally_outcome(self, tally, episode):
        group = super().tally_outcome(tally, episode)
        row = attribution_row(episode)
        if row is not None:
            tally.records.setdefault("attribution", []).append(row)
        tally.counters["response_kinds"].update(r["kind"] for t in episode["turns"] for r in t["responses"])
        for reply in (r for t in episode["turns"] for r in t["responses"]):
            if reply["provider_input_tokens"] is not None or reply["provider_output_tokens"] is not None:
                usage = tally.counters[f"provider_usage:{episode['source']}"]
                usage["calls_with_usage"] += 1
                usage["provider_input_tokens"] += reply["provider_input_tokens"] or 0
                usage["tiktoken_input_tokens"] += reply["input_tokens"]
                usage["provider_output_tokens"] += reply["provider_output_tokens"] or 0
                usage["tiktoken_output_tokens"] += reply["output_tokens"]
        return group

    def outcome_report(self, tally):
        report = super().outcome_report(tally)
        report["response_kinds"] = dict(sorted(tally.counters["response_kinds"].items()))
        by_source = {name.split(":", 1)[1]: usage_summary(counts) for name, counts in sorted(tally.counters.items())
                     if name.startswith("provider_usage:")}
        total = sum((tally.counters[f"provider_usage:{s}"] for s in by_source), Counter())
        report["provider_usage"] = {**usage_summary(total), "by_source": by_source} if by_source else None
        rows = tally.records.get("attribution", [])
        report["human_attribution"] = attribution_report(rows) if rows else None
        return report
