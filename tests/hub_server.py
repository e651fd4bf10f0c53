"""A small Hub-compatible server on 127.0.0.1 for the push and load tests.

With HF_ENDPOINT pointing at it, the unmodified huggingface_hub client and `datasets.load_dataset` talk
to it over real HTTP. It keeps dataset repos in memory as immutable commits and answers:
  write: POST /api/repos/create, /api/datasets/R/branch/B, /api/validate-yaml (checks the YAML parses),
         /api/datasets/R/preupload/REV (Parquet files "lfs" as on the real Hub, the rest "regular": inline base64),
         POST /datasets/R.git/info/lfs/objects/batch (the LFS batch API: upload and verify actions),
         PUT /lfs/upload/OID (the bytes; their sha256 must be OID), POST /lfs/verify/OID,
         /api/datasets/R/commit/REV (the NDJSON commit, `file` and `lfsFile` entries, all at once or not at all),
         PUT /api/datasets/R/settings (gating)
  read:  GET /api/datasets/R[/revision/REV], /api/datasets/R/tree/REV[/PATH], POST /api/datasets/R/paths-info/REV,
         GET|HEAD /datasets/R/resolve/REV/PATH (with Range)
Writes need `Authorization: Bearer <token>` with a token in `tokens`. `fail_commits` makes the next
commit requests answer 500 after reading the whole body, without applying anything.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlparse

import yaml

from loopback import JsonHandler, LoopbackServer


@dataclass
class Repo:
    private: bool = False
    gated: str | bool = False
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    pull_requests: int = 0


def _oid(parent: str, files: dict[str, bytes], message: str) -> str:
    digest = hashlib.sha1(f"{parent}\n{message}".encode())
    for path in sorted(files):
        digest.update(path.encode() + hashlib.sha1(files[path]).digest())
    return digest.hexdigest()


class HubServer(LoopbackServer):
    def __init__(self, tokens=("hf_test_write_token",)):
        self.tokens = set(tokens)
        self.repos: dict[str, Repo] = {}
        self.fail_commits = 0
        self.log: list[str] = []
        self.lfs_objects: dict[str, bytes] = {}  # sha256 hex -> content, uploaded through the LFS API
        super().__init__(self._handler())

    @property
    def endpoint(self) -> str:
        return self.root_url

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        repo = self.repos[repo_id]
        return repo.commits[repo.refs.get(revision, revision)]

    def _handler(self):
        server = self

        class Handler(JsonHandler):
            # --- plumbing ---------------------------------------------------------------------------
            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            _send = JsonHandler.send_json

            def _error(self, status: int, message: str, code: str | None = None, head: bool = False):
                headers = {"X-Error-Message": message, **({"X-Error-Code": code} if code else {})}
                self._send(status, {"error": message}, headers, head=head)

            def _authorised(self) -> bool:
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Bearer ") and auth[len("Bearer "):] in server.tokens:
                    return True
                self._error(401, "Invalid credentials in Authorization header")
                return False

            def _repo(self, repo_id: str, head: bool = False) -> Repo | None:
                repo = server.repos.get(repo_id)
                if repo is None:
                    self._error(404, "Repository not found", "RepoNotFound", head=head)
                return repo

            def _commit(self, repo: Repo, revision: str, head: bool = False) -> tuple[str, dict] | None:
                oid = repo.refs.get(revision, revision)
                if oid not in repo.commits:
                    self._error(404, f"Invalid rev id: {revision}", "RevisionNotFound", head=head)
                    return None
                return oid, repo.commits[oid]

            # --- routes -------------------------------------------------------------------------------
            def _request(self, method: str):
                """(parsed URL, body) of the request, logged."""
                url = urlparse(self.path)
                server.log.append(f"{method} {url.path}")
                return url, self._body()

            def do_PUT(self):  # noqa: N802 - http.server's naming
                url, body = self._request("PUT")
                upload = re.match(r"^/lfs/upload/([0-9a-f]{64})$", url.path)
                if upload:
                    if hashlib.sha256(body).hexdigest() != upload.group(1):
                        return self._error(400, "content does not match its sha256")
                    with server.lock:
                        server.lfs_objects[upload.group(1)] = body
                    return self._send(200, b"", {"Content-Type": "text/plain"})
                settings = re.match(r"^/api/datasets/([^/]+/[^/]+)/settings$", url.path)
                if settings:
                    if not self._authorised():
                        return
                    repo = self._repo(settings.group(1))
                    if repo is None:
                        return
                    repo.gated = json.loads(body).get("gated", repo.gated)
                    return self._send(200, {})
                self._error(404, f"no route for PUT {url.path}")

            def _lfs_batch(self, repo_id: str, body: bytes):
                if not self._authorised() or self._repo(repo_id) is None:
                    return
                request = json.loads(body)
                if request.get("operation") != "upload" or request.get("hash_algo", "sha256") != "sha256":
                    return self._error(400, "only sha256 uploads are supported")
                objects = []
                for item in request["objects"]:
                    entry = {"oid": item["oid"], "size": item["size"], "authenticated": True}
                    if item["oid"] not in server.lfs_objects:  # already stored objects need no upload
                        entry["actions"] = {"upload": {"href": f"{server.endpoint}/lfs/upload/{item['oid']}"},
                                            "verify": {"href": f"{server.endpoint}/lfs/verify/{item['oid']}"}}
                    objects.append(entry)
                self._send(200, {"transfer": "basic", "objects": objects},
                           {"Content-Type": "application/vnd.git-lfs+json"})

            def do_POST(self):  # noqa: N802 - http.server's naming
                url, body = self._request("POST")
                batch = re.match(r"^/datasets/([^/]+/[^/]+)\.git/info/lfs/objects/batch$", url.path)
                if batch:
                    return self._lfs_batch(batch.group(1), body)
                verify = re.match(r"^/lfs/verify/([0-9a-f]{64})$", url.path)
                if verify:
                    request = json.loads(body)
                    stored = server.lfs_objects.get(verify.group(1))
                    if stored is None or len(stored) != request.get("size"):
                        return self._error(404, "object not found")
                    return self._send(200, {})
                if url.path == "/api/validate-yaml":
                    content = json.loads(body)["content"]
                    match = re.match(r"^---\n(.*?)\n---\n", content, re.S)
                    try:
                        yaml.safe_load(match.group(1) if match else "")
                    except yaml.YAMLError as error:
                        return self._send(400, {"errors": [{"message": str(error)}]})
                    return self._send(200, {"errors": [], "warnings": []})
                if url.path == "/api/repos/create":
                    if not self._authorised():
                        return
                    request = json.loads(body)
                    repo_id = f"{request['organization']}/{request['name']}" if request.get("organization") else request["name"]
                    with server.lock:
                        if repo_id in server.repos:  # the Hub's 409 carries the repo URL, which the client reads
                            return self._send(409, {"error": "You already created this dataset repo",
                                                    "url": f"{server.endpoint}/datasets/{repo_id}"},
                                              {"X-Error-Message": "You already created this dataset repo"})
                        repo = Repo(private=bool(request.get("private")))
                        first = _oid("", {}, "initial commit")
                        repo.commits[first] = {".gitattributes": b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"}
                        repo.refs["main"] = first
                        server.repos[repo_id] = repo
                    return self._send(200, {"url": f"{server.endpoint}/datasets/{repo_id}", "name": repo_id})
                match = re.match(r"^/api/datasets/([^/]+/[^/]+)/(branch|preupload|commit|paths-info)/(.+)$", url.path)
                if not match:
                    return self._error(404, f"no route for POST {url.path}")
                repo_id, action, revision = match.group(1), match.group(2), unquote(match.group(3))
                if action == "paths-info":
                    return self._paths_info(repo_id, revision, body)
                if not self._authorised():
                    return
                repo = self._repo(repo_id)
                if repo is None:
                    return
                if action == "branch":
                    with server.lock:
                        if revision in repo.refs:
                            return self._error(409, "Reference already exists")
                        repo.refs[revision] = repo.refs["main"]
                    return self._send(200, {})
                if action == "preupload":
                    files = json.loads(body)["files"]
                    return self._send(200, {"files": [
                        {"path": f["path"], "uploadMode": "lfs" if f["path"].endswith(".parquet") else "regular",
                         "shouldIgnore": False} for f in files]})
                self._apply_commit(repo_id, repo, revision, body, parse_qs(url.query).get("create_pr") == ["1"])

            def _apply_commit(self, repo_id, repo, revision, body, create_pr):
                lines = [json.loads(line) for line in body.splitlines() if line.strip()]
                with server.lock:
                    if server.fail_commits:
                        server.fail_commits -= 1
                        return self._error(500, "Internal Error - the commit could not be stored")
                    found = self._commit(repo, revision)
                    if found is None:
                        return
                    parent, files = found[0], dict(found[1])
                    summary = ""
                    for line in lines:
                        key, value = line["key"], line["value"]
                        if key == "header":
                            summary = value.get("summary", "")
                        elif key == "file":
                            files[value["path"]] = base64.b64decode(value["content"])
                        elif key == "lfsFile":
                            if value.get("algo") != "sha256" or value["oid"] not in server.lfs_objects:
                                return self._error(400, f"LFS object of {value['path']} was not uploaded")
                            files[value["path"]] = server.lfs_objects[value["oid"]]
                        elif key == "deletedFile":
                            if value["path"] not in files:
                                return self._error(404, "A file with this name doesn't exist", "EntryNotFound")
                            del files[value["path"]]
                        else:
                            return self._error(400, f"unsupported commit entry {key!r}")
                    oid = _oid(parent, files, summary)
                    repo.commits[oid] = files
                    pr_url = None
                    if create_pr:
                        repo.pull_requests += 1
                        repo.refs[f"refs/pr/{repo.pull_requests}"] = oid
                        pr_url = f"{server.endpoint}/datasets/{repo_id}/discussions/{repo.pull_requests}"
                    else:
                        repo.refs[revision] = oid
                self._send(200, {"commitUrl": f"{server.endpoint}/datasets/{repo_id}/commit/{oid}", "commitOid": oid,
                                 "pullRequestUrl": pr_url, "success": True})

            def _paths_info(self, repo_id, revision, body):
                repo = self._repo(repo_id)
                found = repo and self._commit(repo, revision)
                if not found:
                    return
                paths = parse_qs(body.decode()).get("paths", [])
                entries = self._entries(found[1])
                self._send(200, [entries[p] for p in paths if p in entries])

            @staticmethod
            def _entries(files: dict[str, bytes]) -> dict[str, dict]:
                entries = {}
                for path, data in files.items():
                    entries[path] = {"type": "file", "path": path, "size": len(data),
                                     "oid": hashlib.sha1(data).hexdigest()}
                    parts = path.split("/")
                    for depth in range(1, len(parts)):
                        folder = "/".join(parts[:depth])
                        entries.setdefault(folder, {"type": "directory", "path": folder, "size": 0,
                                                    "oid": hashlib.sha1(folder.encode()).hexdigest()})
                return entries

            def do_HEAD(self):  # noqa: N802
                self.do_GET(head=True)

            def do_GET(self, head: bool = False):  # noqa: N802
                url = urlparse(self.path)
                server.log.append(f"{'HEAD' if head else 'GET'} {url.path}")
                resolve = re.match(r"^/datasets/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", url.path)
                if resolve:
                    return self._resolve(resolve.group(1), unquote(resolve.group(2)), unquote(resolve.group(3)), head)
                info = re.match(r"^/api/datasets/([^/]+/[^/]+?)(?:/revision/(.+))?$", url.path)
                if info:
                    return self._info(info.group(1), unquote(info.group(2) or "main"), head)
                tree = re.match(r"^/api/datasets/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?$", url.path)
                if tree:
                    query = parse_qs(url.query)
                    return self._tree(tree.group(1), unquote(tree.group(2)), unquote(tree.group(3) or "").strip("/"),
                                      query.get("recursive") in (["True"], ["true"], ["1"]))
                self._error(404, f"no route for GET {url.path}", head=head)

            def _info(self, repo_id, revision, head):
                repo = self._repo(repo_id, head)
                found = repo and self._commit(repo, revision, head)
                if not found:
                    return
                oid, files = found
                card = files.get("README.md", b"").decode()
                match = re.match(r"^---\n(.*?)\n---\n", card, re.S)
                self._send(200, {
                    "_id": repo_id, "id": repo_id, "sha": oid, "private": repo.private, "gated": repo.gated,
                    "disabled": False, "downloads": 0, "likes": 0, "tags": [], "lastModified": "2026-01-01T00:00:00.000Z",
                    "cardData": yaml.safe_load(match.group(1)) if match else {},
                    "siblings": [{"rfilename": path, "size": len(data)} for path, data in sorted(files.items())],
                }, head=head)

            def _tree(self, repo_id, revision, folder, recursive):
                repo = self._repo(repo_id)
                found = repo and self._commit(repo, revision)
                if not found:
                    return
                entries = self._entries(found[1])
                if folder and folder not in entries:
                    return self._error(404, f"{folder} does not exist", "EntryNotFound")
                prefix = f"{folder}/" if folder else ""
                chosen = [e for path, e in sorted(entries.items()) if path.startswith(prefix) and path != folder
                          and (recursive or "/" not in path[len(prefix):])]
                self._send(200, chosen)

            def _resolve(self, repo_id, revision, path, head):
                repo = self._repo(repo_id, head)
                found = repo and self._commit(repo, revision, head)
                if not found:
                    return
                oid, files = found
                if path not in files:
                    return self._error(404, "Entry not found", "EntryNotFound", head=head)
                data = files[path]
                headers = {"Content-Type": "application/octet-stream", "X-Repo-Commit": oid,
                           "ETag": f'"{hashlib.sha1(data).hexdigest()}"', "Accept-Ranges": "bytes"}
                ranged = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
                if ranged and not head:
                    start = int(ranged.group(1))
                    end = int(ranged.group(2)) if ranged.group(2) else len(data) - 1
                    part = data[start:end + 1]
                    headers["Content-Range"] = f"bytes {start}-{start + len(part) - 1}/{len(data)}"
                    return self._send(206, part, headers)
                self._send(200, data, headers, head=head)

        return Handler
