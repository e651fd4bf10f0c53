"""Token logs: per turn and per agent, what was read and written, in tiktoken tokens and characters.

Definitions (rendered in the dataset card; names are the dataset's columns):
- prompt_tokens / prompt_chars: the user message of the turn.
- output_tokens / output_chars: the agent's answer at the turn.
- input_tokens / input_chars: everything agent i reads at turn t: every earlier prompt, its own earlier
  answers (chat APIs re-send the history) and the earlier answers of the peers N(i) it reads under the
  episode's topology, plus the new prompt:
      input_i(t) = sum_{s<t} (prompt(s) + output_i(s) + sum_{j in N(i)} output_j(s)) + prompt(t)
  N(i) by topology: pairwise_chat and independent: nobody; full_mesh: every other agent; sparse: the ring
  neighbours i-1 and i+1; centralized: agent 0 (the hub) reads everyone, the others read the hub.
  For an arena battle this is its own conversation; in a debate, round r's prompt is empty and the agent
  reads its own and its peers' earlier answers.
  Content only: chat-format overhead (role markers, ~3-4 tokens a message) is not counted.
Episode totals and communication efficiency (null where a denominator is zero):
- prompt_tokens = sum_t prompt(t); output_tokens = sum_{i,t} output_i(t);
  total_tokens = prompt_tokens + output_tokens; agent_input_tokens = sum_{i,t} input_i(t)
- avg_tokens_per_turn = total_tokens / turns
- input_output_ratio = prompt_tokens / output_tokens
- coordination_overhead = (max_i out_i - min_i out_i) / total_tokens, out_i the agent's total output;
  for two agents |out_a - out_b| / total_tokens (the seed report's worked example: 202 / 725 = 0.279)
- history_resend_ratio = agent_input_tokens / (agents x prompt_tokens)
Tokens are counted with `encode_ordinary`: text that looks like a special token is counted as text.
"""

from __future__ import annotations

from functools import cached_property

from builder.stages.base import EpisodeStage
from builder.stages.tokenizer import get_encoding


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


class TokenLogStage(EpisodeStage):
    name = "token_logs_v2"  # v2: peers' answers count as input under the episode's topology

    def __init__(self, encoding_name: str = "cl100k_base"):
        self.encoding_name = encoding_name

    @cached_property
    def encoding(self):
        return get_encoding(self.encoding_name)

    def count(self, text: str) -> int:
        return len(self.encoding.encode_ordinary(text))

    def describe(self) -> dict:
        import tiktoken

        return {"stage": self.name, "library": "tiktoken", "library_version": tiktoken.__version__,
                "encoding": self.encoding_name, "counting": "encode_ordinary, content only"}

    def process(self, episode: dict) -> dict:
        agent_ids = [agent["agent_id"] for agent in episode["agents"]]
        peers = readers_of(episode["topology"], len(agent_ids))
        history_tokens = [0] * len(agent_ids)
        history_chars = [0] * len(agent_ids)
        read_totals = dict.fromkeys(agent_ids, 0)
        written_totals = dict.fromkeys(agent_ids, 0)
        written_chars = dict.fromkeys(agent_ids, 0)
        prompt_total = 0

        for turn in episode["turns"]:
            turn["prompt_tokens"] = prompt_tokens = self.count(turn["prompt"])
            turn["prompt_chars"] = prompt_chars = len(turn["prompt"])
            prompt_total += prompt_tokens
            for i, response in enumerate(turn["responses"]):
                agent = response["agent_id"]
                response["input_tokens"] = history_tokens[i] + prompt_tokens
                response["input_chars"] = history_chars[i] + prompt_chars
                response["output_tokens"] = self.count(response["content"])
                response["output_chars"] = len(response["content"])
                read_totals[agent] += response["input_tokens"]
                written_totals[agent] += response["output_tokens"]
                written_chars[agent] += response["output_chars"]
            # What each agent will have read before the next turn: this prompt, its answer, its peers' answers.
            outputs = [(r["output_tokens"], r["output_chars"]) for r in turn["responses"]]
            for i in range(len(agent_ids)):
                history_tokens[i] += prompt_tokens + outputs[i][0] + sum(outputs[j][0] for j in peers[i])
                history_chars[i] += prompt_chars + outputs[i][1] + sum(outputs[j][1] for j in peers[i])

        output_total = sum(written_totals.values())
        total = prompt_total + output_total
        agent_input_total = sum(read_totals.values())
        episode["token_totals"] = {
            "prompt_tokens": prompt_total,
            "output_tokens": output_total,
            "total_tokens": total,
            "agent_input_tokens": agent_input_total,
            "per_agent": [
                {"agent_id": agent, "input_tokens": read_totals[agent], "output_tokens": written_totals[agent],
                 "output_chars": written_chars[agent]}
                for agent in agent_ids
            ],
        }
        outputs = list(written_totals.values())
        episode["communication_efficiency"] = {
            "avg_tokens_per_turn": safe_ratio(total, len(episode["turns"])),
            "input_output_ratio": safe_ratio(prompt_total, output_total),
            "coordination_overhead": safe_ratio(max(outputs) - min(outputs), total),
            "history_resend_ratio": safe_ratio(agent_input_total, len(agent_ids) * prompt_total),
        }
        return episode
