"""Agent teams: agents with roles that speak in turn, address each other and run tools (Who&When's AG2 and
Magentic-One runs, AG2 group-chat transcripts; builder/sources/agent_teams.py). One speaker a turn. Configs
agents-mini and agents-full; where the source has human failure annotations, the report measures the
builder's turn events against them (builder/benchmark/attribution.py)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, fields

from builder.families.base import EpisodeFamily, FamilyPlan, SourceOption, VoteOutcomes
from builder.provenance import team_provenance
from builder.sources.agent_teams import iter_team_rows, plan_team_sources
from builder.sources.loaders import source_name
from builder.sources.mast import FAILURE_MODES
from builder.sources.otlp import TRACE_READING, TraceReading
from builder.sources.spans import JoinKind


TRACE_COUNTS = tuple(name for name in TraceReading.__dataclass_fields__ if name != "join")


@dataclass
class FailureModes:
    """MAST's failure modes as annotated (builder/sources/mast.py): per final code, the traces with a verdict and
    those flagged by the majority, per annotator kind; the human rounds' agreement between the three annotators
    (every mode of every taxonomy version they used: the share of verdicts all three gave alike, and Fleiss'
    kappa); the traces per system."""

    traces: Counter = field(default_factory=Counter)  # by annotator kind (human, llm)
    systems: Counter = field(default_factory=Counter)
    judged: Counter = field(default_factory=Counter)  # (annotator, code) -> traces with a verdict
    flagged: Counter = field(default_factory=Counter)  # (annotator, code) -> traces the majority flags
    unmapped: Counter = field(default_factory=Counter)  # earlier modes without a final code: title -> verdicts
    human_items: list = field(default_factory=list)  # (yes, no) counts of each three-annotator verdict

    def add(self, episode: dict) -> None:
        annotations = episode["annotations"]
        modes = [m for m in annotations["failure_modes"] if m["taxonomy"].startswith("mast_")]
        if not modes:
            return
        who = annotations["annotator"]
        self.traces[who] += 1
        self.systems[episode["task"].split(":")[1]] += 1
        for mode in modes:
            if mode["majority"] is None:
                continue
            if mode["code"] is None:
                self.unmapped[mode["title"]] += 1
            else:
                self.judged[who, mode["code"]] += 1
                self.flagged[who, mode["code"]] += mode["majority"]
            given = [flag for flag in mode["flags"] if flag is not None]
            if who == "human" and len(given) == 3:
                self.human_items.append((sum(given), 3 - sum(given)))

    def report(self) -> dict | None:
        if not self.traces:
            return None
        modes = [{"code": code, "title": title, "definition": definition,
                  **{f"{who}_judged": self.judged[who, code] for who in sorted(self.traces)},
                  **{f"{who}_flagged": self.flagged[who, code] for who in sorted(self.traces)}}
                 for code, (title, definition) in FAILURE_MODES.items()]
        return {"traces": dict(sorted(self.traces.items())), "systems": dict(sorted(self.systems.items())),
                "modes": modes, "earlier_modes_without_a_final_code": dict(sorted(self.unmapped.items())),
                "human_agreement": _agreement(self.human_items),
                "benchmark": None}  # each final code as a target, on the written data (builder/benchmark/analyses.py)


def _agreement(items: list[tuple[int, int]]) -> dict | None:
    """Three raters' yes/no verdicts: the share all three gave alike, and Fleiss' kappa."""
    if not items:
        return None
    raters = 3
    agreeing = sum(1 for yes, no in items if yes in (0, raters)) / len(items)
    observed = sum((yes * (yes - 1) + no * (no - 1)) / (raters * (raters - 1)) for yes, no in items) / len(items)
    share_yes = sum(yes for yes, _ in items) / (raters * len(items))
    expected = share_yes ** 2 + (1 - share_yes) ** 2
    kappa = None if expected == 1 else round((observed - expected) / (1 - expected), 3)
    return {"verdicts": len(items), "all_three_agree": round(agreeing, 3), "fleiss_kappa": kappa}


@dataclass
class ProviderUsage:
    """The provider's reported tokens of the LLM calls that carry them, beside tiktoken's counts of the same calls
    (the provider counts with the model's own tokenizer and chat format; tiktoken counts the contents only)."""

    calls_with_usage: int = 0
    provider_input_tokens: int = 0
    tiktoken_input_tokens: int = 0
    provider_output_tokens: int = 0
    tiktoken_output_tokens: int = 0

    def add(self, reply: dict) -> None:
        self.calls_with_usage += 1
        self.provider_input_tokens += reply["provider_input_tokens"] or 0
        self.tiktoken_input_tokens += reply["input_tokens"]
        self.provider_output_tokens += reply["provider_output_tokens"] or 0
        self.tiktoken_output_tokens += reply["output_tokens"]

    def __add__(self, other: "ProviderUsage") -> "ProviderUsage":
        return ProviderUsage(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def summary(self) -> dict:
        ratio = lambda a, b: round(a / b, 4) if b else None  # noqa: E731
        return asdict(self) | {"input_ratio": ratio(self.provider_input_tokens, self.tiktoken_input_tokens),
                               "output_ratio": ratio(self.provider_output_tokens, self.tiktoken_output_tokens)}


@dataclass
class TeamOutcomes(VoteOutcomes):
    """An N-agent tally, and the kinds of response, the provider's usage per source and the rows that the human
    failure attribution is measured on."""

    response_kinds: Counter = field(default_factory=Counter)
    single_speaker_runs: int = 0  # annotated runs in which one agent alone spoke (kept: builder/sources/agent_teams.py)
    provider_usage: defaultdict[str, ProviderUsage] = field(default_factory=lambda: defaultdict(ProviderUsage))
    trace_joins: Counter = field(default_factory=Counter)  # trace episodes by how their spans were gathered
    # per source: what its trace episodes were read from and hold (builder/sources/otlp.py's conservation)
    trace_reading: defaultdict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    failure_modes: FailureModes = field(default_factory=FailureModes)

    def add(self, episode: dict) -> str:
        group = super().add(episode)
        self.failure_modes.add(episode)
        reading = episode.get(TRACE_READING)
        if reading is not None:
            self.trace_joins[JoinKind(reading["join"])] += 1
            self.trace_reading[episode["source"]].update(
                {name: reading[name] for name in TRACE_COUNTS} | {"episodes": 1})
        self.response_kinds.update(r["kind"] for t in episode["turns"] for r in t["responses"])
        self.single_speaker_runs += len(episode["agents"]) == 1
        for reply in (r for t in episode["turns"] for r in t["responses"]):
            if reply["provider_input_tokens"] is not None or reply["provider_output_tokens"] is not None:
                self.provider_usage[episode["source"]].add(reply)
        return group

    def report(self, tally) -> dict:
        report = super().report(tally)
        report["response_kinds"] = dict(sorted(self.response_kinds.items()))
        report["single_speaker_runs"] = self.single_speaker_runs
        by_source = dict(sorted(self.provider_usage.items()))
        report["provider_usage"] = {**sum(by_source.values(), ProviderUsage()).summary(),
                                    "by_source": {s: usage.summary() for s, usage in by_source.items()}} \
            if by_source else None
        # a trace that nothing joins to others is an episode of its own: the report says how many
        report["trace_episodes"] = ({kind.value: self.trace_joins[kind] for kind in JoinKind}
                                    if self.trace_joins else None)
        # what was read of the traces and what the episodes hold, per source: LLM spans and responses are equal,
        # texts kept fall short of texts recorded only by the unread_content rejections counted beside them
        report["trace_conservation"] = ({source: {name: counts[name] for name in ("episodes", *TRACE_COUNTS)}
                                         for source, counts in sorted(self.trace_reading.items())}
                                        if self.trace_reading else None)
        report["failure_modes"] = self.failure_modes.report()
        report["human_attribution"] = None  # measured on the written data (builder/benchmark/analyses.py)
        return report


class AgentTeamFamily(EpisodeFamily):
    name = "agents"
    title = "Agent-team episodes"
    source_option = SourceOption(
        "--team-source",
        "Agent-team sources for the agents-* configs (repeatable): Who&When run files (its Algorithm-Generated and "
        "Hand-Crafted folders), AG2 / AutoGen group-chat transcripts, OTLP trace files, MAST's traces "
        "(mcemri/MAST-Data from the Hub, or its MAD_full_dataset.json / MAD_human_labelled_dataset.json), folders "
        "of them, or `sample`; "
        "`none` for no agent-team configs. Default: the embedded agent-team sample when --source is the embedded "
        "sample, otherwise none.")
    full_config, mini_config = "agents-full", "agents-mini"
    config_descriptions = {
        "agents-mini": "3 complete agent-team episodes chosen deterministically (different layouts first).",
        "agents-full": "Every accepted agent-team episode: histories of agents that speak in turn, address each "
                       "other and run tools (Who&When's AG2 and Magentic-One runs, AG2 group-chat transcripts, "
                       "OpenTelemetry traces, MAST's seven systems), one speaker a turn, with the source's own "
                       "failure annotations. Latents use a basis fitted on "
                       "these episodes alone.",
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
                          provenance=list(provenance.values()), sources=[source_name(s) for s in sources])

    def outcome_tally(self) -> TeamOutcomes:
        return TeamOutcomes()
