"""Download candidate images politely and check them before anything reaches the store.

A pooled ``requests`` session, connect and read timeouts, a byte limit enforced while
streaming, a content-type and magic-byte check, then the same full decode as import. Rate limits
(429/503) and dropped connections are retried with exponential backoff and jitter (honouring
``Retry-After``); one host is never asked twice within the politeness delay.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from curata.config import ScrapeSection

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
)
RETRY_STATUSES = (429, 500, 502, 503, 504)
NON_IMAGE_TYPES = ("text/", "application/json", "application/javascript", "application/xml")
MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Download:
    """What became of one URL: bytes to validate, or why not (``retry`` when worth another run)."""

    url: str
    data: bytes | None = None
    http_status: int | None = None
    error: str | None = None
    retry: bool = False


class Downloader:
    def __init__(self, settings: ScrapeSection, max_bytes: int, user_agent: str = ""):
        import requests
        from requests.adapters import HTTPAdapter

        self.settings = settings
        self.max_bytes = max_bytes
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=16, pool_maxsize=max(settings.downloads, 4), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({
            "User-Agent": user_agent or settings.user_agent or DEFAULT_USER_AGENT,
            "Accept": "image/avif,image/webp,image/png,image/jpeg,image/*;q=0.8,*/*;q=0.5",
        })  # fmt: skip
        self._hosts: dict[str, float] = {}  # host -> earliest time of its next request
        self._lock = threading.Lock()

    def close(self) -> None:
        self.session.close()

    def get(self, url: str) -> Download:
        import requests

        last_error = "no attempt"
        for attempt in range(self.settings.retries + 1):
            self._wait_turn(url)
            try:
                with self.session.get(
                    url,
                    stream=True,
                    timeout=(self.settings.connect_timeout_s, self.settings.read_timeout_s),
                    allow_redirects=True,
                ) as response:
                    status = response.status_code
                    if status in RETRY_STATUSES:
                        last_error = f"HTTP {status}"
                        if attempt < self.settings.retries:
                            self._back_off(url, attempt, response.headers.get("Retry-After"))
                            continue
                        return Download(url, http_status=status, error=last_error, retry=True)
                    if status >= 400:
                        return Download(url, http_status=status, error=f"HTTP {status}")
                    return self._read(url, response)
            except (requests.ConnectionError, requests.Timeout) as err:
                last_error = f"{type(err).__name__}: {_first_line(err)}"
                if attempt < self.settings.retries:
                    self._back_off(url, attempt, None)
                    continue
            except requests.RequestException as err:
                return Download(url, error=f"{type(err).__name__}: {_first_line(err)}")
        return Download(url, error=last_error, retry=True)

    def _read(self, url: str, response) -> Download:
        status = response.status_code
        kind = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind.startswith(NON_IMAGE_TYPES):
            return Download(url, http_status=status, error=f"served as {kind}, not an image")
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            return Download(url, http_status=status, error=f"{int(declared) / 1e6:.1f} MB, over the limit")
        chunks, size = [], 0
        for chunk in response.iter_content(CHUNK):
            size += len(chunk)
            if size > self.max_bytes:
                return Download(url, http_status=status, error=f"over {self.max_bytes / 1e6:.0f} MB, stopped")
            chunks.append(chunk)
        data = b"".join(chunks)
        if not looks_like_image(data):
            return Download(url, http_status=status, error="the bytes are not an image (no image signature)")
        return Download(url, data=data, http_status=status)

    def _wait_turn(self, url: str) -> None:
        """Sleep until this URL's host may be asked again, and book the next turn."""
        host = urlsplit(url).netloc
        with self._lock:
            now = time.monotonic()
            start = max(now, self._hosts.get(host, 0.0))
            self._hosts[host] = start + self.settings.politeness_s
        if start > now:
            time.sleep(start - now)

    def _back_off(self, url: str, attempt: int, retry_after: str | None) -> None:
        delay = min(60.0, 2.0**attempt) * (0.5 + random.random())  # exponential, with jitter
        if retry_after:
            delay = max(delay, _seconds(retry_after))
        host = urlsplit(url).netloc
        with self._lock:
            self._hosts[host] = max(self._hosts.get(host, 0.0), time.monotonic() + delay)


def looks_like_image(data: bytes) -> bool:
    head = data[:16]
    if any(head.startswith(magic) for magic, _ in MAGIC):
        return True
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP" or head[4:8] == b"ftyp"  # WebP; AVIF/HEIF


def _seconds(retry_after: str) -> float:
    try:
        return min(float(retry_after), 300.0)
    except ValueError:
        try:
            return max(0.0, min(300.0, parsedate_to_datetime(retry_after).timestamp() - time.time()))
        except (TypeError, ValueError):
            return 0.0


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
