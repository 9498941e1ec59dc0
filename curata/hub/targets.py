"""Where published versions live: the Hugging Face Hub, or a git repository laid out like it.

Both targets hold the same files (``README.md``, ``curata-manifest.json``, ``data/*.parquet``)
and name each version with the tag ``vX.Y.Z``; the git target is what works offline, the Hub
target is what others load with one line. Both answer the same five questions, so publishing
and pulling never ask which one they talk to.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from urllib.parse import unquote, urlsplit

from curata.errors import CurataError
from curata.hub.versions import Version

HUB_PREFIX = "hf://datasets/"
# The files a version consists of; anything else in the repository (a LICENSE, notes) is left alone.
PUBLISHED = ("README.md", "curata-manifest.json", "data")


class Target(ABC):
    """A place holding published versions."""

    location: str  # as the user wrote it, for messages

    @abstractmethod
    def versions(self) -> list[Version]:
        """Versions published so far (empty when the target does not exist yet)."""

    @abstractmethod
    def read_file(self, version: Version, name: str) -> bytes | None:
        """One file of a published version, or None when that version lacks it."""

    @abstractmethod
    def publish(self, folder: Path, version: Version, message: str) -> str:
        """Make ``folder``'s files the new version (one commit, tagged); return the commit id."""

    @abstractmethod
    def download(self, version: Version, destination: Path) -> Path:
        """Write the version's files under ``destination``; return it."""

    @abstractmethod
    def load_line(self, version: Version) -> str:
        """The Python line that loads this version with 🤗 Datasets, for the dataset card."""


def open_target(
    spec: str, endpoint: str | None = None, token: str | None = None, private: bool = False
) -> Target:
    """``hf://datasets/<user>/<name>`` is the Hub; anything else a local path or ``file://`` URL."""
    spec = spec.strip()
    if not spec:
        raise CurataError(
            "no publishing target: pass --target, or set `target` under [hub] in curata.toml "
            '(e.g. "hf://datasets/<user>/<name>" or a local folder)'
        )
    if spec.startswith("hf://"):
        repo_id = spec.removeprefix(HUB_PREFIX).strip("/")
        if not spec.startswith(HUB_PREFIX) or repo_id.count("/") != 1:
            raise CurataError(f"'{spec}' is not a Hub dataset; write it as hf://datasets/<user>/<name>")
        return HubTarget(repo_id, endpoint=endpoint, token=token, private=private)
    if "://" in spec and not spec.startswith("file://"):
        raise CurataError(
            f"'{spec}' is neither hf://datasets/<user>/<name> nor a local folder or file:// URL"
        )
    if spec.startswith("file://"):
        return GitTarget(Path(unquote(urlsplit(spec).path)).resolve(), location=spec)
    return GitTarget(Path(spec).expanduser().resolve())  # absolute: it is written into configs


class GitTarget(Target):
    """A git repository (plain or bare) with one commit and one tag per version.

    A plain repository is written in place (its working tree must be clean, so nothing a person
    changed there is lost); a bare one, such as a shared ``datasets.git``, is cloned, committed to
    and pushed back.
    """

    def __init__(self, path: Path, location: str | None = None):
        self.path = path
        self.location = location or str(path)

    def versions(self) -> list[Version]:
        if not self._is_repository():
            return []
        listing = _git(["ls-remote", "--tags", str(self.path)], cwd=None)
        refs = {line.split("\t")[1].removeprefix("refs/tags/") for line in listing.splitlines() if line}
        versions = (Version.from_tag(ref) for ref in refs if not ref.endswith("^{}"))
        return sorted(v for v in versions if v)

    def read_file(self, version: Version, name: str) -> bytes | None:
        result = subprocess.run(
            ["git", "-C", str(self.path), "show", f"{version.tag}:{name}"], capture_output=True
        )
        return result.stdout if result.returncode == 0 else None

    def publish(self, folder: Path, version: Version, message: str) -> str:
        if self.path.exists() and not self._is_repository() and any(self.path.iterdir()):
            raise CurataError(
                f"{self.location} is a folder with files but not a git repository; choose an empty "
                "or new folder, or a git repository, as the target"
            )
        if not self.path.exists() or not self._is_repository():
            _git(["init", "--quiet", "--initial-branch=main", str(self.path)], cwd=None)
        if _git(["rev-parse", "--is-bare-repository"], cwd=self.path) == "true":
            with tempfile.TemporaryDirectory(prefix="curata-publish-") as scratch:
                clone = Path(scratch) / "clone"
                branch = _git(["symbolic-ref", "--short", "HEAD"], cwd=self.path)
                _git(["clone", "--quiet", str(self.path), str(clone)], cwd=None)
                _git(["checkout", "--quiet", "-B", branch], cwd=clone)
                commit = _commit_version(clone, folder, version, message)
                _git(["push", "--quiet", "origin", f"{branch}", f"refs/tags/{version.tag}"], cwd=clone)
                return commit
        detached = subprocess.run(
            ["git", "-C", str(self.path), "symbolic-ref", "-q", "HEAD"], capture_output=True
        )
        if detached.returncode != 0 and self.versions():
            raise CurataError(
                f"{self.location} has an older version checked out (detached HEAD); run "
                f"`git -C {self.path} checkout main` (or your branch), then publish again"
            )
        dirty = _git(["status", "--porcelain", "--", *PUBLISHED], cwd=self.path)
        if dirty:
            raise CurataError(
                f"{self.location} has uncommitted changes to published files; commit or discard "
                "them (git status shows them), then publish again"
            )
        return _commit_version(self.path, folder, version, message)

    def download(self, version: Version, destination: Path) -> Path:
        if version not in self.versions():
            raise CurataError(f"{self.location} has no version {version}; published: {_listing(self)}")
        destination.mkdir(parents=True, exist_ok=True)
        archive = destination / ".version.tar"
        _git(["archive", "--format=tar", f"--output={archive}", version.tag, *PUBLISHED], cwd=self.path)
        with tarfile.open(archive) as tar:
            tar.extractall(destination, filter="data")
        archive.unlink()
        return destination

    def load_line(self, version: Version) -> str:
        if self._is_repository() and _git(["rev-parse", "--is-bare-repository"], cwd=self.path) == "true":
            return f'load_dataset("<a clone of {self.location} at {version.tag}>")'
        return f'load_dataset("{self.path}")'  # the version checked out there: the newest after publishing

    def _is_repository(self) -> bool:
        """True for a repository rooted at ``path``; a folder inside some other repository (a
        project's checkout) is not itself a target repository."""
        if not self.path.is_dir():
            return False
        probe = subprocess.run(
            ["git", "-C", str(self.path), "rev-parse", "--is-bare-repository", "--absolute-git-dir"],
            capture_output=True,
            text=True,
        )
        if probe.returncode != 0:
            return False
        bare, git_dir = probe.stdout.split("\n")[:2]
        root = Path(git_dir) if bare == "true" else Path(git_dir).parent
        return root.resolve() == self.path


def _commit_version(work_tree: Path, folder: Path, version: Version, message: str) -> str:
    """Replace the published files in ``work_tree`` with ``folder``'s, commit and tag."""
    for name in PUBLISHED:
        stale = work_tree / name
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    for item in folder.iterdir():
        shutil.move(str(item), work_tree / item.name)
    # Parquet of JPEG bytes does not compress: storing it as is makes `git add` several times faster.
    _git(["-c", "core.looseCompression=0", "add", "--all", "--", *PUBLISHED], cwd=work_tree)
    _git(["commit", "--quiet", "--allow-empty", "-m", f"{version.tag}: {message}"], cwd=work_tree)
    _git(["tag", "--annotate", version.tag, "-m", message], cwd=work_tree)
    return _git(["rev-parse", "HEAD"], cwd=work_tree)


def _git(args: list[str], cwd: Path | None) -> str:
    """Run git; a failure becomes one line naming the command and git's own reason."""
    env = dict(os.environ)
    # Commits need an author; a machine without a git identity still publishes, as "curata".
    for key, value in (("GIT_AUTHOR_NAME", "curata"), ("GIT_AUTHOR_EMAIL", "curata@localhost")):
        env.setdefault(key, value)
        env.setdefault(key.replace("AUTHOR", "COMMITTER"), value)
    command = ["git", *(["-C", str(cwd)] if cwd else []), *args]
    try:
        result = subprocess.run(command, capture_output=True, text=True, env=env)
    except FileNotFoundError:
        raise CurataError("git is not installed; install it (apt install git) to publish locally") from None
    if result.returncode != 0:
        reason = (result.stderr.strip() or result.stdout.strip()).splitlines()
        raise CurataError(f"`git {args[0]}` failed: {reason[-1] if reason else 'no message'}")
    return result.stdout.strip()


def _listing(target: Target) -> str:
    return ", ".join(str(v) for v in target.versions()) or "none"


class HubTarget(Target):
    """A dataset repository on the Hugging Face Hub (or any server speaking its API).

    The token comes from ``HF_TOKEN`` or ``hf auth login`` through huggingface_hub and is never
    printed. Uploads resume: parquet shards are written byte-for-byte reproducibly, and the Hub
    skips files whose content it already holds, so a rerun after a dropped connection sends only
    what is missing.
    """

    def __init__(
        self, repo_id: str, endpoint: str | None = None, token: str | None = None, private: bool = False
    ):
        from huggingface_hub import HfApi

        self.repo_id = repo_id
        self.location = HUB_PREFIX + repo_id
        self.endpoint = endpoint
        self.private = private
        self.api = HfApi(endpoint=endpoint, token=token)
        self._token = token

    def versions(self) -> list[Version]:
        from huggingface_hub.errors import RepositoryNotFoundError

        try:
            refs = self._call(lambda: self.api.list_repo_refs(self.repo_id, repo_type="dataset"))
        except RepositoryNotFoundError:
            return []
        return sorted(v for v in (Version.from_tag(tag.name) for tag in refs.tags) if v)

    def read_file(self, version: Version, name: str) -> bytes | None:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError

        with tempfile.TemporaryDirectory(prefix="curata-hub-") as scratch:
            try:
                path = self._call(
                    lambda: hf_hub_download(
                        self.repo_id,
                        name,
                        repo_type="dataset",
                        revision=version.tag,
                        endpoint=self.endpoint,
                        token=self._token,
                        local_dir=scratch,
                    )
                )
            except EntryNotFoundError:
                return None
            return Path(path).read_bytes()

    def publish(self, folder: Path, version: Version, message: str) -> str:
        def upload() -> str:
            self.api.create_repo(self.repo_id, repo_type="dataset", private=self.private, exist_ok=True)
            commit = self.api.upload_folder(
                repo_id=self.repo_id,
                repo_type="dataset",
                folder_path=folder,
                commit_message=f"{version.tag}: {message}",
                delete_patterns=["data/**", "README.md", "curata-manifest.json"],
            )
            self.api.create_tag(
                self.repo_id, repo_type="dataset", tag=version.tag, tag_message=message, revision=commit.oid
            )
            return commit.oid

        return self._call(upload)

    def download(self, version: Version, destination: Path) -> Path:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

        try:
            self._call(
                lambda: snapshot_download(
                    self.repo_id,
                    repo_type="dataset",
                    revision=version.tag,
                    endpoint=self.endpoint,
                    token=self._token,
                    local_dir=destination,
                    allow_patterns=["README.md", "curata-manifest.json", "data/*"],
                )
            )
        except (RepositoryNotFoundError, RevisionNotFoundError):
            raise CurataError(
                f"{self.location} has no version {version}; published: {_listing(self)}"
            ) from None
        return destination

    def load_line(self, version: Version) -> str:
        return f'load_dataset("{self.repo_id}", revision="{version.tag}")'

    def _call(self, action):
        """Run a Hub call; turn refusals and network failures into one line (never with the token)."""
        import httpx2  # huggingface_hub's HTTP client
        from huggingface_hub.errors import (
            EntryNotFoundError,
            HfHubHTTPError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )

        try:
            return action()
        except LocalEntryNotFoundError:  # the download could not connect
            raise CurataError(
                f"cannot reach the Hub for {self.location}; check the network and run the command again"
            ) from None
        except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError):
            raise
        except HfHubHTTPError as err:
            status = err.response.status_code if err.response is not None else None
            if status in (401, 403):
                raise CurataError(
                    f"the Hub refused access to {self.location} (HTTP {status}); log in with "
                    "`hf auth login` or set HF_TOKEN to a token with write access"
                ) from None
            raise CurataError(
                f"the Hub answered HTTP {status} for {self.location}: {_first_line(err)}"
            ) from None
        except (OSError, httpx2.HTTPError) as err:  # connection refused, DNS, timeouts
            raise CurataError(
                f"cannot reach the Hub for {self.location} ({type(err).__name__}); check the network "
                "and run the command again (files already uploaded are not sent twice)"
            ) from None


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
