"""Many-model answer sets: one prompt answered by many models, each answer with a judge score
({question_id, prompt, agents: [{model, response, judge_score}]}). Each becomes a single-round voting
episode (topology `independent`: nobody reads a peer); the decision is the best-scored agent."""

from __future__ import annotations

from builder.episode import agent, check_id, check_number, check_text, empty_metadata, episode, response, turn
from builder.rejections import Rejection


def is_answer_set(row) -> bool:
    return isinstance(row, dict) and isinstance(row.get("agents"), list) and "prompt" in row


def answer_set_row_to_episode(row, source: str, max_text_chars: int) -> dict:
    if not isinstance(row, dict):
        raise Rejection("malformed_row", f"expected an object, got {type(row).__name__}")
    for name in ("question_id", "prompt", "agents"):
        if row.get(name) is None:
            raise Rejection("missing_field", name)
    check_id(row["question_id"], "question_id")
    members = row["agents"]
    if not isinstance(members, list) or len(members) < 2:
        raise Rejection("too_few_agents", f"{len(members) if isinstance(members, list) else 0} agent(s)")
    agents, responses, scores = [], [], []
    for position, member in enumerate(members):
        if not isinstance(member, dict) or not isinstance(member.get("model"), str):
            raise Rejection("invalid_type", f"agents[{position}] needs a model name")
        score = member.get("judge_score")
        if score is not None:
            score = check_number(score, f"agents[{position}].judge_score")
        agent_id = f"agent_{position}"
        agents.append(agent(agent_id, member["model"]))
        responses.append(response(agent_id, check_text(member.get("response"), max_text_chars, f"agents[{position}]"),
                                  judge_score=None if score is None else float(score)))
        scores.append(score)
    scored = [(s, i) for i, s in enumerate(scores) if s is not None]
    best = max(scored, key=lambda pair: (pair[0], -pair[1])) if scored else None
    return episode(
        episode_id=f"answers:{row['question_id']}",
        source=source,
        topology="independent",
        task=str(row.get("task") or "open_prompt"),
        agents=agents,
        turns=[turn(0, check_text(row["prompt"], max_text_chars, "prompt"), responses)],
        winner=None,
        outcome={"ground_truth": None, "final_answer": f"agent_{best[1]}" if best else None, "final_correct": None,
                 "final_consensus": None, "best_judge_score": float(best[0]) if best else None},
        metadata=empty_metadata(str(row["question_id"])),
    )
