"""N-agent debates and votes: Agent-Scaling histories, MALLM records and many-model answer sets, each file
recognised by its name or content (builder.sources.debates). Configs debate-mini and debate-full; turns are
rounds in which every agent answers."""

from __future__ import annotations

from builder.families.base import EpisodeFamily, FamilyPlan
from builder.layout import COORDINATOR_DIRS
from builder.provenance import debate_provenance
from builder.sources.debates import iter_debate_rows, plan_debate_sources, questions_of


class DebateFamily(EpisodeFamily):
    name = "debate"
    full_config, mini_config = "debate-full", "debate-mini"
    coordinator_dir = COORDINATOR_DIRS["debate"]
    report_section = "debate"
    figure_prefix = "debate_"

    def plan(self, config) -> FamilyPlan | None:
        if not config.debate_source_list:
            return None
        plan = plan_debate_sources(config.debate_source_list, questions_of(config), config.max_text_chars,
                                   config.questions_order)
        return FamilyPlan(self, rows=lambda: iter_debate_rows(plan), notes=plan.notes,
                          provenance=list({f.kind: debate_provenance(f.name, f.kind) for f in plan.files}.values()))
