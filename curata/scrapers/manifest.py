"""The resume manifest: every image URL seen, per class, and what became of it (SQLite).

Each outcome is committed as it happens (WAL journal), so a scrape killed at any moment — SIGKILL
included — loses at most the downloads in flight; a rerun skips every URL with a final outcome
and retries the rest.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from curata.scrapers.records import ImageRecord

PENDING = "pending"
ACCEPTED = "accepted"
REJECTED = "rejected"  # not an image we keep (wrong type, corrupt, too large, ...)
DUPLICATE = "duplicate"  # bytes already in the store, or already accepted from another URL
FAILED = "failed"  # the download did not complete (timeouts, HTTP errors): retried next run
FINAL = (ACCEPTED, REJECTED, DUPLICATE)

SCHEMA = """
CREATE TABLE IF NOT EXISTS urls (
    class TEXT NOT NULL,
    image_url TEXT NOT NULL,
    engine TEXT NOT NULL,
    query TEXT NOT NULL,
    rank INTEGER,
    page_url TEXT,
    title TEXT,
    thumbnail_url TEXT,
    licence TEXT,
    width INTEGER,
    height INTEGER,
    status TEXT NOT NULL DEFAULT 'pending',
    reason TEXT,
    http_status INTEGER,
    sha256 TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    seen_at TEXT NOT NULL,
    fetched_at TEXT,
    PRIMARY KEY (class, image_url)
);
CREATE INDEX IF NOT EXISTS urls_status ON urls (class, status);
CREATE TABLE IF NOT EXISTS searches (
    class TEXT NOT NULL,
    engine TEXT NOT NULL,
    query TEXT NOT NULL,
    results INTEGER NOT NULL,
    problem TEXT,
    finished_at TEXT NOT NULL,
    PRIMARY KEY (class, engine, query)
);
"""


@dataclass(frozen=True)
class Pending:
    """A URL still to download, with what the engine said about it."""

    record: ImageRecord
    attempts: int


class Manifest:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.db.commit()

    def close(self) -> None:
        self.db.close()

    def add(self, class_name: str, records: Iterable[ImageRecord]) -> int:
        """Remember new URLs for a class (known ones are left as they are); returns how many were new."""
        now = _now()
        rows = [
            (class_name, r.image_url, r.engine, r.query, r.rank, r.page_url, r.title, r.thumbnail_url,
             r.licence, r.width, r.height, now)
            for r in records
        ]  # fmt: skip
        before = self.db.total_changes
        self.db.executemany(
            "INSERT OR IGNORE INTO urls (class, image_url, engine, query, rank, page_url, title, "
            "thumbnail_url, licence, width, height, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        self.db.commit()
        return self.db.total_changes - before

    def pending(self, class_name: str, max_attempts: int) -> list[Pending]:
        """URLs of a class with no final outcome yet, best-ranked first."""
        cursor = self.db.execute(
            "SELECT engine, query, rank, image_url, page_url, title, thumbnail_url, licence, width, height, "
            "attempts FROM urls WHERE class = ? AND status IN (?, ?) AND attempts < ? ORDER BY rank, rowid",
            (class_name, PENDING, FAILED, max_attempts),
        )
        return [Pending(ImageRecord(*row[:10]), row[10]) for row in cursor]

    def record(
        self,
        class_name: str,
        image_url: str,
        status: str,
        reason: str | None = None,
        http_status: int | None = None,
        sha256: str | None = None,
    ) -> None:
        self.db.execute(
            "UPDATE urls SET status = ?, reason = ?, http_status = ?, sha256 = ?, fetched_at = ?, "
            "attempts = attempts + 1 WHERE class = ? AND image_url = ?",
            (status, reason, http_status, sha256, _now(), class_name, image_url),
        )
        self.db.commit()

    def searched(self, class_name: str, engine: str, query: str) -> bool:
        """This query ran to the end on this engine before (a rerun does not search it again)."""
        row = self.db.execute(
            "SELECT problem FROM searches WHERE class = ? AND engine = ? AND query = ?",
            (class_name, engine, query),
        ).fetchone()
        return row is not None and row[0] is None

    def finish_search(
        self, class_name: str, engine: str, query: str, results: int, problem: str | None
    ) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO searches VALUES (?, ?, ?, ?, ?, ?)",
            (class_name, engine, query, results, problem, _now()),
        )
        self.db.commit()

    def counts(self, class_name: str) -> Counter:
        return Counter(
            dict(
                self.db.execute(
                    "SELECT status, COUNT(*) FROM urls WHERE class = ? GROUP BY status", (class_name,)
                )
            )
        )

    def accepted_sha256s(self, class_name: str) -> set[str]:
        return {
            row[0]
            for row in self.db.execute(
                "SELECT sha256 FROM urls WHERE class = ? AND status = ? AND sha256 IS NOT NULL",
                (class_name, ACCEPTED),
            )
        }


def _now() -> str:
    return datetime.now(UTC).isoformat()
