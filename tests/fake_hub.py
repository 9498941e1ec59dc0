"""A contract fake of the Hugging Face Hub's HTTP API, for tests.

The test machines cannot reach huggingface.co, so tests point the real ``huggingface_hub`` client at
this in-process server (``endpoint=hub.endpoint``) instead. It speaks just enough of the Hub's wire
protocol for dataset repos: create a repo, list refs and trees, repo info, preupload, the legacy Git LFS
batch/upload/verify protocol, ndjson commits, tags, and ``/resolve`` downloads (GET and HEAD). It does
not speak the Xet CAS protocol (that lives in Rust inside ``hf_xet``): tests must set
``huggingface_hub.constants.HF_HUB_DISABLE_XET = True`` so uploads and downloads take the LFS/HTTP path.

Every request is recorded in :attr:`FakeHub.calls` (method, unquoted path, query, Authorization header,
response status) and every accepted LFS PUT in :attr:`FakeHub.lfs_uploads`, so tests can assert on the
contract: which endpoints were hit, with which credentials, and how many bytes really moved.
Errors carry the ``X-Error-Code`` header the real Hub sends, which is what makes the client raise
``RepositoryNotFoundError``, ``RevisionNotFoundError`` and ``EntryNotFoundError``.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

LFS_SIZE_THRESHOLD = 10 * 1000 * 1000  # the Hub stores anything larger than 10 MB in LFS
# What the Hub writes into a new dataset repo's first commit (abridged): these patterns go to LFS too.
DEFAULT_GITATTRIBUTES = (
    b"*.arrow filter=lfs diff=lfs merge=lfs -text\n"
    b"*.bin filter=lfs diff=lfs merge=lfs -text\n"
    b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"
    b"*.zip filter=lfs diff=lfs merge=lfs -text\n"
)
_COMMIT_ID = re.compile(r"^[0-9a-f]{40}$")


class HubError(Exception):
    """An error answer: HTTP status, the Hub's ``X-Error-Code`` (if any) and a message."""

    def __init__(self, status: int, message: str, code: str | None = None, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


@dataclass
class Commit:
    sha: str
    message: str
    files: dict[str, bytes]
    parent: str | None = None


@dataclass
class Repo:
    repo_id: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    lfs_objects: dict[str, bytes] = field(default_factory=dict)  # sha256 -> content, uploaded or committed


def git_blob_id(data: bytes) -> str:
    """The git object id of a blob; the Hub reports it as ``oid`` (and ETag) of regular files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub:
    """In-memory dataset repos behind a loopback HTTP server that the real client can talk to.

    ``token``: when set, writes (and reads of private repos) must carry ``Bearer <token>``, as on the Hub.
    """

    def __init__(self, token: str | None = None):
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.calls: list[dict] = []
        self.lfs_uploads: list[str] = []  # oid of every accepted LFS PUT, in order
        self._failures: list[tuple[str, str, int]] = []  # (method, path part, status) to answer once
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.endpoint = ""

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> FakeHub:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.hub = self  # type: ignore[attr-defined]
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = self._thread = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- helpers for tests -----------------------------------------------------------------------
    def files_at(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """The files of the commit that ``revision`` (branch, tag or commit id) points to."""
        with self._lock:
            return dict(self._resolve(self._repo(repo_id), revision).files)

    def tags(self, repo_id: str) -> dict[str, str]:
        """Tag name -> commit id."""
        with self._lock:
            return dict(self._repo(repo_id).tags)

    def calls_to(self, method: str, path_part: str = "") -> list[dict]:
        """The recorded calls with this method whose path contains ``path_part``."""
        return [c for c in self.calls if c["method"] == method and path_part in c["path"]]

    # -- state -----------------------------------------------------------------------------------
    def _repo(self, repo_id: str) -> Repo:
        if repo_id not in self.repos:
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return self.repos[repo_id]

    def _resolve(self, repo: Repo, revision: str) -> Commit:
        sha = repo.branches.get(revision) or repo.tags.get(revision) or revision
        if sha not in repo.commits:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return repo.commits[sha]

    def _new_commit(self, repo: Repo, branch: str, message: str, files: dict[str, bytes]) -> Commit:
        parent = repo.branches.get(branch)
        seed = f"{repo.repo_id}\n{parent}\n{message}\n{next(self._ids)}".encode()
        commit = Commit(hashlib.sha1(seed).hexdigest(), message, files, parent)
        repo.commits[commit.sha] = commit
        repo.branches[branch] = commit.sha
        for path, data in files.items():  # committed LFS content is "already on the server" for batches
            if self._is_lfs(path, data, files):
                repo.lfs_objects[hashlib.sha256(data).hexdigest()] = data
        return commit

    def _is_lfs(self, path: str, content: bytes, files: dict[str, bytes], size: int | None = None) -> bool:
        """The Hub's rule: LFS if large, binary-looking or matched by a ``filter=lfs`` .gitattributes line."""
        size = len(content) if size is None else size
        if size > LFS_SIZE_THRESHOLD or b"\0" in content[:512]:
            return True
        rules = files.get(".gitattributes", b"").decode(errors="replace").splitlines()
        patterns = [line.split()[0] for line in rules if "filter=lfs" in line]
        name = path.rsplit("/", 1)[-1]
        return bool(path) and any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(path, p) for p in patterns)

    def _oid(self, path: str, data: bytes, files: dict[str, bytes]) -> str:
        """The oid the client compares against its local file: sha256 for LFS files, git blob id otherwise."""
        return hashlib.sha256(data).hexdigest() if self._is_lfs(path, data, files) else git_blob_id(data)

    def _check_auth(self, authorization: str | None, repo: Repo | None = None) -> None:
        """Writes without the token get 401; reads of a private repo get 404, which hides that it exists."""
        if self.token is not None and authorization != f"Bearer {self.token}":
            if repo is not None and repo.private:
                raise HubError(404, f"Repository {repo.repo_id} not found", "RepoNotFound")
            raise HubError(401, "Invalid credentials in Authorization header")

    # -- endpoints -------------------------------------------------------------------------------
    def fail_next(self, method: str, path_part: str, status: int = 500) -> None:
        """Answer the next matching request with ``status``: a connection that drops mid-publish."""
        self._failures.append((method, path_part, status))

    def handle(self, method: str, parts: list[str], query: dict, body: bytes, auth: str | None):
        """Route one request; returns (status, headers, body bytes) or raises HubError."""
        path = "/" + "/".join(parts)
        for failure in self._failures:
            if failure[0] == method and failure[1] in path:
                self._failures.remove(failure)
                raise HubError(failure[2], "Internal Error - injected by the test")
        match method, parts:
            case "POST", ["api", "repos", "create"]:
                return self._create_repo(json.loads(body), auth)
            case "POST", ["api", "validate-yaml"]:
                return _json({"errors": [], "warnings": []})
            case _, ["api", "datasets", ns, name, *rest]:
                repo = self._repo(f"{ns}/{name}")
                if method != "GET":
                    self._check_auth(auth)
                elif repo.private:
                    self._check_auth(auth, repo)
                return self._api(method, repo, rest, query, body)
            case "POST", ["datasets", ns, git, "info", "lfs", "objects", action] if git.endswith(".git"):
                self._check_auth(auth)
                repo = self._repo(f"{ns}/{git[: -len('.git')]}")
                return (
                    self._lfs_batch(repo, json.loads(body))
                    if action == "batch"
                    else self._lfs_verify(repo, body)
                )
            case "PUT", ["lfs-upload", ns, name, oid]:
                return self._lfs_put(self._repo(f"{ns}/{name}"), oid, body)
            case "GET" | "HEAD", ["datasets", ns, name, "resolve", revision, *path]:
                repo = self._repo(f"{ns}/{name}")
                if repo.private:
                    self._check_auth(auth, repo)
                return self._resolve_file(repo, revision, "/".join(path))
        raise HubError(404, f"The fake Hub does not implement {method} /{'/'.join(parts)}")

    def _create_repo(self, payload: dict, auth: str | None):
        self._check_auth(auth)
        if payload.get("type") != "dataset":
            raise HubError(400, "The fake Hub only hosts dataset repos")
        repo_id = f"{payload['organization']}/{payload['name']}"
        url = f"{self.endpoint}/datasets/{repo_id}"
        if repo_id in self.repos:  # the client reads "url" from the 409 body too when exist_ok=True
            raise HubError(409, "You already created this dataset repo", url=url)
        repo = self.repos[repo_id] = Repo(repo_id, payload.get("visibility") == "private")
        self._new_commit(repo, "main", "initial commit", {".gitattributes": DEFAULT_GITATTRIBUTES})
        return _json({"url": url, "name": repo_id, "id": repo_id})

    def _api(self, method: str, repo: Repo, rest: list[str], query: dict, body: bytes):
        match method, rest:
            case "GET", [] | ["revision", _]:
                return _json(self._info(repo, self._resolve(repo, rest[1] if rest else "main"), query))
            case "GET", ["refs"]:
                refs = [("branches", "heads", repo.branches), ("tags", "tags", repo.tags)]
                listing = {kind: [_ref(n, f"refs/{d}/{n}", s) for n, s in r.items()] for kind, d, r in refs}
                return _json({**listing, "converts": [], "pullRequests": []})
            case "GET", ["tree", revision, *sub]:
                recursive = query.get("recursive", "").lower() in ("1", "true")
                return _json(self._tree(self._resolve(repo, revision), "/".join(sub), recursive))
            case "POST", ["preupload", revision]:
                files = self._resolve(repo, revision).files
                return _json({"files": [self._upload_mode(f, files) for f in json.loads(body)["files"]]})
            case "POST", ["commit", revision]:
                if query.get("create_pr"):
                    raise HubError(400, "The fake Hub does not open pull requests")
                return self._commit(repo, revision, body)
            case "POST", ["tag", revision]:
                payload = json.loads(body)
                if payload["tag"] in repo.tags:
                    raise HubError(409, f"Tag {payload['tag']} already exists")
                repo.tags[payload["tag"]] = self._resolve(repo, revision).sha
                return _json({"name": payload["tag"], "ref": f"refs/tags/{payload['tag']}"})
        raise HubError(404, f"The fake Hub does not implement {method} {'/'.join(rest)}")

    def _info(self, repo: Repo, commit: Commit, query: dict) -> dict:
        siblings = []
        for path, data in sorted(commit.files.items()):
            sibling: dict = {"rfilename": path}
            if query.get("blobs"):
                sibling |= {"size": len(data), "blobId": git_blob_id(data)}
                if self._is_lfs(path, data, commit.files):
                    sha = hashlib.sha256(data).hexdigest()
                    sibling["lfs"] = {"size": len(data), "sha256": sha, "pointerSize": 134}
            siblings.append(sibling)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        info = {
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": commit.sha,
            "siblings": siblings,
        }
        extra = dict(private=repo.private, gated=False, disabled=False, lastModified=now, createdAt=now)
        return info | extra | {"tags": [], "downloads": 0, "likes": 0}

    def _tree(self, commit: Commit, sub: str, recursive: bool) -> list[dict]:
        """Files (and folders) under ``sub``; only direct children unless ``recursive``."""
        prefix = f"{sub}/" if sub else ""
        below = {p: d for p, d in commit.files.items() if p.startswith(prefix)}
        if sub and not below:
            raise HubError(404, f"{sub} does not exist at this revision", "EntryNotFound")
        entries: dict[str, dict] = {}
        for path, data in sorted(below.items()):
            rel_parts = path[len(prefix) :].split("/")
            for depth in range(1, len(rel_parts)):  # the folders on the way
                folder = prefix + "/".join(rel_parts[:depth])
                if recursive or depth == 1:
                    entries.setdefault(
                        folder, {"type": "directory", "path": folder, "oid": git_blob_id(folder.encode())}
                    )
            if recursive or len(rel_parts) == 1:
                entry = {"type": "file", "path": path, "size": len(data), "oid": git_blob_id(data)}
                if self._is_lfs(path, data, commit.files):
                    entry["lfs"] = {
                        "oid": hashlib.sha256(data).hexdigest(),
                        "size": len(data),
                        "pointerSize": 134,
                    }
                entries[path] = entry
        return list(entries.values())

    def _upload_mode(self, item: dict, files: dict[str, bytes]) -> dict:
        sample = base64.b64decode(item["sample"])
        lfs = self._is_lfs(item["path"], sample, files, size=item["size"])
        existing = files.get(item["path"])
        # "oid" lets the client skip files that did not change; it must be computed the way the client does.
        oid = None if existing is None else self._oid(item["path"], existing, files)
        return {
            "path": item["path"],
            "uploadMode": "lfs" if lfs else "regular",
            "shouldIgnore": False,
            "oid": oid,
        }

    def _lfs_batch(self, repo: Repo, payload: dict):
        objects = []
        for obj in payload["objects"]:
            answer = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in repo.lfs_objects:  # no "actions" = already stored: the client skips it
                answer["actions"] = {
                    "upload": {"href": f"{self.endpoint}/lfs-upload/{repo.repo_id}/{obj['oid']}"},
                    "verify": {
                        "href": f"{self.endpoint}/datasets/{repo.repo_id}.git/info/lfs/objects/verify"
                    },
                }
            objects.append(answer)
        return _json({"transfer": "basic", "objects": objects}, "application/vnd.git-lfs+json")

    def _lfs_put(self, repo: Repo, oid: str, body: bytes):
        if hashlib.sha256(body).hexdigest() != oid:
            raise HubError(400, f"Uploaded content does not hash to {oid}")
        repo.lfs_objects[oid] = body
        self.lfs_uploads.append(oid)
        return 200, {}, b""

    def _lfs_verify(self, repo: Repo, body: bytes):
        obj = json.loads(body)
        if obj["oid"] not in repo.lfs_objects or len(repo.lfs_objects[obj["oid"]]) != obj["size"]:
            raise HubError(404, f"LFS object {obj['oid']} was not uploaded")
        return _json({"oid": obj["oid"], "size": obj["size"]})

    def _commit(self, repo: Repo, branch: str, body: bytes):
        if branch not in repo.branches:
            raise HubError(404, f"Invalid rev id: {branch} is not a branch", "RevisionNotFound")
        files = dict(repo.commits[repo.branches[branch]].files)
        header: dict = {}
        for line in body.decode().splitlines():
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                header = value
            elif key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "lfsFile":
                if value["oid"] not in repo.lfs_objects:
                    raise HubError(
                        400, f"LFS pointer {value['path']} points to an object that was never uploaded"
                    )
                files[value["path"]] = repo.lfs_objects[value["oid"]]
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    raise HubError(
                        404, f"A file with this name doesn't exist: {value['path']}", "EntryNotFound"
                    )
            elif key == "deletedFolder":
                files = {p: d for p, d in files.items() if not p.startswith(value["path"].rstrip("/") + "/")}
        parent = header.get("parentCommit")
        if parent is not None and parent != repo.branches[branch]:
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        commit = self._new_commit(repo, branch, header.get("summary", ""), files)
        url = f"{self.endpoint}/datasets/{repo.repo_id}/commit/{commit.sha}"
        return _json({"commitUrl": url, "commitOid": commit.sha, "pullRequestUrl": None, "success": True})

    def _resolve_file(self, repo: Repo, revision: str, path: str):
        commit = self._resolve(repo, revision)
        if path not in commit.files:  # the client caches the miss under this commit id
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", commit=commit.sha)
        data = commit.files[path]
        headers = {"X-Repo-Commit": commit.sha, "Content-Type": "application/octet-stream"}
        if self._is_lfs(path, data, commit.files):
            sha = hashlib.sha256(data).hexdigest()
            headers |= {"ETag": f'"{sha}"', "X-Linked-Etag": f'"{sha}"', "X-Linked-Size": str(len(data))}
        else:
            headers["ETag"] = f'"{git_blob_id(data)}"'
        return 200, headers, data


def _json(payload, content_type: str = "application/json"):
    return 200, {"Content-Type": content_type}, json.dumps(payload).encode()


def _ref(name: str, ref: str, sha: str) -> dict:
    return {"name": name, "ref": ref, "targetCommit": sha}


class _Handler(BaseHTTPRequestHandler):
    """Reads the request, records it, lets :meth:`FakeHub.handle` answer, writes the response."""

    protocol_version = "HTTP/1.1"  # keep-alive, like the Hub; every answer carries a Content-Length

    def _serve(self) -> None:
        hub: FakeHub = self.server.hub  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/")[1:]]
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        auth = self.headers.get("Authorization")
        call = {"method": self.command, "path": unquote(url.path), "query": query, "authorization": auth}
        body = self._read_body()
        with hub._lock:
            hub.calls.append(call)
            try:
                status, headers, payload = hub.handle(self.command, parts, query, body, auth)
            except HubError as error:
                status, payload = error.status, json.dumps({"error": error.message, **error.extra}).encode()
                headers = {"Content-Type": "application/json", "X-Error-Message": error.message}
                if error.code:
                    headers["X-Error-Code"] = error.code
                if "commit" in error.extra:
                    headers["X-Repo-Commit"] = error.extra["commit"]
            call["status"] = status
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(payload))}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip(), 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format, *args) -> None:  # noqa: A002 - keep test output clean
        pass
