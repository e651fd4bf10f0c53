"""Shared fixtures: tiny arena rows written by the tests, and one build of the embedded sample."""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from pathlib import Path

# Set before any huggingface library is imported: the tests never touch the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# Imported once, as pytest imports it (`conftest`): under a second name (`from tests.conftest import ...`) this
# module would run again and make a second session cache, which nothing removes.
if __name__ != "conftest":
    raise ImportError(f"import the test helpers as `from conftest import ...`, not as {__name__!r}")
# The test session's own embedding cache: the suite neither reads nor fills the user's cache, and removes it
# when the session ends (pytest_sessionfinish below).
SESSION_CACHE = tempfile.mkdtemp(prefix="multi-llm-coord-test-cache-")
os.environ["MULTI_LLM_COORD_CACHE_DIR"] = SESSION_CACHE

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from builder.benchmark.failure_modes import FLAGGED, NOT_FLAGGED  # noqa: E402
from builder.config import BuildConfig  # noqa: E402
from builder.pipeline import build  # noqa: E402
from builder.sources.mast import FAILURE_MODES  # noqa: E402
from builder.stages.token_logs import TokenLogStage  # noqa: E402

VALID_ROW = {
    "question_id": "q-001",
    "model_a": "alpha-7b",
    "model_b": "beta-13b",
    "winner": "model_a",
    "judge": "arena_user_1",
    "conversation_a": [
        {"role": "user", "content": "Name a prime number."},
        {"role": "assistant", "content": "Seven is prime."},
        {"role": "user", "content": "Another one?"},
        {"role": "assistant", "content": "Eleven."},
    ],
    "conversation_b": [
        {"role": "user", "content": "Name a prime number."},
        {"role": "assistant", "content": "2"},
        {"role": "user", "content": "Another one?"},
        {"role": "assistant", "content": "Three is also prime, and so is five."},
    ],
    "turn": 2,
    "anony": True,
    "language": "English",
    "tstamp": 1690000000.5,
    "openai_moderation": {
        "categories": {"harassment": False, "violence": True, "hate": False},
        "category_scores": {"harassment": 0.01, "violence": 0.8, "hate": 0.0},
        "flagged": True,
    },
    "toxic_chat_tag": {"roberta-large": {"flagged": False, "probability": 0.1},
                       "t5-large": {"flagged": True, "score": 0.7}},
}


def make_row(**changes) -> dict:
    """A valid arena row with `changes` applied (a value of ... deletes the field)."""
    row = copy.deepcopy(VALID_ROW)
    for key, value in changes.items():
        if value is ...:
            row.pop(key, None)
        else:
            row[key] = value
    return row


def write_jsonl(path, rows) -> str:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return str(path)


class FixedCounter(TokenLogStage):
    """Counts words, so the expected numbers can be worked out by hand."""

    def count(self, text: str) -> int:
        return len(text.split())


def quiet_config(**values) -> BuildConfig:
    return BuildConfig(progress=False, **values)


# A build of the pairwise source alone with no rank curve: for tests of what the rank curve (70 trainings at these
# sizes, trained in tests/stages/test_trained.py) and the other families do not touch.
PAIRWISE_ONLY = dict(trained_ranks="none", family_sources={"debate": ("none",), "agents": ("none",)})


def copy_with_edited_rows(built: Path, target: Path, config: str, edit) -> Path:
    """A copy of a built folder whose `config` Parquet rows went through `edit(rows)` (to break invariants)."""
    import shutil

    import pyarrow.parquet as pq

    shutil.copytree(built, target)
    path = target / "data" / config / "train-00000-of-00001.parquet"
    table = pq.read_table(path)
    rows = table.to_pylist()
    edit(rows)
    pq.write_table(table.from_pylist(rows, schema=table.schema), path)
    return target


@pytest.fixture(scope="session")
def sample_build(tmp_path_factory):
    """The embedded sample built once for the whole session: (output folder, report)."""
    output_dir = tmp_path_factory.mktemp("sample") / "dataset"
    report = build(quiet_config(output_dir=output_dir))
    return output_dir, report


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(SESSION_CACHE, ignore_errors=True)


def failure_mode_rows(count: int = 90) -> list[dict]:
    """Traces of three systems over 30 prompt groups: mode 1.1 is the system's (flagged for every trace of one
    system), mode 1.2 is in the state's first number and independent of the system, mode 1.3 is judged on 12
    traces only; the other codes have no verdict."""
    generator = np.random.default_rng(3)
    systems = ("AG2", "ChatDev", "MetaGPT")
    rows = []
    for index in range(count):
        system = systems[index % 3]
        state = generator.normal(size=4)
        labels = {code: None for code in FAILURE_MODES}
        labels["1.1"] = FLAGGED if system == "ChatDev" else NOT_FLAGGED
        labels["1.2"] = FLAGGED if state[0] > 0 else NOT_FLAGGED
        labels["1.3"] = (FLAGGED if index % 2 else NOT_FLAGGED) if index < 12 else None
        rows.append({"episode_id": f"mast:t:{index}", "group": f"g{index // 3}", "split": ("train", "test")[index % 2],
                     "annotator": "llm", "system": system, "benchmark": ("GSM", "SWE")[index % 2],
                     "length": generator.normal(size=3), "state": state, "labels": labels})
    return rows
