"""How an episode's input tokens were counted (its `input_tokens_basis`): the one vocabulary. Each basis says how the
token-log stage counts a response's input and whether `validate` can recount it from the stored contents. A source
that rebuilds what each agent was sent from its own templates registers the rebuilder with its bases
(register_requests), so the stage asks this table, never a reader."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass


class Counting(enum.Enum):
    CONTENTS = "contents"  # what the agent read under the episode's topology and memory, from the stored contents
    READS = "reads"  # the messages the log says the agent read (stored: memory ids), from the stored contents
    REQUESTS = "requests"  # the requests rebuilt from the source's own templates (texts the dataset does not keep)
    RECORDED = "recorded"  # what the trace records as sent, counted whole
    PROVIDER = "provider"  # the provider's usage, where the trace records no content


@dataclass(frozen=True)
class InputBasis:
    name: str
    counting: Counting
    meaning: str

    @property
    def recountable(self) -> bool:
        """Counted from the stored contents alone: validate can derive the counts again."""
        return self.counting in (Counting.CONTENTS, Counting.READS)


CONTENT_ONLY = InputBasis("content_only", Counting.CONTENTS,
                          "the contents each agent read under the episode's topology and memory")
RECORDED_READS = InputBasis("recorded_reads", Counting.READS, "the messages the log records each agent read")
AGENT_SCALING_TEMPLATE = InputBasis("agent_scaling_template", Counting.REQUESTS,
                                    "Agent-Scaling's requests rebuilt from its prompt templates")
AGENT_SCALING_NO_QUESTION = InputBasis("agent_scaling_template_without_question", Counting.REQUESTS,
                                       "Agent-Scaling's requests rebuilt from its templates, the question unknown")
AGENT_SCALING_NO_PERSONA = InputBasis("agent_scaling_template_without_persona_prompt", Counting.REQUESTS,
                                      "Agent-Scaling's requests rebuilt from its templates, the persona prompts "
                                      "(in its code, not its log) left out")
RECORDED_MESSAGES = InputBasis("recorded_messages", Counting.RECORDED, "the messages the trace records as sent")
PROVIDER_USAGE = InputBasis("provider_usage", Counting.PROVIDER,
                            "the provider's reported input tokens (the trace records no content)")

INPUT_BASES = {basis.name: basis for basis in (
    CONTENT_ONLY, RECORDED_READS, AGENT_SCALING_TEMPLATE, AGENT_SCALING_NO_QUESTION, AGENT_SCALING_NO_PERSONA,
    RECORDED_MESSAGES, PROVIDER_USAGE)}

def basis_of(episode: dict) -> InputBasis:
    """The episode's basis; an episode that names none was counted from its contents."""
    return INPUT_BASES[episode.get("input_tokens_basis", CONTENT_ONLY.name)]


# basis name -> the source's function from an episode to its requests: [turn][response] -> [{"role", "content"}]
_REQUESTS: dict[str, Callable[[dict], list]] = {}


def register_requests(bases: tuple[InputBasis, ...], rebuild: Callable[[dict], list]) -> None:
    for basis in bases:
        if basis.counting is not Counting.REQUESTS:
            raise ValueError(f"{basis.name} is not counted from rebuilt requests")
        _REQUESTS[basis.name] = rebuild


class UnregisteredBasis(LookupError):
    pass


def rebuilt_requests(episode: dict) -> list:
    """The episode's requests, from the rebuilder its source registered for its basis."""
    name = episode["input_tokens_basis"]
    if name not in _REQUESTS:
        raise UnregisteredBasis(f"no source registered the requests of basis {name!r} (import builder.sources)")
    return _REQUESTS[name](episode)
