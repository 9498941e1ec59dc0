"""Semantic versions of a published dataset, and ``TARGET@VERSION`` references to them.

A version is published as the git tag ``v<major>.<minor>.<patch>`` on both targets, so
``load_dataset(repo, revision="v1.1.0")`` and ``git checkout v1.1.0`` name the same thing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from curata.errors import CurataError

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
BUMPS = ("major", "minor", "patch")


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _VERSION.match(text.strip())
        if not match:
            raise CurataError(
                f"'{text}' is not a version; use MAJOR.MINOR.PATCH such as 1.0.0 (or major, minor, patch)"
            )
        return cls(*(int(part) for part in match.groups()))

    @classmethod
    def from_tag(cls, tag: str) -> Version | None:
        """The version a git tag names, or None for tags that are not curata versions."""
        match = _VERSION.match(tag)
        return cls(*(int(part) for part in match.groups())) if match and tag.startswith("v") else None

    @property
    def tag(self) -> str:
        return f"v{self}"

    def bump(self, part: str) -> Version:
        if part == "major":
            return Version(self.major + 1, 0, 0)
        if part == "minor":
            return Version(self.major, self.minor + 1, 0)
        return Version(self.major, self.minor, self.patch + 1)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    def __lt__(self, other: Version) -> bool:
        return (self.major, self.minor, self.patch) < (other.major, other.minor, other.patch)


def next_version(requested: str, published: list[Version]) -> Version:
    """The version to publish: ``requested`` (1.2.0, or a bump word) checked against what exists.

    An existing version is never overwritten, and a version older than the newest is refused too:
    its changelog would be written against the wrong predecessor.
    """
    latest = max(published, default=None)
    if requested in BUMPS:
        return latest.bump(requested) if latest else Version(1, 0, 0)
    version = Version.parse(requested)
    if version in published:
        raise CurataError(
            f"version {version} is already published and is never overwritten; publish "
            f"{latest.bump('patch')} or {latest.bump('minor')} instead"
        )
    if latest and version < latest:
        raise CurataError(
            f"version {version} is older than the newest published version {latest}; "
            f"publish {latest.bump('patch')} or {latest.bump('minor')} instead"
        )
    return version


@dataclass(frozen=True)
class Reference:
    """``TARGET@VERSION`` as given to ``curata pull``; ``version`` None means the newest."""

    target: str
    version: Version | None

    @classmethod
    def parse(cls, text: str) -> Reference:
        target, at, version = text.strip().rpartition("@")
        if at and _VERSION.match(version):
            return cls(target, Version.parse(version))
        if at and version == "latest":
            return cls(target, None)
        return cls(text.strip(), None)
