"""The label vocabulary and its definitions (rendered in the dataset card).

Episode labels
- coordination_success (0-10): did the agents, together, give the user what it needed? Offline: see
  builder.stages.labels.offline; judge: the rubric in builder.stages.labels.judge.
- agreement_level (low / medium / high): how much the agents' answers agree in content.
- efficiency_rating (0-10): how economically the tokens were spent for the outcome reached.
- rationale: one or two sentences built from the numbers (offline) or written by the judge.
Turn-level coordination events (a turn can have several, or none):
"""

from __future__ import annotations

from multi_llm_coord import AGREEMENT_LEVELS, EVENT_DEFINITIONS, EVENTS  # defined with the schema

__all__ = ["AGREEMENT_LEVELS", "EVENTS", "EVENT_DEFINITIONS"]
