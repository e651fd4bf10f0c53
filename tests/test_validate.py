"""validate: the manifest (missing, changed, unexpected files and links), the card's figure links, the
coordinator files and mini within full are all checked."""

from __future__ import annotations

import shutil

import pytest

from builder.validate import validate_folder
from conftest import copy_with_edited_rows


@pytest.fixture
def copy(sample_build, tmp_path):
    target = tmp_path / "dataset"
    shutil.copytree(sample_build[0], target)
    return target


def test_the_sample_build_is_valid_and_has_a_manifest(sample_build):
    assert validate_folder(sample_build[0]) == []
    assert (sample_build[0] / "manifest.json").is_file()


def test_missing_changed_and_unexpected_files_are_found(copy):
    (copy / "figures" / "latent_states.png").unlink()
    with open(copy / "coordinator" / "coordinator.json", "a") as handle:
        handle.write(" ")
    (copy / "secrets.env").write_text("HF_TOKEN=hf_x")
    problems = validate_folder(copy)
    assert "manifest: figures/latent_states.png is missing" in problems
    assert "manifest: coordinator/coordinator.json was changed since the build wrote it" in problems
    assert "manifest: secrets.env is not one of the build's files" in problems
    assert "README.md links to figures/latent_states.png, which is not in the folder" in problems


def test_a_symbolic_link_in_place_of_a_build_file_is_found(copy, tmp_path):
    outside = tmp_path / "hostname"
    outside.write_text("host")
    (copy / "figures" / "extra.png").symlink_to(outside)
    target = copy / "figures" / "token_distribution.png"
    target.unlink()
    target.symlink_to(outside)
    problems = validate_folder(copy)
    assert "manifest: figures/token_distribution.png is a symbolic link" in problems
    assert "manifest: figures/extra.png is not one of the build's files" in problems


def test_a_missing_manifest_and_missing_coordinator_files_are_found(copy):
    (copy / "manifest.json").unlink()
    (copy / "coordinator-debate" / "coordinator.safetensors").unlink()
    problems = validate_folder(copy)
    assert "manifest.json is missing" in problems
    assert "coordinator-debate/coordinator.safetensors is missing" in problems


def test_mini_must_hold_episodes_of_full_unchanged(sample_build, tmp_path):
    def rename(rows):
        rows[0]["episode_id"] = "not-in-full"

    def change(rows):
        rows[0]["labels"]["rationale"] = "edited"

    for edit, problem in ((rename, "config mini: episode 'not-in-full' is not in full"),
                          (change, "differs from its copy in full")):
        target = copy_with_edited_rows(sample_build[0], tmp_path / edit.__name__, "mini", edit)
        assert any(problem in p for p in validate_folder(target)), edit.__name__
