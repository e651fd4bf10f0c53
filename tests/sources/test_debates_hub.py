"""N-agent Hub datasets as --debate-source (Multi-Agent-LLMs/DEBATE:CONFIG), streamed from a local
Hub-compatible server by the real `datasets` client; a missing one is a one-line error."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from builder.sources.loaders import sample_dir
from conftest import make_row, write_jsonl
from hub_server import HubServer, Repo

CARD = """---
configs:
- config_name: relay
  data_files:
  - split: train
    path: relay/train.jsonl
---
# DEBATE (test copy)
"""


def debate_repo() -> Repo:
    record = json.loads((sample_dir() / "debate" / "mallm-demo" / "object_1.json").read_text())  # a real record
    records = [{**record, "exampleId": f"hub-{i}"} for i in range(4)]
    repo = Repo()
    repo.commits["c1"] = {"README.md": CARD.encode(),
                          "relay/train.jsonl": "".join(json.dumps(r) + "\n" for r in records).encode()}
    repo.refs["main"] = "c1"
    return repo


def run_build(tmp_path, hub: HubServer, debate_source: str):
    source = write_jsonl(tmp_path / "arena.jsonl", [make_row(question_id=f"a-{i}") for i in range(3)])
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HF_")},
           "HF_ENDPOINT": hub.endpoint, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1",
           "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0"}
    return subprocess.run([sys.executable, "-m", "builder", "build", "--source", source, "--debate-source", debate_source,
                           "-o", str(tmp_path / "out"), "--no-progress", "--rank", "2"],
                          capture_output=True, text=True, env=env, timeout=300)


def test_a_debate_config_is_streamed_from_the_hub(tmp_path):
    with HubServer() as hub:
        hub.repos["Multi-Agent-LLMs/DEBATE"] = debate_repo()
        result = run_build(tmp_path, hub, "Multi-Agent-LLMs/DEBATE:relay")
        downloads = [entry for entry in hub.log if "/resolve/" in entry and entry.endswith(".jsonl")]
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert report["families"]["debate"]["rows_read"] == 4 and report["families"]["debate"]["episodes_accepted"] == 4
    assert report["families"]["debate"]["n_agent"]["sources"] == {"Multi-Agent-LLMs/DEBATE:relay": 4}
    assert report["families"]["debate"]["provenance"][0]["hub_id"] == "Multi-Agent-LLMs/DEBATE"
    assert downloads  # read through the Hub's resolve endpoint


def test_a_missing_hub_debate_dataset_is_one_line(tmp_path):
    with HubServer() as hub:
        result = run_build(tmp_path, hub, "Multi-Agent-LLMs/NOPE:relay")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Multi-Agent-LLMs/NOPE" in lines[0] and "Traceback" not in result.stderr
