"""Selection of the configs: full (language, limit, stratification), mini, preview."""

from __future__ import annotations

from collections import Counter

from builder.selection import EpisodeKey, make_preview, select_full, select_mini, stratum_key, truncate_text
from multi_llm_coord import PREVIEW_MAX_CHARS, TRUNCATION_MARKER

WINNERS = ["model_a", "model_b", "tie", "tie (bothbad)"]


def episode(index, models=("m1", "m2"), winner="model_a", turns=1, language="English"):
    return EpisodeKey.of(episode_dict(index, models, winner, turns, language))


def episode_dict(index, models=("m1", "m2"), winner="model_a", turns=1, language="English"):
    return {
        "episode_id": f"e-{index:03d}",
        "agents": [{"agent_id": "model_a", "model": models[0]}, {"agent_id": "model_b", "model": models[1]}],
        "turns": [{"prompt": "p" * 500, "responses": [{"content": "a" * 900}, {"content": "b"}]} for _ in range(turns)],
        "winner": winner,
        "metadata": {"language": language},
        "is_truncated": False,
        "topology": "pairwise_chat",
    }


def test_stratified_limit_spans_every_stratum_and_is_seeded():
    pairs = [("m1", "m2"), ("m1", "m3"), ("m2", "m3"), ("m3", "m4")]
    episodes = [episode(i, models=pairs[i % 4], winner=WINNERS[(i // 4) % 4]) for i in range(160)]
    strata = {stratum_key(e) for e in episodes}
    assert len(strata) == 16
    chosen = select_full(episodes, limit=32, stratify=True, seed=7)
    counts = Counter(stratum_key(e) for e in chosen)
    assert len(chosen) == 32 and set(counts) == strata and set(counts.values()) == {2}
    assert [e.episode_id for e in chosen] == [e.episode_id for e in select_full(episodes, limit=32, stratify=True, seed=7)]
    assert chosen != select_full(episodes, limit=32, stratify=True, seed=8)


def test_plain_limit_takes_the_smallest_ids_and_languages_filter():
    episodes = [episode(i, language="French" if i % 2 else "English") for i in reversed(range(10))]
    assert [e.episode_id for e in select_full(episodes, limit=3)] == ["e-000", "e-001", "e-002"]
    french = select_full(episodes, languages=("FRENCH",))
    assert [e.episode_id for e in french] == ["e-001", "e-003", "e-005", "e-007", "e-009"]


def test_mini_is_deterministic_and_covers_winners_and_multi_turn():
    episodes = [episode(i, winner="model_a") for i in range(5)]
    episodes += [episode(5, winner="tie"), episode(6, winner="model_a", turns=3)]
    mini = select_mini(list(reversed(episodes)))
    assert [e.episode_id for e in mini] == ["e-000", "e-005", "e-006"]
    assert select_mini(episodes) == mini
    assert select_mini(episodes[:2]) == episodes[:2]  # fewer than three episodes: all of them


def test_preview_truncates_copies_and_marks_them():
    original = [episode_dict(0)]
    preview = make_preview(original)
    response = preview[0]["turns"][0]["responses"][0]["content"]
    assert response == "a" * PREVIEW_MAX_CHARS + TRUNCATION_MARKER
    assert preview[0]["turns"][0]["responses"][1]["content"] == "b"
    assert preview[0]["is_truncated"] is True and original[0]["is_truncated"] is False
    assert original[0]["turns"][0]["responses"][0]["content"] == "a" * 900
    assert truncate_text("short") == "short"
