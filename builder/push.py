"""`push`: publish a built folder to the Hugging Face Hub in one atomic commit.

1. Check the repo id (the Hub's own rules, and a name that would make `load_dataset` treat
   multi_llm_coord.py as a loading script: datasets >= 4 rejects a repo holding a script named after it).
2. Validate the folder (builder.validate, which checks every file against the build's manifest: nothing
   missing, changed, unexpected or behind a symbolic link) and refuse an invalid one, saying why.
3. Re-render the card so its snippets load from the repo id.
4. Create the repo if needed, then upload exactly the files the manifest lists (and the manifest, updated
   for the re-rendered card), and delete remote data files that the build no longer has (a stale shard
   would otherwise be read by the `data/<config>/train-*` pattern), all in one `create_commit`: the repo
   moves from the old release to the new one or not at all.
5. Check the remote file list and sizes at the new commit against the plan, and print the dataset's URL.
6. Apply the gate the card declares (`update_repo_settings(gated="auto")`): an arena-derived release never
   goes up open. The card itself is the local one, byte for byte, with its snippets pointing at the repo.
The token comes from the standard Hugging Face login or HF_TOKEN and is never printed; network failures
and refusals are one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from builder.families import FAMILIES
from builder.layout import CARD_FILE, DATA_DIR, FIGURES_DIR, LOADING_SCRIPT, MANIFEST_FILE, REPORT_FILE
from builder.output.folder import MANIFEST_VERSION, read_manifest
from builder.redact import redact
from builder.validate import validate_folder



def managed_prefixes() -> tuple[str, ...]:
    """Remote paths the builder owns, from the layout and every registered family's coordinator folder: files under
    these that the new release lacks are deleted, so a release without some family leaves none of its files behind."""
    return tuple(f"{folder}/" for folder in (DATA_DIR, FIGURES_DIR, *(family.coordinator_dir for family in FAMILIES)))


class PushError(Exception):
    """The push cannot go on; the message is one line and never contains the token."""


@dataclass(frozen=True)
class PlannedFile:
    path_in_repo: str
    size: int
    local_path: Path | None  # None: content rendered in memory (the card)
    content: bytes | None = None


def plan_upload(folder: Path, repo_id: str) -> list[PlannedFile]:
    """Exactly the manifest's files (the card re-rendered for `repo_id`), then the manifest describing them."""
    import hashlib

    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        raise PushError(f"{folder} has no build manifest ({MANIFEST_FILE}); build it with this version first")
    card = render_card_for_repo(folder, repo_id).encode("utf-8")
    planned, listed = [], {}
    for relative in sorted(manifest["files"]):
        path = folder / relative
        if path.is_symlink():
            raise PushError(f"{relative} is a symbolic link; refusing to upload what it points to")
        if relative == CARD_FILE:
            planned.append(PlannedFile(CARD_FILE, len(card), None, card))
            listed[relative] = {"bytes": len(card), "sha256": hashlib.sha256(card).hexdigest()}
        else:
            planned.append(PlannedFile(relative, path.lstat().st_size, path))
            listed[relative] = manifest["files"][relative]
    uploaded = json.dumps({**manifest, "version": MANIFEST_VERSION, "files": listed}, indent=2, sort_keys=True) + "\n"
    planned.append(PlannedFile(MANIFEST_FILE, len(uploaded.encode()), None, uploaded.encode()))
    return planned


def render_card_for_repo(folder: Path, repo_id: str) -> str:
    """The folder's own card, byte for byte, with its load snippets pointing at `repo_id` instead of the
    local folder (re-rendering it from stats.json could reorder what the build wrote)."""
    report = json.loads((folder / REPORT_FILE).read_text(encoding="utf-8"))
    card = (folder / CARD_FILE).read_text(encoding="utf-8")
    return card.replace(f'load_dataset("{report["options"]["output_dir"]}"', f'load_dataset("{repo_id}"')


def check_repo_id(repo_id: str) -> None:
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts):
        raise PushError(f"--repo-id must be ORG/NAME (or USER/NAME), got {repo_id!r}")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise PushError(f"--repo-id {repo_id!r} is not a valid Hub repo id: {_first_line(error)}") from None
    if parts[1] == Path(LOADING_SCRIPT).stem:
        raise PushError(f"repo name {parts[1]!r} would make load_dataset refuse the repo: it holds {LOADING_SCRIPT}, "
                        "and datasets >= 4 rejects a script named after the repo; choose another name "
                        "(e.g. multi-llm-coord)")


def push(folder: Path, repo_id: str, *, private: bool = False, revision: str | None = None,
         create_pr: bool = False, dry_run: bool = False, token: str | None = None, endpoint: str | None = None,
         echo=print) -> dict:
    """Publish `folder` to datasets/`repo_id`; `endpoint` defaults to HF_ENDPOINT (huggingface.co)."""
    folder = Path(folder)
    check_repo_id(repo_id)
    problems = validate_folder(folder)
    if problems:
        raise PushError(f"{folder} is not valid, nothing was uploaded: {problems[0]}"
                        + (f" (and {len(problems) - 1} more; run `multi-llm-coord validate`)" if len(problems) > 1 else ""))
    planned = plan_upload(folder, repo_id)
    total = sum(f.size for f in planned)
    if dry_run:
        echo(f"dry run: would upload {len(planned)} files ({total} bytes) to datasets/{repo_id}"
             f"{f' (revision {revision})' if revision else ''}{' as a pull request' if create_pr else ''}:")
        for item in planned:
            echo(f"  {item.size:>12}  {item.path_in_repo}")
        if card_is_gated(planned):
            echo("  and would gate the repo (gated=auto): the card declares the source's terms")
        return {"dry_run": True, "files": len(planned), "bytes": total}
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError

    try:
        return _push(planned, repo_id, private=private, revision=revision, create_pr=create_pr, token=token,
                     endpoint=endpoint, echo=echo)
    except HfHubHTTPError as error:
        raise PushError(redact(_http_message(error, repo_id))) from None
    except network_errors() as error:
        raise PushError(redact(f"cannot reach the Hub at {endpoint or constants.ENDPOINT} ({_first_line(error)}); "
                               "nothing was uploaded")) from None


def network_errors() -> tuple[type[BaseException], ...]:
    """What huggingface_hub's HTTP backend raises when the endpoint cannot be reached: httpx2 (huggingface_hub 2),
    httpx (1.x) or requests (0.x), whichever are installed."""
    import importlib

    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError"),
                         ("requests.exceptions", "ConnectionError"), ("requests.exceptions", "Timeout")):
        try:
            errors.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _http_message(error, repo_id: str) -> str:
    status = error.response.status_code if getattr(error, "response", None) is not None else None
    if status in (401, 403):
        return (f"the Hub refused the token for datasets/{repo_id} (HTTP {status}): log in with `hf auth login` "
                "or set HF_TOKEN to a token with write access")
    return f"upload to datasets/{repo_id} failed, the repo was not changed: {_first_line(error)}"


def _push(planned, repo_id, *, private, revision, create_pr, token, endpoint, echo) -> dict:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    api = HfApi(endpoint=endpoint, token=token)
    repo_url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if revision and revision != "main":
        api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
    remote = set(api.list_repo_files(repo_id, repo_type="dataset", revision=revision))
    local = {item.path_in_repo for item in planned}
    stale = sorted(path for path in remote - local if path.startswith(managed_prefixes()))
    operations = [CommitOperationAdd(item.path_in_repo, item.content if item.content is not None else str(item.local_path))
                  for item in planned]
    operations += [CommitOperationDelete(path) for path in stale]
    commit = api.create_commit(repo_id, operations, commit_message=f"Publish multi-llm-coord build ({len(planned)} files)",
                               repo_type="dataset", revision=revision, create_pr=create_pr)
    check = verify_remote(api, repo_id, commit.oid, planned)
    gated = card_is_gated(planned)
    if gated:  # the card declares a gate: apply it to the repo, or the data would go up open
        api.update_repo_settings(repo_id, repo_type="dataset", gated="auto")
        echo(f"gated datasets/{repo_id}: access needs the source's terms accepted (gated=auto)")
    echo(f"committed {len(planned)} files to datasets/{repo_id} at {commit.oid[:12]}"
         + (f", removed {len(stale)} stale" if stale else "") + (f"; pull request {commit.pr_url}" if commit.pr_url else ""))
    echo(f"dataset: {repo_url}")
    return {"commit": commit.oid, "url": commit.commit_url, "repo_url": str(repo_url), "pr_url": commit.pr_url,
            "files": len(planned), "deleted": stale, "verified": check, "gated": gated}


def card_is_gated(planned: list[PlannedFile]) -> bool:
    """Whether the card being uploaded declares a gate (`extra_gated_prompt` in its YAML)."""
    import yaml

    card = next(item.content for item in planned if item.path_in_repo == CARD_FILE).decode("utf-8")
    header = card.split("---\n", 2)[1] if card.startswith("---\n") else ""
    return bool((yaml.safe_load(header) or {}).get("extra_gated_prompt"))


def verify_remote(api, repo_id: str, revision: str, planned: list[PlannedFile]) -> int:
    """Compare the remote tree at `revision` with what was uploaded; raise PushError on any difference."""
    from huggingface_hub.hf_api import RepoFile

    remote = {entry.path: entry.size for entry in api.list_repo_tree(repo_id, repo_type="dataset", revision=revision,
                                                                     recursive=True) if isinstance(entry, RepoFile)}
    wrong = [f"{item.path_in_repo} (local {item.size}, remote {remote.get(item.path_in_repo)})"
             for item in planned if remote.get(item.path_in_repo) != item.size]
    if wrong:
        raise PushError(f"the remote files differ from the folder after the commit: {', '.join(wrong[:5])}")
    return len(planned)
