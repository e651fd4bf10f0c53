"""The registry of episode families, in the order a build writes them (builder/families/base.py says what a
family is). A new kind of episode is one module and one line here: `register(NewFamily())`."""

from __future__ import annotations

from builder.families.agents import AgentTeamFamily
from builder.families.base import EpisodeFamily, FamilyPlan, SourceOption, VoteOutcomes
from builder.families.debate import DebateFamily
from builder.families.pairwise import PairwiseFamily

FAMILIES: list[EpisodeFamily] = []


def register(family: EpisodeFamily) -> EpisodeFamily:
    """Adds `family` to the registry, after the others; its names (family, configs, source flag, coordinator
    folder) may not clash with a registered family's."""
    for other in FAMILIES:
        clashes = ({other.name} & {family.name}) | (set(other.configs) & set(family.configs)) \
            | ({other.coordinator_dir} & {family.coordinator_dir}) \
            | ({_flag(other)} & {_flag(family)} - {None})
        if clashes:
            raise ValueError(f"family {family.name!r} clashes with {other.name!r} over {sorted(clashes)}")
    FAMILIES.append(family)
    return family


def _flag(family: EpisodeFamily) -> str | None:
    return family.source_option.flag if family.source_option else None


def family_named(name: str) -> EpisodeFamily | None:
    return next((family for family in FAMILIES if family.name == name), None)


def family_of_config(config_name: str) -> EpisodeFamily | None:
    """The family that writes `config_name`, or None."""
    return next((family for family in FAMILIES if config_name in family.configs), None)


def config_names() -> tuple[str, ...]:
    """Every registered config, family by family, small ones first."""
    return tuple(name for family in FAMILIES for name in family.configs)


class NothingToBuild(ValueError):
    """No family has a source in this build (every source option `none`)."""


def plan_families(config) -> list[FamilyPlan]:
    """Every family that has sources in this build, its sources resolved and recognised (before any work)."""
    plans = [plan for plan in (family.plan(config) for family in FAMILIES) if plan is not None]
    if not plans:
        flags = ", ".join(family.source_option.flag for family in FAMILIES if family.source_option)
        raise NothingToBuild(f"nothing to build: every family's source is none (give --source or one of {flags})")
    return plans


register(PairwiseFamily())
register(DebateFamily())
register(AgentTeamFamily())

__all__ = ["FAMILIES", "NothingToBuild", "EpisodeFamily", "FamilyPlan", "SourceOption", "VoteOutcomes", "config_names",
           "family_named", "family_of_config", "plan_families", "register"]
