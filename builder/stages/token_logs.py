"""Token logs: per turn and per agent, what was read and written, in tiktoken tokens and characters.

Definitions (rendered in the dataset card; names are the dataset's columns):
- prompt_tokens / prompt_chars: the user message of the turn.
- output_tokens / output_chars: the agent's answer at the turn.
- input_tokens / input_chars: everything agent i is sent at turn t. Where the source's request template is
  known (Agent-Scaling: `input_tokens_basis` agent_scaling_template*), the request is rebuilt from it
  (builder.sources.agent_scaling.agent_scaling_requests) and counted whole, template text included.
  Otherwise (`content_only`) it is the sum of the contents the agent reads, following the episode's memory:
      full_history (chat APIs re-send the conversation; arena, MALLM):
          input_i(t) = sum_{s<t} (prompt(s) + output_i(s) + sum_{j in N(i)} output_j(s)) + prompt(t)
      last_round (each round a fresh request: question, own last answer, peers' last answers; Agent-Scaling):
          input_i(0) = prompt(0);  input_i(t) = prompt(0) + prompt(t) + output_i(t-1) + sum_{j in N(i)} output_j(t-1)
  N(i) by topology: pairwise_chat and independent: nobody; full_mesh: every other agent; sparse: the ring
  neighbours i-1 and i+1; centralized: agent 0 (the hub) reads everyone, the others read the hub.
  For an arena battle this is its own conversation; in a debate, rounds after the first have no new
  prompt (null) and the agent reads answers instead.
  Where the log records what each agent was given (`input_tokens_basis` recorded_reads: MALLM's memory_ids,
  kept as `turns.responses.read_from`), no topology is assumed: input_i(t) = prompt(0) + the outputs of the
  responses in read_from (every MALLM request carries the task and the question).
  Content only: chat-format overhead (role markers, ~3-4 tokens a message) is not counted. An agent's system
  prompt, where the log records it (`agents.system_prompt`), is part of every request it is sent and is added.
  Agent teams speak one agent a turn: the formulas take an agent that does not speak at a turn as writing
  nothing; under full_mesh and full_history the speaker at t is sent the whole transcript before t.
Episode totals and communication efficiency (null where a denominator is zero):
- prompt_tokens = sum_t prompt(t); output_tokens = sum_{i,t} output_i(t);
  total_tokens = prompt_tokens + output_tokens; agent_input_tokens = sum_{i,t} input_i(t)
- avg_tokens_per_turn = total_tokens / turns
- input_output_ratio = agent_input_tokens / output_tokens: tokens the agents were sent per token they wrote
- coordination_overhead = (max_i out_i - min_i out_i) / total_tokens, out_i the agent's total output: the
  imbalance of the agents' answer lengths (for two agents |out_b - out_a| / total_tokens, e.g. 202 / 725 = 0.279)
- history_resend_ratio = agent_input_tokens / (agents x prompt_tokens): 1 for a single-turn episode counted
  content only (each agent is sent just the prompt); above 1 it measures re-sent history, peers' answers and
  template text
Tokens are counted with `encode_ordinary`: text that looks like a special token is counted as text.
"""

from __future__ import annotations

from functools import cached_property

import builder.sources  # noqa: F401  (the sources' input bases and request rebuilders are registered)
from builder.stages.base import EpisodeStage
from builder.stages.tokenizer import get_encoding
from builder.token_bases import Counting, InputBasis, basis_of, rebuilt_requests


def safe_ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def readers_of(topology: str, agents: int) -> list[list[int]]:
    """N(i) for each agent i: the peers whose previous answers agent i reads."""
    everyone = range(agents)
    if topology in ("pairwise_chat", "independent"):
        return [[] for _ in everyone]
    if topology == "full_mesh":
        return [[j for j in everyone if j != i] for i in everyone]
    if topology == "sparse":
        return [sorted({(i - 1) % agents, (i + 1) % agents} - {i}) for i in everyone]
    if topology == "centralized":
        return [[j for j in everyone if j != 0] if i == 0 else [0] for i in everyone]
    raise ValueError(f"unknown topology {topology!r}")


def inputs_per_turn(topology: str, memory: str, prompts: list[int], outputs: list[list[int]]) -> list[list[int]]:
    """What each agent reads at each turn (tokens or characters), from the prompt sizes and the answer sizes
    outputs[turn][agent]; the definitions are in the module docstring."""
    agents = len(outputs[0]) if outputs else 0
    peers = readers_of(topology, agents)
    reads, history = [], [0] * agents
    for t, (prompt, written) in enumerate(zip(prompts, outputs)):
        if memory == "last_round":
            previous = outputs[t - 1] if t else [0] * agents
            reads.append([prompts[0] * (t > 0) + prompt + previous[i] + sum(previous[j] for j in peers[i])
                          for i in range(agents)])
        elif memory == "full_history":
            reads.append([history[i] + prompt for i in range(agents)])
            history = [history[i] + prompt + written[i] + sum(written[j] for j in peers[i]) for i in range(agents)]
        else:
            raise ValueError(f"unknown memory {memory!r}")
    return reads


def inputs_from_reads(episode: dict, unit: str) -> list[list[int]]:
    """recorded_reads: the question (the first turn's prompt, which every request carries) plus the responses
    the log records each agent was given (`read_from`), in `unit` (tokens or chars)."""
    turns = episode["turns"]
    written = {(t["turn_index"], r["agent_id"]): r[f"output_{unit}"] for t in turns for r in t["responses"]}
    question = turns[0][f"prompt_{unit}"]
    return [[question + sum(written[(read["turn_index"], read["agent_id"])] for read in response["read_from"] or ())
             for response in turn["responses"]] for turn in turns]


def content_inputs(episode: dict, unit: str, system: dict[str, int] | None = None) -> list[list[int]]:
    """What each responding agent read at each turn ([turn][response]), counted content only: from the recorded
    reads where the log has them (basis recorded_reads), else from the topology and memory (the formulas in the
    module docstring), plus the agent's system prompt (`system`: {agent id: size}) where one is logged. A turn
    may hold fewer responses than there are agents (agent teams: one speaker a turn): an agent that does not
    speak writes nothing that turn, but under full_history it still receives what the others wrote."""
    system = system or {}
    turns = episode["turns"]
    if basis_of(episode).counting is Counting.READS:
        reads = inputs_from_reads(episode, unit)
        return [[value + system.get(r["agent_id"], 0) for r, value in zip(t["responses"], row)]
                for t, row in zip(turns, reads)]
    position = {a["agent_id"]: i for i, a in enumerate(episode["agents"])}
    outputs = []
    for turn in turns:
        row = [0] * len(position)
        for response in turn["responses"]:
            row[position[response["agent_id"]]] = response[f"output_{unit}"]
        outputs.append(row)
    reads = inputs_per_turn(episode["topology"], episode.get("memory", "full_history"),
                            [t[f"prompt_{unit}"] for t in turns], outputs)
    return [[reads[t][position[r["agent_id"]]] + system.get(r["agent_id"], 0) for r in turn["responses"]]
            for t, turn in enumerate(turns)]


class TokenLogStage(EpisodeStage):
    name = "token_logs"
    version = 4  # 3: Agent-Scaling requests rebuilt from its templates; input_output_ratio from input tokens;
    # 4: recorded reads (MALLM memory_ids), Agent-Scaling's system message for API agents, logged system prompts,
    # turns with some of the agents

    def __init__(self, encoding_name: str = "cl100k_base"):
        self.encoding_name = encoding_name

    @cached_property
    def encoding(self):
        return get_encoding(self.encoding_name)

    def count(self, text: str) -> int:
        return len(self.encoding.encode_ordinary(text))

    def count_recorded(self, response: dict, basis: InputBasis) -> None:
        """An agent trace's call: what its span records as sent, counted whole (recorded_messages), or, where no
        content is recorded, the provider's usage (provider_usage); a tool's result was sent nothing."""
        sent = response.pop("sent", None) or []
        if basis.counting is Counting.PROVIDER:
            response["input_tokens"], response["input_chars"] = response.get("provider_input_tokens") or 0, 0
            if not response["content"] and response.get("provider_output_tokens") is not None:
                response["output_tokens"] = response["provider_output_tokens"]
            return
        texts = [text for m in sent for text in (m["content"], *m["calls"]) if text]
        response["input_tokens"] = sum(self.count(text) for text in texts)
        response["input_chars"] = sum(len(text) for text in texts)

    def describe(self) -> dict:
        import tiktoken

        return {"stage": self.name, "version": self.version, "library": "tiktoken", "library_version": tiktoken.__version__,
                "encoding": self.encoding_name,
                "counting": "encode_ordinary; requests rebuilt from the source's template where known, else the contents read "
                            "(as the log records them where it does, else by topology and memory)"}

    def process(self, episode: dict) -> dict:
        agent_ids = [agent["agent_id"] for agent in episode["agents"]]
        turns = episode["turns"]
        for turn in turns:
            turn["prompt_tokens"] = self.count(turn["prompt"]) if turn["prompt"] is not None else 0
            turn["prompt_chars"] = len(turn["prompt"]) if turn["prompt"] is not None else 0
            for response in turn["responses"]:
                response["output_tokens"] = self.count(response["content"])
                response["output_chars"] = len(response["content"])
        basis = basis_of(episode)
        if basis.counting in (Counting.RECORDED, Counting.PROVIDER):
            for turn in turns:
                for response in turn["responses"]:
                    self.count_recorded(response, basis)
        elif basis.counting is Counting.REQUESTS:
            for turn, requests in zip(turns, rebuilt_requests(episode)):
                for response, messages in zip(turn["responses"], requests):
                    response["input_tokens"] = sum(self.count(m["content"]) for m in messages)
                    response["input_chars"] = sum(len(m["content"]) for m in messages)
        else:
            for unit, size in (("tokens", self.count), ("chars", len)):
                system = {a["agent_id"]: size(a["system_prompt"]) for a in episode["agents"] if a.get("system_prompt")}
                for turn, row in zip(turns, content_inputs(episode, unit, system)):
                    for response, value in zip(turn["responses"], row):
                        response[f"input_{unit}"] = value

        read_totals, written_totals, written_chars = (dict.fromkeys(agent_ids, 0) for _ in range(3))
        for turn in turns:  # by agent id: a turn may hold only some of the agents (one speaker a turn)
            for response in turn["responses"]:
                read_totals[response["agent_id"]] += response["input_tokens"]
                written_totals[response["agent_id"]] += response["output_tokens"]
                written_chars[response["agent_id"]] += response["output_chars"]
        system_tokens = {a["agent_id"]: self.count(a["system_prompt"]) if a.get("system_prompt") else 0
                         for a in episode["agents"]}
        prompt_total = sum(t["prompt_tokens"] for t in turns)

        output_total = sum(written_totals.values())
        provider = {}  # what the provider reported, beside tiktoken's counts: null where no call reports usage
        for side in ("input", "output"):
            reported = [r[f"provider_{side}_tokens"] for t in turns for r in t["responses"]
                        if r.get(f"provider_{side}_tokens") is not None]
            provider[f"provider_{side}_tokens"] = sum(reported) if reported else None
        total = prompt_total + output_total
        agent_input_total = sum(read_totals.values())
        episode["token_totals"] = {
            **provider,
            "prompt_tokens": prompt_total,
            "output_tokens": output_total,
            "total_tokens": total,
            "agent_input_tokens": agent_input_total,
            "per_agent": [
                {"agent_id": agent, "input_tokens": read_totals[agent], "output_tokens": written_totals[agent],
                 "output_chars": written_chars[agent], "system_prompt_tokens": system_tokens[agent]}
                for agent in agent_ids
            ],
        }
        outputs = list(written_totals.values())
        episode["communication_efficiency"] = {
            "avg_tokens_per_turn": safe_ratio(total, len(episode["turns"])),
            "input_output_ratio": safe_ratio(agent_input_total, output_total),
            "coordination_overhead": safe_ratio(max(outputs) - min(outputs), total),
            "history_resend_ratio": safe_ratio(agent_input_total, len(agent_ids) * prompt_total),
        }
        return episode
