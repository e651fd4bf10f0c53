"""push: validation first, one atomic commit through the unmodified huggingface_hub client to a local
Hub-compatible server, remote verification, clear errors; then load_dataset reads the pushed repo."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import huggingface_hub
import pytest
from datasets import load_dataset

from builder.push import PushError, push
from hub_server import HubServer

TOKEN = "hf_test_write_token"


@pytest.fixture
def online(monkeypatch):
    """The suite runs with HF_HUB_OFFLINE=1; these tests talk to the local server only. The local server speaks
    the LFS protocol, not Xet (which the client would prefer when hf_xet is installed, as on the real Hub)."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)


def local_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_dry_run_prints_every_file_and_uploads_nothing(sample_build):
    lines = []
    result = push(sample_build[0], "org/coord", dry_run=True, echo=lines.append)
    listed = {line.split()[-1] for line in lines[1:]}
    assert listed == set(local_files(sample_build[0]))
    assert result == {"dry_run": True, "files": len(listed), "bytes": result["bytes"]} and result["bytes"] > 0
    assert lines[0].startswith(f"dry run: would upload {len(listed)} files")


@pytest.mark.parametrize("repo_id, message", [
    ("org/multi_llm_coord", "would make load_dataset refuse the repo"),
    ("no-org-name", "must be ORG/NAME"),
    ("org/bad name!", "is not a valid Hub repo id"),
    ("org/--double", "is not a valid Hub repo id"),
])
def test_repo_names_that_cannot_work_are_refused(sample_build, repo_id, message):
    with pytest.raises(PushError, match=message):
        push(sample_build[0], repo_id, dry_run=True)


def test_an_invalid_folder_is_refused_before_any_upload(sample_build, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(sample_build[0], broken)
    (broken / "stats.json").unlink()
    with pytest.raises(PushError, match="is not valid, nothing was uploaded: stats.json is missing"):
        push(broken, "org/coord", dry_run=True)


def test_push_uploads_exactly_the_manifest_and_refuses_strays_and_links(sample_build, tmp_path):
    import json as json_module

    folder = tmp_path / "dataset"
    shutil.copytree(sample_build[0], folder)
    manifest = json_module.loads((folder / "manifest.json").read_text())
    lines = []
    push(folder, "org/coord", dry_run=True, echo=lines.append)
    listed = {line.split()[-1] for line in lines[1:]}
    assert listed == set(manifest["files"]) | {"manifest.json"}
    (folder / "secrets.env").write_text("OPENAI_API_KEY=sk-123")
    with pytest.raises(PushError, match="secrets.env is not one of the build's files"):
        push(folder, "org/coord", dry_run=True, echo=lines.append)
    (folder / "secrets.env").unlink()
    (folder / "figures" / "hostname.png").symlink_to("/etc/hostname")
    with pytest.raises(PushError, match="hostname.png is not one of the build's files"):
        push(folder, "org/coord", dry_run=True, echo=lines.append)


def test_parquet_goes_through_lfs_the_card_is_the_local_one_and_the_gate_is_applied(tmp_path, online, monkeypatch):
    from builder.families import pairwise as pairwise_family
    from builder.pipeline import build
    from conftest import make_row, quiet_config, write_jsonl

    rows = write_jsonl(tmp_path / "rows.jsonl", [make_row(question_id=f"h-{i}") for i in range(5)])
    real = pairwise_family.iter_source_rows
    monkeypatch.setattr(pairwise_family, "iter_source_rows", lambda source, split: real(rows, split))
    folder = tmp_path / "release"
    build(quiet_config(source="lmsys/chatbot_arena_conversations", output_dir=folder, rank=2))
    with HubServer() as hub:
        result = push(folder, "org/arena", token=TOKEN, endpoint=hub.endpoint, echo=lambda line: None)
        remote = hub.files("org/arena")
        parquet = sorted(p for p in remote if p.endswith(".parquet"))
        assert parquet and all(hub.lfs_objects[hashlib.sha256(remote[p]).hexdigest()] == remote[p] for p in parquet)
        assert sum(entry.startswith("PUT /lfs/upload/") for entry in hub.log) == len({remote[p] for p in parquet})
        local_card = (folder / "README.md").read_text()
        # the local card loads the folder by its name (no path above it); the pushed one by the repo id
        assert remote["README.md"].decode() == local_card.replace('load_dataset("release"', 'load_dataset("org/arena"')
        assert 'load_dataset("release"' in local_card and str(tmp_path) not in local_card
        assert result["gated"] is True and hub.repos["org/arena"].gated == "auto"


def test_a_hub_that_cannot_be_reached_is_one_line(sample_build, online):
    with pytest.raises(PushError, match=r"cannot reach the Hub at http://127.0.0.1:9 .*nothing was uploaded"):
        push(sample_build[0], "org/coord", token=TOKEN, endpoint="http://127.0.0.1:9", echo=lambda line: None)


def test_push_commits_once_verifies_and_removes_stale_shards(sample_build, online):
    folder = sample_build[0]
    with HubServer() as hub:
        printed = []
        result = push(folder, "org/coord", token=TOKEN, endpoint=hub.endpoint, echo=printed.append)
        assert printed[-1] == f"dataset: {hub.endpoint}/datasets/org/coord"
        remote = hub.files("org/coord")
        commits = [entry for entry in hub.log if entry.startswith("POST /api/datasets/org/coord/commit/")]
        assert len(commits) == 1 and result["verified"] == len(local_files(folder))
        expected = local_files(folder)
        for path, data in expected.items():
            if path not in ("README.md", "manifest.json"):  # the card is re-rendered, and the manifest with it
                assert remote[path] == data, path
        uploaded_manifest = json.loads(remote["manifest.json"])
        assert uploaded_manifest["files"]["README.md"]["sha256"] == hashlib.sha256(remote["README.md"]).hexdigest()
        assert set(uploaded_manifest["files"]) | {"manifest.json"} == set(remote) - {".gitattributes"}
        card = remote["README.md"].decode()
        assert 'load_dataset("org/coord", "mini", split="train")' in card and str(folder) not in card
        # A later release with fewer shards must not leave the old ones behind.
        repo = hub.repos["org/coord"]
        stale = dict(remote) | {"data/full/train-00001-of-00002.parquet": b"old shard", "notes.txt": b"kept"}
        repo.commits["stale"], repo.refs["main"] = stale, "stale"
        second = push(folder, "org/coord", token=TOKEN, endpoint=hub.endpoint, echo=lambda line: None)
        assert second["deleted"] == ["data/full/train-00001-of-00002.parquet"]
        assert "data/full/train-00001-of-00002.parquet" not in hub.files("org/coord")
        assert hub.files("org/coord")["notes.txt"] == b"kept"  # files the builder does not own stay


def test_a_release_without_a_family_leaves_none_of_its_files_on_the_hub(sample_build, online, tmp_path):
    """A release built from arena data alone, pushed over one that had debates and agent teams: their configs,
    coordinators and figures are deleted (the builder owns every family's folders, taken from the layout)."""
    from builder.pipeline import build
    from conftest import make_row, quiet_config, write_jsonl

    arena_only = tmp_path / "arena-only"
    source = write_jsonl(tmp_path / "arena.jsonl", [make_row(question_id=f"s-{i}") for i in range(3)])
    build(quiet_config(source=source, output_dir=arena_only, rank=2))
    with HubServer() as hub:
        push(sample_build[0], "org/coord", token=TOKEN, endpoint=hub.endpoint, echo=lambda line: None)
        before = set(hub.files("org/coord"))
        assert {"coordinator-debate/coordinator.safetensors", "coordinator-agents/coordinator.json"} <= before
        second = push(arena_only, "org/coord", token=TOKEN, endpoint=hub.endpoint, echo=lambda line: None)
        after = set(hub.files("org/coord"))
    gone = {path for path in before if path.startswith(("coordinator-debate/", "coordinator-agents/",
                                                         "data/debate-", "data/agents-", "figures/debate_",
                                                         "figures/agents_"))}
    assert gone and gone <= set(second["deleted"]) and not gone & after


def test_a_failing_commit_leaves_no_partial_commit_and_says_so(sample_build, online):
    with HubServer() as hub:
        hub.fail_commits = 1
        with pytest.raises(PushError, match="upload to datasets/org/coord failed, the repo was not changed"):
            push(sample_build[0], "org/coord", token=TOKEN, endpoint=hub.endpoint, echo=lambda line: None)
        assert set(hub.files("org/coord")) == {".gitattributes"}
        push(sample_build[0], "org/coord", token=TOKEN, endpoint=hub.endpoint, echo=lambda line: None)
        assert "data/mini/train-00000-of-00001.parquet" in hub.files("org/coord")


def test_revision_and_pull_request(sample_build, online):
    with HubServer() as hub:
        push(sample_build[0], "org/coord", token=TOKEN, endpoint=hub.endpoint, revision="v1", echo=lambda line: None)
        assert "README.md" in hub.files("org/coord", "v1") and set(hub.files("org/coord")) == {".gitattributes"}
        result = push(sample_build[0], "org/coord", token=TOKEN, endpoint=hub.endpoint, create_pr=True,
                      echo=lambda line: None)
        assert result["pr_url"].endswith("/discussions/1")
        assert "README.md" in hub.files("org/coord", "refs/pr/1") and set(hub.files("org/coord")) == {".gitattributes"}


def cli_env(hub: HubServer, tmp_path: Path, token: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "MULTI_LLM"))}
    return env | {"HF_ENDPOINT": hub.endpoint, "HF_TOKEN": token, "HF_HOME": str(tmp_path / "hf-home"),
                  "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1"}


def test_a_bad_token_is_reported_plainly_and_never_printed(sample_build, tmp_path):
    with HubServer() as hub:
        result = subprocess.run([sys.executable, "-m", "builder", "push", str(sample_build[0]), "--repo-id", "org/coord"],
                                capture_output=True, text=True, env=cli_env(hub, tmp_path, "hf_wrong_secret"), timeout=180)
    assert result.returncode == 1
    assert "refused the token" in result.stderr and "hf auth login" in result.stderr
    assert "hf_wrong_secret" not in result.stderr + result.stdout and "Traceback" not in result.stderr


LOAD_SCRIPT = """
import json, sys
from datasets import load_dataset
from huggingface_hub import DatasetCard
import multi_llm_coord
out = {}
for name in ("mini", "full"):
    ds = load_dataset("org/coord", name, split="train")
    out[name] = {"rows": len(ds), "features_match": ds.features == multi_llm_coord.episode_features(int(sys.argv[1])),
                 "winner_is_classlabel": type(ds.features["winner"]).__name__}
out["full_splits"] = {split: len(ds) for split, ds in load_dataset("org/coord", "full").items()}
out["full_test_ids"] = sorted(load_dataset("org/coord", "full", split="test")["episode_id"])
builder = multi_llm_coord.MultiLlmCoord(config_name="full", data_dir="hf://datasets/org/coord", cache_dir="fcache")
builder.download_and_prepare()
out["builder_class_test_ids"] = sorted(builder.as_dataset(split="test")["episode_id"])
out["card_configs"] = [c["config_name"] for c in DatasetCard.load("org/coord", repo_type="dataset").data.configs]
builder = multi_llm_coord.MultiLlmCoord(config_name="debate-mini", data_dir="hf://datasets/org/coord", cache_dir="bcache")
builder.download_and_prepare()
out["builder_class_rows"] = len(builder.as_dataset(split="train"))
print(json.dumps(out))
"""


def test_cli_push_then_load_dataset_from_the_local_hub(sample_build, tmp_path):
    folder, report = sample_build
    with HubServer() as hub:
        env = cli_env(hub, tmp_path, TOKEN)
        pushed = subprocess.run([sys.executable, "-m", "builder", "push", str(folder), "--repo-id", "org/coord"],
                                capture_output=True, text=True, env=env, timeout=180)
        assert pushed.returncode == 0, pushed.stderr
        assert "committed" in pushed.stdout and TOKEN not in pushed.stdout + pushed.stderr
        loaded = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, str(report["options"]["rank"])],
                                capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    result = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert result["mini"] == {"rows": 3, "features_match": True, "winner_is_classlabel": "ClassLabel"}
    assert result["full"]["rows"] == report["families"]["pairwise"]["splits"]["train"]["episodes"] and result["full"]["features_match"]
    # the benchmark's splits load from the Hub as from the folder, by load_dataset and by the builder class
    assert result["full_splits"] == {split: info["episodes"] for split, info in report["families"]["pairwise"]["splits"].items()}
    local_test = sorted(load_dataset(str(folder), "full", split="test")["episode_id"])
    assert result["full_test_ids"] == result["builder_class_test_ids"] == local_test
    assert sorted(result["card_configs"]) == ["agents-full", "agents-mini", "debate-full", "debate-mini", "full", "mini",
                                              "preview"]
    assert result["builder_class_rows"] == 3  # the typed builder class reads the Hub repo too
