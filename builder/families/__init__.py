"""The registry of episode families, in the order a build writes them (builder/families/base.py says what a
family is). The first family is always planned; its section is the top level of the report."""

from __future__ import annotations

from builder.families.agents import AgentTeamFamily
from builder.families.base import EpisodeFamily, FamilyPlan
from builder.families.debate import DebateFamily
from builder.families.pairwise import PairwiseFamily

FAMILIES: list[EpisodeFamily] = [PairwiseFamily(), DebateFamily(), AgentTeamFamily()]


def plan_families(config) -> list[FamilyPlan]:
    """Every family that has sources in this build, its sources resolved and recognised (before any work)."""
    return [plan for plan in (family.plan(config) for family in FAMILIES) if plan is not None]


__all__ = ["FAMILIES", "EpisodeFamily", "FamilyPlan", "plan_families"]
