"""Agent teams: agents with roles that speak in turn, address each other and run tools (Who&When's AG2 and
Magentic-One runs, AG2 group-chat transcripts; builder/sources/agent_teams.py). One speaker a turn. Configs
agents-mini and agents-full; where the source has human failure annotations, the report measures the
builder's turn events against them (builder/stages/labels/attribution.py)."""

from __future__ import annotations

from builder.families.base import EpisodeFamily, FamilyPlan
from builder.layout import COORDINATOR_DIRS
from builder.provenance import team_provenance
from builder.sources.agent_teams import iter_team_rows, plan_team_sources
from builder.stages.labels.attribution import attribution_report, attribution_row


class AgentTeamFamily(EpisodeFamily):
    name = "agents"
    full_config, mini_config = "agents-full", "agents-mini"
    coordinator_dir = COORDINATOR_DIRS["agents"]
    report_section = "agents"
    figure_prefix = "agents_"
    figures = ("token_distribution", "latent_states")  # N* of one speaker is 1 at every turn: no figure

    def plan(self, config) -> FamilyPlan | None:
        if not config.team_source_list:
            return None
        files = plan_team_sources(config.team_source_list)
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
        return group

    def outcome_report(self, tally):
        report = super().outcome_report(tally)
        report["response_kinds"] = dict(sorted(tally.counters["response_kinds"].items()))
        rows = tally.records.get("attribution", [])
        report["human_attribution"] = attribution_report(rows) if rows else None
        return report
