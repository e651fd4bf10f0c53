"""N-agent debates and votes: Agent-Scaling histories, MALLM records and many-model answer sets, each file
recognised by its name or content (builder.sources.debates). Configs debate-mini and debate-full; turns are
rounds in which every agent answers."""

from __future__ import annotations

from builder.config import ConfigError
from builder.families.base import EpisodeFamily, FamilyPlan, SourceOption
from builder.provenance import debate_provenance
from builder.sources.debates import iter_debate_rows, plan_debate_sources, questions_of
from builder.sources.loaders import source_name


class DebateFamily(EpisodeFamily):
    name = "debate"
    title = "N-agent episodes"
    source_option = SourceOption(
        "--debate-source",
        "N-agent sources for the debate-* configs (repeatable): Agent-Scaling history files, MALLM record files, "
        "many-model answer sets, folders of them, or `sample`; `none` for no debate configs. Default: the embedded "
        "debate sample when --source is the embedded sample, otherwise none.")
    full_config, mini_config = "debate-full", "debate-mini"
    config_descriptions = {
        "debate-mini": "3 complete N-agent episodes chosen deterministically (several topologies and sources).",
        "debate-full": "Every accepted N-agent episode: multi-agent debates (Agent-Scaling, MALLM) and many-model "
                       "answer sets (one voting round). Latents use a basis fitted on these episodes alone.",
    }
    coordinator_dir = "coordinator-debate"
    figure_prefix = "debate_"

    def plan(self, config) -> FamilyPlan | None:
        sources = config.family_source_list(self.name)
        if not sources:
            if config.questions:
                raise ConfigError("--questions supplies Agent-Scaling question texts: it needs "
                                  f"{self.source_option.flag}")
            return None
        plan = plan_debate_sources(sources, questions_of(config.questions, sources), config.max_text_chars,
                                   config.questions_order)
        return FamilyPlan(self, rows=lambda: iter_debate_rows(plan), notes=plan.notes,
                          sources=[source_name(s) for s in sources],
                          provenance=list({f.kind: debate_provenance(f.name, f.kind) for f in plan.files}.values()))
