"""multi-llm-coord: the dataset's typed definition.

This file is the single source of truth for the episode schema. The `builder` package imports
`episode_features()` from here to write the Parquet files, and the same file is uploaded next to the
data so that a researcher can read the schema, or instantiate the builder class directly:

    from multi_llm_coord import MultiLlmCoord
    builder = MultiLlmCoord(config_name="mini", data_dir="path/to/built/folder")
    builder.download_and_prepare()
    episodes = builder.as_dataset(split="train")

`datasets` >= 4 no longer runs loading scripts, so the published repository loads from its Parquet files
and the README's `configs:` alone (`load_dataset("ORG/NAME", "mini")`); this module is never executed by
`load_dataset`. It must stay self-contained: it is uploaded alone, without the `builder` package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasets import Features


SCHEMA_VERSION = "2.2.0"  # 2: input_tokens_basis, turns.responses.latent, null prompts for rounds without one;
# 2.1: turns.responses.read_from (who read what, where the log records it), outcome.decision_success and
# outcome.correct_by, the relay and recorded topologies; agent-team episodes: agents.system_prompt,
# turns.responses.kind and .addressee, annotations (the source's own), the repetition / tool_error / off_task
# events, the agents-mini and agents-full configs; 2.2: annotations.failure_modes and annotations.note (MAST)

# The human verdict of a Chatbot Arena battle. Sources that spell "both bad" differently are normalised to
# these four names by the builder before they reach the dataset.
WINNER_NAMES = ["model_a", "model_b", "tie", "tie (bothbad)"]

# The coordination label vocabulary (ClassLabel names); builder/stages/labels applies these definitions.
AGREEMENT_LEVELS = ["low", "medium", "high"]

EVENT_DEFINITIONS: dict[str, str] = {
    "converge": "the agents' answers agree strongly (mean pairwise cosine >= 0.80)",
    "diverge": "the agents' answers disagree (mean pairwise cosine < 0.50)",
    "refusal": "at least one agent, but not all, refuses to answer",
    "all_refuse": "every agent refuses to answer",
    "empty_answer": "at least one answer is empty or whitespace only",
    "length_imbalance": "the longest answer has at least 3x the output tokens of the shortest",
    "topic_shift": "the prompt is unrelated to the previous turn's prompt (cosine < 0.30)",
    # Agent-team turns (one speaker each); appended, so the ids above keep their meaning.
    "repetition": "an agent says again what it said before (cosine >= 0.95 to one of its own earlier messages)",
    "tool_error": "a tool result reports an error (a non-zero exit code, a traceback or an error line)",
    "off_task": "a message is unrelated to the episode's task (cosine to its first prompt < 0.10)",
}
EVENTS = list(EVENT_DEFINITIONS)

PAIRWISE_CONFIGS = ("mini", "preview", "full")
DEBATE_CONFIGS = ("debate-mini", "debate-full")  # N-agent episodes (debates, votes), fitted on their own basis
AGENT_TEAM_CONFIGS = ("agents-mini", "agents-full")  # agent-team histories (one speaker a turn), their own basis
CONFIG_NAMES = PAIRWISE_CONFIGS + DEBATE_CONFIGS + AGENT_TEAM_CONFIGS
REQUIRED_CONFIGS = PAIRWISE_CONFIGS  # a build from arena data alone has no debate or agent-team configs
RESPONSE_KINDS = ("message", "thought", "tool_call", "tool_result")

# Who reads whom, and how much of the past each request carries (token accounting follows both).
TOPOLOGIES = ("pairwise_chat", "full_mesh", "sparse", "centralized", "independent", "relay", "recorded")
MEMORIES = ("full_history", "last_round")
DEFAULT_RANK = 16  # length of the latent vectors; a build with --rank R declares length R
DEFAULT_CONFIG = "full"

# Texts in the `preview` config are cut to this many characters (plus an ellipsis marker); every token
# count still describes the full, untruncated text.
PREVIEW_MAX_CHARS = 400
TRUNCATION_MARKER = " [...]"

_DESCRIPTION = """\
Multi-LLM coordination episodes: several language models answer the same user turns; each episode
records who said what, what every agent read and wrote in tokens (tiktoken), communication-efficiency
metrics and the outcome (a human or LLM verdict, or the correctness of the final answer). Pairwise battles
are two-agent episodes."""

_CITATION = """\
@misc{multi_llm_coord,
  title  = {multi-llm-coord: multi-LLM coordination episodes with token logs},
  note   = {Built with the multi-llm-coord builder; cite the sources listed in the dataset card as well},
  year   = {2026}
}"""

_LICENSE = "see the dataset card: each release carries the licences of its sources"


def episode_features(rank: int = DEFAULT_RANK) -> Features:
    """The episode schema for latent vectors of length `rank`. Every column is documented in `FIELD_DOCS`."""
    from datasets import ClassLabel, Features, List, Value  # on first use: see __getattr__ below

    response = {
        "agent_id": Value("string"),
        "content": Value("string"),
        "output_chars": Value("int32"),
        "output_tokens": Value("int32"),
        "input_tokens": Value("int32"),
        "input_chars": Value("int64"),
        "extracted_answer": Value("string"),
        "is_correct": Value("bool"),
        "judge_score": Value("float64"),
        "read_from": List({"turn_index": Value("int32"), "agent_id": Value("string")}),
        "kind": Value("string"),
        "addressee": Value("string"),
        "provider_input_tokens": Value("int32"),
        "provider_output_tokens": Value("int32"),
        "latent": List(Value("float32"), length=rank),
    }
    turn = {
        "turn_index": Value("int32"),
        "prompt": Value("string"),
        "prompt_chars": Value("int32"),
        "prompt_tokens": Value("int32"),
        "responses": List(response),
        "latent_z": List(Value("float32"), length=rank),
        "latent_h": List(Value("float32"), length=rank),
        "effective_diversity": Value("float64"),
        "consensus": Value("float64"),
        "coordination_events": List(ClassLabel(names=EVENTS)),
    }
    return Features(
        {
            "episode_id": Value("string"),
            "source": Value("string"),
            "topology": Value("string"),
            "memory": Value("string"),
            "input_tokens_basis": Value("string"),
            "task": Value("string"),
            "agents": List({"agent_id": Value("string"), "model": Value("string"), "persona": Value("string"),
                            "system_prompt": Value("string")}),
            "turns": List(turn),
            "winner": ClassLabel(names=WINNER_NAMES),
            "outcome": {
                "ground_truth": Value("string"),
                "final_answer": Value("string"),
                "final_correct": Value("bool"),
                "correct_by": Value("string"),
                "decision_success": Value("bool"),
                "final_consensus": Value("float64"),
                "best_judge_score": Value("float64"),
            },
            "metadata": {
                "question_id": Value("string"),
                "judge": Value("string"),
                "language": Value("string"),
                "tstamp": Value("float64"),
                "anony": Value("bool"),
                "judged_turn": Value("int32"),
                "moderation_flagged": Value("bool"),
                "moderation_categories": List(Value("string")),
                "toxic_chat_flagged": Value("bool"),
            },
            "token_totals": {
                "prompt_tokens": Value("int64"),
                "output_tokens": Value("int64"),
                "total_tokens": Value("int64"),
                "agent_input_tokens": Value("int64"),
                "provider_input_tokens": Value("int64"),
                "provider_output_tokens": Value("int64"),
                "per_agent": List(
                    {
                        "agent_id": Value("string"),
                        "input_tokens": Value("int64"),
                        "output_tokens": Value("int64"),
                        "output_chars": Value("int64"),
                        "system_prompt_tokens": Value("int64"),
                    }
                ),
            },
            "communication_efficiency": {
                "avg_tokens_per_turn": Value("float64"),
                "input_output_ratio": Value("float64"),
                "coordination_overhead": Value("float64"),
                "history_resend_ratio": Value("float64"),
            },
            "effective_diversity_mean": Value("float64"),
            "labels": {
                "coordination_success": Value("int32"),
                "agreement_level": ClassLabel(names=AGREEMENT_LEVELS),
                "efficiency_rating": Value("int32"),
                "rationale": Value("string"),
                "failure_agent": Value("string"),
                "failure_turn_index": Value("int32"),
                "labeler": {
                    "name": Value("string"),
                    "version": Value("string"),
                    "model": Value("string"),
                    "prompt_version": Value("string"),
                },
                "missing_reason": Value("string"),
            },
            "annotations": {
                "mistake_agent": Value("string"),
                "mistake_step": Value("int32"),
                "mistake_turn_index": Value("int32"),
                "mistake_reason": Value("string"),
                "annotator": Value("string"),
                "failure_modes": [{
                    "code": Value("string"),
                    "source_code": Value("string"),
                    "title": Value("string"),
                    "taxonomy": Value("string"),
                    "flags": [Value("bool")],
                    "majority": Value("bool"),
                }],
                "note": Value("string"),
            },
            "is_truncated": Value("bool"),
        }
    )


# Meaning and computation of every column (dotted paths for nested fields). The dataset card renders this
# table, and a test checks that every leaf of `episode_features()` is documented here.
FIELD_DOCS: dict[str, str] = {
    "episode_id": "Unique id of the episode (the source's question_id; for sources whose question ids name a "
    "question rather than a battle, such as MT-Bench, the id adds the models, judge and judged turn).",
    "source": "Where the episode came from: a Hub dataset id, a local file name, or `sample` for the embedded sample.",
    "topology": "Who reads whom: pairwise_chat (arena: each agent sees only its own conversation), full_mesh (every "
    "agent reads every peer's previous answer), sparse (ring: the two neighbours i-1 and i+1), centralized (agent 0 is "
    "the hub: it reads everyone, the others read only the hub), independent (one round, nobody reads a peer), relay "
    "(each agent reads only its predecessor i-1), recorded (the log records who read what in `turns.responses.read_from` "
    "and it follows none of these patterns). Where the log records the reads (MALLM's memory_ids), the topology is "
    "derived from them over the whole episode, not assumed from the paradigm's name.",
    "memory": "What each request carries: full_history (chat: every earlier prompt and answer is re-sent; arena, MALLM) "
    "or last_round (each round is a fresh request with the question, the agent's own last answer and its peers' last "
    "answers; Agent-Scaling's debate loop).",
    "input_tokens_basis": "How `input_tokens` was counted. agent_scaling_template: each request rebuilt from "
    "Agent-Scaling's own templates (question + instruction suffix in round 0; later rounds the peers' answers under "
    "their headers, the agent's own answer, the question and the suffix again), with Agent-Scaling's system message "
    "'You are a helpful assistant.' for agents on API models (gpt-*, o*, gemini-2.5-flash; a local model served "
    "through vLLM also got it, which the log does not record, so it is not counted there), and counted whole; "
    "agent_scaling_template_without_persona_prompt: the same, but the run put a persona prompt (not in the log) before "
    "each request, which is not counted; agent_scaling_template_without_question: the same, without a questions file "
    "(the question text is unknown and counted as empty); recorded_reads: the question plus the answers the log "
    "records the agent was given (MALLM's memory_ids, kept in `turns.responses.read_from`), content only; "
    "content_only: the sum of the message contents the agent reads under the topology and memory (arena chats, answer "
    "sets, MALLM exports without memory_ids), without chat-format or template tokens; recorded_messages: the contents "
    "of the messages an agent trace's LLM span records as sent (system prompt, history and tool results included), "
    "counted whole; provider_usage: a trace whose spans record no message content, so input_tokens is the "
    "provider's reported usage (and output_tokens too where the text is not recorded).",
    "task": "The task or benchmark of the episode (e.g. gsm8k for a debate log); `chat` for arena battles; for agent "
    "teams the source's layout (who_and_when:algorithm_generated, who_and_when:hand_crafted, agent_team) or "
    "agent_trace:<the trace's service.name>.",
    "agents": "The agents of the episode, in a fixed order that every per-agent list follows.",
    "agents.agent_id": "Agent id: `model_a` / `model_b` for arena battles (matching the winner label); the source's "
    "agent name in debates (Agent-Scaling's `Agent1`..., MALLM's agent ids, which are UUIDs) and `agent_<i>` in answer sets.",
    "agents.model": "The model behind the agent, as named by the source (MALLM: personas[].model).",
    "agents.persona": "The agent's persona or role (MALLM: the persona's name); empty for arena battles, which have none.",
    "agents.system_prompt": "The agent's system prompt where the log records it (Who&When's Algorithm-Generated runs); "
    "null otherwise. Where present it is counted in the agent's input_tokens.",
    "turns": "The turns (arena: user turns; debates: rounds) in order; each holds the prompt and every agent's response.",
    "turns.turn_index": "0-based position of the turn or round in the episode.",
    "turns.prompt": "The user message of the turn (identical for every agent). In a debate the question is the "
    "prompt of round 0; later rounds carry no new user message and store null (the agents read each other: see "
    "`input_tokens`); null also for a round 0 whose question the source does not hold (see `input_tokens_basis`).",
    "turns.prompt_chars": "Characters (Unicode code points) in the prompt.",
    "turns.prompt_tokens": "tiktoken tokens in the prompt (content only, no chat-format overhead; 0 for a null prompt).",
    "turns.responses": "One response per agent, in the order of `agents`.",
    "turns.responses.agent_id": "The agent that wrote the response.",
    "turns.responses.content": "The agent's answer at this turn.",
    "turns.responses.output_chars": "Characters in the answer.",
    "turns.responses.output_tokens": "tiktoken tokens in the answer: what the agent wrote at this turn.",
    "turns.responses.input_tokens": "Tokens the agent was sent at this turn. Where the source's request template is "
    "known (see `input_tokens_basis`), the rebuilt request counted whole. Otherwise (content_only) full_history: its conversation so far (every "
    "earlier prompt, its own earlier answers and the earlier answers of the peers N(i) it reads under the topology) "
    "plus the new prompt, input_i(t) = sum_{s<t} (prompt_s + out_i(s) + sum_{j in N(i)} out_j(s)) + prompt_t, which "
    "grows every turn because chat APIs re-send history. last_round: the question (round-0 prompt) plus, after round 0, "
    "its own and its peers' answers of the previous round.",
    "turns.responses.input_chars": "Characters the agent read at this turn, counted like `input_tokens`.",
    "turns.latent_z": "z_t: the turn observation projected on the build's low-rank basis (float32, length = rank). "
    "The observation is [e(prompt); mean over agents of e(answer); elementwise std over agents of e(answer)], e() the "
    "L2-normalised sentence embedding, so it does not depend on the order of the agents. The basis (pca by default) "
    "is fitted once per build, on every turn up to 4,000 turns and on a seeded uniform sample of 4,000 beyond, and "
    "saved in coordinator/. Not trained on any outcome (an unsupervised basis).",
    "turns.responses.latent": "This response's own projection on the same basis as latent_z (float32, length = rank): "
    "the observation the turn would have if this agent had answered alone, [e(prompt); e(answer); 0], projected. "
    "Unlike latent_z / latent_h it is per agent, so who said what is recoverable: for a pairwise battle the difference "
    "responses[0].latent - responses[1].latent is ordered (it changes sign when the two sides are swapped).",
    "turns.latent_h": "h_t: the recurrent coordinator state after this turn: h_1 = z_1, h_t = decay * h_(t-1) + "
    "(1 - decay) * z_t (decay in coordinator/coordinator.json, default 0.5). Not trained on any outcome: the trained "
    "coordinators of the card's rank curve are saved as models (coordinator/trained-coordinator.*), and their states "
    "are not stored in the rows, which they were fitted to predict.",
    "turns.effective_diversity": "N* (K*) of the agents' answers at this turn: exp(entropy) of the normalised "
    "eigenvalues of the uncentred Gram matrix of the L2-normalised answer embeddings (Agent-Scaling's definition). "
    "1 = identical answers, number of agents = orthogonal answers.",
    "turns.coordination_events": "Turn-level coordination events (a class-label list; a turn may have none): "
    + "; ".join(f"{name}: {text}" for name, text in EVENT_DEFINITIONS.items()) + ".",
    "turns.responses.extracted_answer": "The answer extracted from the response (debates): the source's own where the "
    "log has one per agent, else extracted from the text by the source's rule (Agent-Scaling's evaluator, for its "
    "centralized runs, which evaluate only the hub, and BAE runs, which drop unparsed answers); null where none "
    "parses, and for arena.",
    "turns.responses.is_correct": "Whether the extracted answer is correct (debates), the source's own flag or its "
    "evaluator's check where the log has none; null where unknown.",
    "turns.responses.judge_score": "A judge's score of the response (many-model answer sets, e.g. GPT-4 1-10); null otherwise.",
    "turns.responses.read_from": "The responses this agent was given before writing this one, as the log records them "
    "(MALLM: the messages named by memory_ids), in the order they were written: null where the log does not record it "
    "(then `topology` and `memory` say who reads whom). An agent's own earlier answers are included; an earlier "
    "message of the same response is not.",
    "turns.consensus": "Among the agents whose answer is known at this round, the share whose answer equals the most "
    "common one (debates; MALLM: the share of agreement flags where the agents state them); an answer the source "
    "could not parse is unknown, not a dissent; null where no answer is known.",
    "outcome": "Outcome of an N-agent episode (debates, votes); null fields for arena battles, whose outcome is `winner`.",
    "outcome.ground_truth": "The reference answer, where the task has one.",
    "outcome.final_answer": "The group's final answer (the debate's answer, or the decision of a voting round).",
    "turns.responses.kind": "What the response is: message (to the team, or to `addressee`), thought (an agent's own "
    "reasoning sent to no one: Magentic-One's orchestrator '(thought)' and '(termination condition)' entries), tool_call, "
    "or tool_result (a tool's or code executor's output: AG2's Computer_terminal, Magentic-One's ComputerTerminal).",
    "turns.responses.addressee": "The agent the message is addressed to where the log names one (Magentic-One's "
    "'Orchestrator (-> WebSurfer)'); null otherwise.",
    "turns.responses.provider_input_tokens": "The input tokens the model's provider reported for this call (agent "
    "traces: gen_ai.usage.input_tokens / llm.token_count.prompt of the LLM span; never a parent span's totals); null "
    "where the log has no usage. It counts with the model's own tokenizer and chat format, unlike input_tokens.",
    "turns.responses.provider_output_tokens": "The output tokens the provider reported for this call; null where the "
    "log has no usage.",
    "turns.responses.read_from.turn_index": "The turn of the response that was read.",
    "turns.responses.read_from.agent_id": "The agent that wrote the response that was read.",
    "outcome.final_correct": "Whether the final answer is correct, as `correct_by` says it was decided; null where no "
    "reference or no metric applies.",
    "outcome.correct_by": "How final_correct was decided: source (the log's own flag: Agent-Scaling's "
    "debate_answer_iscorr), mallm_multichoice (MALLM's multiple-choice metric on the final answer against the record's "
    "references: the option letter after 'Final Solution:', else the first capital letter followed by ')', ']', ':' or "
    "the end, equal to the reference's first character); null when final_correct is null.",
    "outcome.decision_success": "MALLM's decisionSuccess: whether the decision protocol reached a decision (not "
    "whether the answer is right); null for other sources.",
    "outcome.final_consensus": "turns.consensus of the last round.",
    "outcome.best_judge_score": "The highest judge score among the agents' answers (answer sets); null otherwise.",
    "winner": "Verdict of an arena battle: model_a, model_b, tie, or tie (bothbad) (both answers bad), as the source's "
    "judge gave it: a person's vote in the human-voted releases, an LLM judge's in others (`metadata.judge` names it; "
    "the card counts which, per source). `both_bad` in other arena releases is mapped to `tie (bothbad)`. Null for "
    "N-agent episodes (see `outcome`).",
    "metadata": "Source metadata of the battle; null where the source does not carry the field.",
    "metadata.question_id": "The source's question id, as a string (MT-Bench's integer ids are converted).",
    "metadata.judge": "The source's judge id: an anonymised person, or the name of an LLM judge (the card counts which).",
    "metadata.language": "Language of the conversation as detected by the source.",
    "metadata.tstamp": "Unix timestamp of the battle (one per conversation, not per turn; the 140k release's "
    "`timestamp` converted to seconds, UTC).",
    "metadata.anony": "Whether the models were anonymous to the voter.",
    "metadata.judged_turn": "The source's `turn` field: how many user turns the vote covers (MT-Bench: which turn was judged).",
    "metadata.moderation_flagged": "OpenAI moderation flagged the conversation (null when the source has no moderation).",
    "metadata.moderation_categories": "The moderation categories that were flagged, sorted.",
    "metadata.toxic_chat_flagged": "Either ToxicChat classifier (roberta-large or t5-large) flagged the conversation.",
    "token_totals": "Token totals of the episode.",
    "token_totals.prompt_tokens": "Sum of `turns.prompt_tokens` (each prompt counted once).",
    "token_totals.output_tokens": "Sum of every agent's `output_tokens` over all turns.",
    "token_totals.total_tokens": "prompt_tokens + output_tokens: every text of the episode counted once.",
    "token_totals.agent_input_tokens": "Sum of every agent's `input_tokens` over all turns: what the agents read, "
    "history re-sending included (the billed input of an API).",
    "token_totals.provider_input_tokens": "Sum of the responses' provider_input_tokens; null where no call reports usage.",
    "token_totals.provider_output_tokens": "Sum of the responses' provider_output_tokens; null where no call reports usage.",
    "token_totals.per_agent": "Per-agent totals, in the order of `agents`.",
    "token_totals.per_agent.agent_id": "The agent.",
    "token_totals.per_agent.input_tokens": "Sum of the agent's `input_tokens` over all turns.",
    "token_totals.per_agent.output_tokens": "Sum of the agent's `output_tokens` over all turns.",
    "token_totals.per_agent.output_chars": "Sum of the agent's `output_chars` over all turns.",
    "token_totals.per_agent.system_prompt_tokens": "tiktoken tokens of the agent's logged system prompt (0 where none "
    "is logged), which each of its `input_tokens` includes.",
    "communication_efficiency": "Communication-efficiency metrics; null where a denominator is zero.",
    "communication_efficiency.avg_tokens_per_turn": "total_tokens / number of turns.",
    "communication_efficiency.input_output_ratio": "agent_input_tokens / output_tokens: tokens the agents were sent per "
    "token they wrote (re-sent history, peers' answers and templates included).",
    "communication_efficiency.coordination_overhead": "Answer-length imbalance: (max over agents of output tokens - min "
    "over agents) / total_tokens. For two agents |out_a - out_b| / total_tokens; for N "
    "agents the spread of the agents' output budgets relative to the episode's size. It does not measure messages "
    "spent on coordinating.",
    "communication_efficiency.history_resend_ratio": "agent_input_tokens / (number of agents x prompt_tokens): 1.0 for "
    "a single-turn episode counted content only (every agent is sent just the prompt); above 1 it measures what "
    "multi-turn coordination re-sends (history, peers' answers, template text).",
    "effective_diversity_mean": "Mean of turns.effective_diversity over the episode's turns.",
    "labels": "Coordination labels of the episode, from the offline labeler (default) or an LLM judge; neither reads the outcome.",
    "labels.coordination_success": "0-10: did the agents together serve the user, judged from the texts alone (never "
    "from the outcome, so it can be compared with it). Offline: on-topic answers (cosine to the prompt) add up to 5, "
    "converging answers up to 3, refusals and empty answers subtract; see the card's label section.",
    "labels.agreement_level": "low / medium / high agreement of the answers: offline, mean pairwise cosine of the answer "
    "embeddings >= 0.80 high, >= 0.60 medium, else low (agent teams, one speaker a turn: each message against the "
    "previous message of another agent, the one it answers).",
    "labels.efficiency_rating": "0-10: how economically tokens were spent (offline: balance of the output budgets, "
    "re-sent history, share of output tokens not spent on refusals or empty answers); no outcome is read.",
    "labels.rationale": "Why, in words built from the numbers (offline) or written by the judge.",
    "labels.failure_agent": "For episodes whose agents speak one at a time (agent teams): the agent this labeler holds "
    "responsible for the decisive mistake, were the run to fail (no labeler reads the outcome or the source's "
    "annotations). Offline: the speaker of the first turn with a failure event (a tool error: the agent whose code "
    "failed), else of the last turn that is not a tool result. Judge: its answer to one all-at-once prompt. Null for "
    "other episodes.",
    "labels.failure_turn_index": "The turn of that decisive mistake (see failure_agent); null where failure_agent is.",
    "labels.labeler": "Who labelled: name and version (offline_rules / offline_rules_v3, or llm_judge), and for a judge its model and prompt version.",
    "labels.labeler.name": "Labeler name.",
    "labels.labeler.version": "Labeler recipe version.",
    "labels.labeler.model": "The judge model (null for the offline labeler).",
    "labels.labeler.prompt_version": "The judge prompt version (null for the offline labeler).",
    "labels.missing_reason": "Null when labelled; otherwise why the judge gave no valid label (the label fields are then null).",
    "annotations": "The source's own annotations of the episode, apart from this dataset's labels: for Who&When, a "
    "human's attribution of the run's failure to one agent and one step. Null fields where the source has none.",
    "annotations.mistake_agent": "The agent the annotator holds responsible for the failure (Who&When's mistake_agent).",
    "annotations.mistake_step": "The step of that mistake as the source numbers it: a 0-based index into the source's "
    "history (Who&When's mistake_step, stored there as a string).",
    "annotations.mistake_turn_index": "The turn of this episode that holds that step (a user's message is a prompt, "
    "not a turn, so the numbers can differ); null where the step is a user's message.",
    "annotations.mistake_reason": "The annotator's reason, as written.",
    "annotations.annotator": "Who annotated: human (Who&When's annotations and MAST's human-labelled traces), "
    "llm (MAST's full dataset, labelled by its authors' LLM judge), or null.",
    "annotations.failure_modes": "MAST's failure modes of the trace, one entry per mode the annotation names, as its "
    "authors wrote them; empty for other sources. Never read by this dataset's labels, events or latents.",
    "annotations.failure_modes.code": "The mode's code in MAST's final taxonomy of 14 (1.1 to 3.3); null for a mode of an "
    "earlier version that the final taxonomy has no counterpart for.",
    "annotations.failure_modes.source_code": "The code as the annotation numbers it (earlier versions number differently).",
    "annotations.failure_modes.title": "The mode's title as the annotation writes it.",
    "annotations.failure_modes.taxonomy": "The taxonomy version: mast_14 (final), mast_17 or mast_18 (the human "
    "annotation rounds 1 to 3), or note_checklist (an annotator's yes/no checklist in the trace's note).",
    "annotations.failure_modes.flags": "Each annotator's verdict in order (three for MAST's human rounds, one for the "
    "LLM judge); null where the annotator left it empty (NaN).",
    "annotations.failure_modes.majority": "Whether more than half of the annotators who gave a verdict flagged the mode.",
    "annotations.note": "The annotators' free-text note on the trace, as written (MAST's note.text); null where none.",
    "is_truncated": "True in the `preview` config, whose texts are cut to "
    f"{PREVIEW_MAX_CHARS} characters followed by '{TRUNCATION_MARKER.strip()}'; token counts refer to the full texts.",
}

# Flat per-battle token fields (one row per turn, sides a and b) and the columns that hold them (rendered in the card).
FLAT_TOKEN_FIELDS: list[tuple[str, str]] = [
    ("turn_number", "turns.turn_index + 1"),
    ("timestamp_offset", "not available: the arena logs carry one timestamp per conversation (metadata.tstamp)"),
    ("input_tokens", "turns.prompt_tokens (the new user prompt); what each agent really read is turns.responses.input_tokens"),
    ("input_length", "turns.prompt_chars"),
    ("response_a_tokens", "turns.responses[0].output_tokens"),
    ("response_a_length", "turns.responses[0].output_chars"),
    ("response_b_tokens", "turns.responses[1].output_tokens"),
    ("response_b_length", "turns.responses[1].output_chars"),
    ("total_input_tokens", "token_totals.prompt_tokens"),
    ("total_output_tokens_a", "token_totals.per_agent[0].output_tokens"),
    ("total_output_tokens_b", "token_totals.per_agent[1].output_tokens"),
    ("total_tokens", "token_totals.total_tokens"),
    ("avg_tokens_per_turn", "communication_efficiency.avg_tokens_per_turn"),
    ("input_output_ratio", "communication_efficiency.input_output_ratio (computed from what the agents were sent, "
                           "agent_input_tokens / output_tokens; a prompt-based ratio is "
                           "token_totals.prompt_tokens / token_totals.output_tokens)"),
    ("coordination_overhead", "communication_efficiency.coordination_overhead (|out_a - out_b| / total_tokens)"),
]


CONFIG_DESCRIPTIONS = {
    "mini": "3 complete episodes chosen deterministically (the longest multi-turn episode if any, then different winners).",
    "preview": f"The mini episodes with every text cut to {PREVIEW_MAX_CHARS} characters, for quick inspection.",
    "full": "Every accepted pairwise (arena) episode of the build (after the build's optional selection).",
    "debate-mini": "3 complete N-agent episodes chosen deterministically (several topologies and sources).",
    "debate-full": "Every accepted N-agent episode: multi-agent debates (Agent-Scaling, MALLM) and many-model answer "
    "sets (one voting round). Latents use a basis fitted on these episodes alone.",
    "agents-mini": "3 complete agent-team episodes chosen deterministically (different layouts first).",
    "agents-full": "Every accepted agent-team episode: histories of agents that speak in turn, address each other and "
    "run tools (Who&When's AG2 and Magentic-One runs, AG2 group-chat transcripts, OpenTelemetry traces, MAST's seven "
    "systems), one speaker a turn, with the source's own failure annotations. Latents use a basis fitted on these "
    "episodes alone.",
}


def __getattr__(name: str):
    """The builder classes are made on first use (PEP 562). Importing this module for its schema constants must
    not import `datasets`: that costs about a second, and huggingface libraries read HF_HUB_OFFLINE once, when
    they are imported (the builder's command line chooses offline mode after parsing its options)."""
    if name in ("MultiLlmCoord", "MultiLlmCoordConfig"):
        globals().update(_builder_classes())
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _builder_classes() -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    import datasets
    from datasets.table import table_cast

    try:  # datasets >= 5 names the example keys; older versions accept plain tuples
        from datasets.builder import Key
    except ImportError:  # pragma: no cover - depends on the installed datasets version
        def Key(shard_id: int, batch_id: int):  # noqa: N802 - mirrors the class name it replaces
            return (shard_id, batch_id)

    @dataclass
    class MultiLlmCoordConfig(datasets.BuilderConfig):
        """A config of the dataset: which folder of Parquet files under `data/` it reads.

        `rank` is the latent length the data was built with (coordinator/coordinator.json says; default 16).
        """

        rank: int = DEFAULT_RANK


    class MultiLlmCoord(datasets.ArrowBasedBuilder):
        """Reads the published Parquet files of one config with the declared features."""

        BUILDER_CONFIG_CLASS = MultiLlmCoordConfig
        BUILDER_CONFIGS = [
            MultiLlmCoordConfig(name=name, version=datasets.Version(SCHEMA_VERSION), description=CONFIG_DESCRIPTIONS[name])
            for name in CONFIG_NAMES
        ]
        DEFAULT_CONFIG_NAME = DEFAULT_CONFIG

        def _info(self) -> datasets.DatasetInfo:
            return datasets.DatasetInfo(
                description=_DESCRIPTION,
                features=episode_features(self.config.rank),
                citation=_CITATION,
                license=_LICENSE,
            )

        def _split_generators(self, dl_manager):
            # `data_dir` is a local built folder or a Hub repo ("hf://datasets/ORG/NAME"); the files are
            # resolved with the same pattern machinery `load_dataset` uses.
            base_path = self.config.data_dir or self.base_path
            if not base_path:
                raise ValueError("MultiLlmCoord needs data_dir: a built folder or hf://datasets/ORG/NAME")
            # Every config has `train`; the *-full configs also `validation` and `test` (split by prompt group).
            generators = []
            for split in ("train", "validation", "test"):
                try:
                    files = datasets.data_files.DataFilesList.from_patterns([f"data/{self.config.name}/{split}-*.parquet"],
                                                                            base_path=base_path)
                except FileNotFoundError:
                    continue
                if not files:
                    continue
                generators.append(datasets.SplitGenerator(name=split, gen_kwargs={"files": dl_manager.download(list(files))}))
            return generators

        def _generate_tables(self, files):
            schema = self.info.features.arrow_schema
            for file_index, path in enumerate(files):
                with open(path, "rb") as handle:
                    for batch_index, batch in enumerate(pq.ParquetFile(handle).iter_batches()):
                        yield Key(file_index, batch_index), table_cast(pa.Table.from_batches([batch]), schema)

    return {"MultiLlmCoord": MultiLlmCoord, "MultiLlmCoordConfig": MultiLlmCoordConfig}
