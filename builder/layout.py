"""The names of a built folder's files, in one bottom-level module: everything that reads or writes a
built folder (pipeline, validate, push, the card) takes them from here, so nothing low in the package
imports the pipeline to learn a file name.

    <output>/
        README.md                      the dataset card
        stats.json                     the build report (deterministic: no timings)
        build-run.json                 the run: seconds per step, cache hits
        manifest.json                  every file the build wrote, with size and sha256 (the build's marker)
        LICENSE.md                     each source's licence, terms and citation
        multi_llm_coord.py             the dataset's typed definition
        data/<config>/<split>-*.parquet  the configs (train; the *-full ones also validation and test)
        figures/*.png                  the card's figures
        coordinator*/                  each family's fitted coordinator, in the folder the family names
                                       (safetensors + JSON), and where the rank curve was trained the chosen one
"""

from __future__ import annotations

import json
from pathlib import Path

CARD_FILE = "README.md"
REPORT_FILE = "stats.json"
RUN_FILE = "build-run.json"  # seconds per step and cache hits of the run that wrote the folder (not the data's)
MANIFEST_FILE = "manifest.json"
LICENCES_FILE = "LICENSE.md"  # each source's licence and citation (the card's license_link where it says `other`)
LOADING_SCRIPT = "multi_llm_coord.py"
DATA_DIR = "data"
FIGURES_DIR = "figures"
COORDINATOR_TENSORS = "coordinator.safetensors"
COORDINATOR_INFO = "coordinator.json"
TRAINED_TENSORS = "trained-coordinator.safetensors"  # the chosen trained coordinator (builder.benchmark.trained)
TRAINED_INFO = "trained-coordinator.json"

# What manifest.json says it is; a folder whose manifest says otherwise was not written by this builder.
MANIFEST_KIND = "multi-llm-coord build manifest"


SPLITS = ("train", "validation", "test")  # the *-full configs have all three; the small configs train alone


def shard_path(config_name: str, index: int, count: int, split: str = "train") -> str:
    return f"{DATA_DIR}/{config_name}/{split}-{index:05d}-of-{count:05d}.parquet"


STAGING_MARKER = ".multi-llm-coord-staging"  # marks a build's staging folder (builder.output.folder)


def read_manifest(folder: Path) -> dict | None:
    """The folder's manifest if it is one of this builder's, else None. Here, at the bottom, because the readers
    (a build folder given as a source) and the output folder both ask it."""
    try:
        manifest = json.loads((Path(folder) / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("kind") != MANIFEST_KIND or not isinstance(manifest.get("files"), dict):
        return None
    return manifest
