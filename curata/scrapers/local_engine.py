"""A local stand-in for the web's image search engines, on 127.0.0.1 only.

It serves a set of images through pages built the way the real engines build theirs: Bing's
``a.iusc`` results with ``m`` JSON and ``first=N`` async paging (repeating its last page when
results run out), DuckDuckGo's ``vqd``-guarded ``i.js`` JSON endpoint, and Google's lazily
loaded grid whose click-to-preview shows the thumbnail first and swaps in the full-size URL
later. The adapters are tested against it, and the demo scrapes from it, without the internet.

Results per query are a list of image files, of URLs (results whose image lives elsewhere, e.g.
on a test's hostile server), or of tokens for the troubles real results bring:
``"html"`` (a page served where an image should be), ``"corrupt"`` (truncated JPEG bytes),
``"missing"`` (HTTP 404), ``"thumbnail-only"`` (a Google preview that never shows the full
image), ``"flaky"`` (HTTP 429 with ``Retry-After`` twice, then an image). The queries
``"captcha"`` and ``"consent"`` answer with a CAPTCHA (HTTP 429) and a cookie wall. Every
request is counted, so tests can tell what was fetched twice.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote_plus, urlsplit

from PIL import Image

BING_PAGE = 35
DDG_PAGE = 100
GOOGLE_BATCH = 20
TOKENS = ("html", "corrupt", "missing", "thumbnail-only", "flaky")
FLAKY_FAILURES = 2  # a "flaky" image answers 429 this many times before it serves


class LocalEngine:
    """Serve ``results`` ({query: [image path or token, ...]}) until :meth:`stop`."""

    def __init__(self, results: dict[str, list[Path | str]], preview_delay_ms: int = 300):
        self.items: list[Path | str] = []
        self.results: dict[str, list[int]] = {}
        for query, entries in results.items():
            self.results[query.lower()] = [self._register(entry) for entry in entries]
        self.preview_delay_ms = preview_delay_ms
        self.hits: Counter = Counter()  # request path -> times asked
        self.requests: list[str] = []  # every request's path and query string, in order
        self._thumbnails: dict[int, bytes] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="curata-local-engine", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LocalEngine:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalEngine:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def base_urls(self) -> dict[str, str]:
        """The ``[scrape] base_urls`` that point every adapter here."""
        return {"bing": self.url, "duckduckgo": self.url, "google": self.url}

    def image_hits(self) -> int:
        return sum(n for path, n in self.hits.items() if path.startswith("/img/"))

    # what the pages say about result ``i``

    def _register(self, entry: Path | str) -> int:
        if isinstance(entry, str) and entry not in TOKENS and not entry.startswith(("http://", "https://")):
            entry = Path(entry)
        self.items.append(entry)
        return len(self.items) - 1

    def record(self, i: int) -> dict:
        entry = self.items[i]
        name = entry.stem if isinstance(entry, Path) else entry.rsplit("/", 1)[-1]
        elsewhere = isinstance(entry, str) and entry.startswith(("http://", "https://"))
        return {
            "image": entry if elsewhere else f"{self.url}/img/{i}.jpg",
            "page": f"{self.url}/page/{i}.html",
            "thumbnail": f"{self.url}/thumb/{i}.jpg",
            "title": f"{name} (result {i})",
            "full": entry != "thumbnail-only",
        }

    def image_bytes(self, i: int) -> tuple[int, str, bytes]:
        entry = self.items[i]
        if entry == "html":
            return 200, "text/html", b"<!doctype html><html><body>Not an image</body></html>"
        if entry == "corrupt":
            return 200, "image/jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 64
        if entry == "missing":
            return 404, "text/plain", b"not found"
        if entry == "thumbnail-only":
            return 200, "image/jpeg", self.thumbnail(i)
        if entry == "flaky":
            if self.hits[f"/img/{i}.jpg"] <= FLAKY_FAILURES:
                return 429, "text/plain", b"slow down"
            buffer = io.BytesIO()
            Image.new("RGB", (320, 240), (200, 40, 90)).save(buffer, "JPEG")
            return 200, "image/jpeg", buffer.getvalue()
        return 200, "image/jpeg", Path(entry).read_bytes()

    def thumbnail(self, i: int) -> bytes:
        if i not in self._thumbnails:
            entry = self.items[i]
            image = (
                Image.open(entry).convert("RGB")
                if isinstance(entry, Path)
                else Image.new("RGB", (64, 48), "grey")
            )
            image.thumbnail((96, 96))
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=70)
            self._thumbnails[i] = buffer.getvalue()
        return self._thumbnails[i]

    def vqd(self, query: str) -> str:
        return "4-" + str(int(hashlib.sha256(query.lower().encode()).hexdigest()[:12], 16))


def _handler(engine: LocalEngine):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            engine.hits[parts.path] += 1
            engine.requests.append(self.path)
            params = {k: v[0] for k, v in parse_qs(parts.query).items()}
            query = params.get("q", "").lower()
            if query == "captcha":
                return self.send(
                    429,
                    "text/html",
                    _page("Unusual traffic from your computer network. Please solve the CAPTCHA below."),
                )
            if query == "consent":
                return self.send(
                    200,
                    "text/html",
                    _page(
                        "Before you continue: we use cookies. "
                        "<button>Reject all</button><button>Accept all</button>"
                    ),
                )
            ids = engine.results.get(query, [])
            path = parts.path
            if path.startswith(("/img/", "/thumb/", "/page/")):
                return self.item(path)
            if path == "/images/async":
                return self.send(200, "text/html", bing_page(engine, ids, int(params.get("first", 1))))
            if path == "/" and "q" in params:
                return self.send(200, "text/html", ddg_page(engine, params["q"]))
            if path == "/i.js":
                if params.get("vqd") != engine.vqd(query):
                    return self.send(403, "application/json", b'{"error": "invalid vqd"}')
                return self.send(
                    200, "application/json", ddg_json(engine, params["q"], ids, int(params.get("s", 0)))
                )
            if path == "/search":
                return self.send(200, "text/html", google_page(engine, ids))
            return self.send(404, "text/plain", b"not found")

        def item(self, path: str) -> None:
            kind, _, name = path[1:].partition("/")
            try:
                i = int(name.split(".")[0])
                engine.items[i]
            except (ValueError, IndexError):
                return self.send(404, "text/plain", b"not found")
            if kind == "img":
                status, kind, body = engine.image_bytes(i)
                return self.send(status, kind, body, {"Retry-After": "0"} if status == 429 else {})
            if kind == "thumb":
                return self.send(200, "image/jpeg", engine.thumbnail(i))
            return self.send(200, "text/html", _page(f"<h1>{html.escape(engine.record(i)['title'])}</h1>"))

        def send(self, status: int, kind: str, body: bytes | str, headers: dict | None = None) -> None:
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", kind)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def bing_page(engine: LocalEngine, ids: list[int], first: int) -> str:
    if not ids:
        return _page("<div class='dgControl'></div>")
    start = min(first - 1, ((len(ids) - 1) // BING_PAGE) * BING_PAGE)  # past the end: the last page again
    anchors = []
    for i in ids[start : start + BING_PAGE]:
        r = engine.record(i)
        m = {"murl": r["image"], "purl": r["page"], "turl": r["thumbnail"], "t": r["title"], "mid": str(i)}
        anchors.append(
            f"<div class='imgpt'><a class='iusc' href='/images/search?view=detailV2' "
            f"m='{html.escape(json.dumps(m), quote=True)}'>"
            f"<img class='mimg' src='{r['thumbnail']}'></a></div>"
        )
    return _page("<div class='dgControl'>" + "".join(anchors) + "</div>")


def ddg_page(engine: LocalEngine, query: str) -> str:
    return _page(
        f"<div id='react-layout'></div><script>DDG.deep.initialize('/d.js?q={quote_plus(query)}"
        f"&l=us-en&s=0&a=h_&ct=US&vqd={engine.vqd(query)}&p_ent=');</script>"
    )


def ddg_json(engine: LocalEngine, query: str, ids: list[int], start: int) -> str:
    results = []
    for i in ids[start : start + DDG_PAGE]:
        r = engine.record(i)
        results.append({
            "image": r["image"], "url": r["page"], "thumbnail": r["thumbnail"], "title": r["title"],
            "width": 640, "height": 480, "source": "Local",
        })  # fmt: skip
    following = (
        f"i.js?q={quote_plus(query)}&o=json&s={start + DDG_PAGE}" if start + DDG_PAGE < len(ids) else None
    )
    return json.dumps({"results": results, "next": following, "query": query})


def google_page(engine: LocalEngine, ids: list[int]) -> str:
    data = [engine.record(i) for i in ids]
    script = """
const results = RESULTS;
const grid = document.getElementById('islrg');
let shown = 0;
function more() {
  for (const r of results.slice(shown, shown + BATCH)) {
    const item = document.createElement('div');
    item.setAttribute('data-lpage', r.page);
    item.setAttribute('data-ri', String(shown));
    item.className = 'isv-r';
    item.innerHTML = '<img class="rg_i" alt="' + r.title + '" data-src="' + r.thumbnail
      + '" width="160" height="120">';
    item.addEventListener('click', () => preview(r));
    grid.appendChild(item);
    shown += 1;
  }
  for (const img of grid.querySelectorAll('img[data-src]')) {
    const box = img.getBoundingClientRect();
    if (box.top < window.innerHeight * 2 && !img.src) img.src = img.dataset.src;
  }
}
function preview(r) {
  const panel = document.getElementById('islsp');
  panel.innerHTML = '<a href="' + r.page + '"><img class="sFlh5c" alt="' + r.title
    + '" src="' + r.thumbnail + '"></a>';
  panel.style.display = 'block';
  if (r.full) setTimeout(() => { panel.querySelector('img').src = r.image; }, DELAY);
}
window.addEventListener('scroll', () => {
  if (window.innerHeight + window.scrollY >= document.body.scrollHeight - 10) setTimeout(more, 150);
});
more();
"""
    script = (  # the data last: nothing in it is replaced
        script.replace("BATCH", str(GOOGLE_BATCH))
        .replace("DELAY", str(engine.preview_delay_ms))
        .replace("RESULTS", json.dumps(data))
    )
    body = (
        "<div id='islrg' style='display:flex;flex-wrap:wrap;width:700px'></div>"
        "<div id='islsp' style='display:none;position:fixed;right:0;top:0;width:400px;height:100%;"
        "background:#fff'></div><div style='height:1200px'></div>"
    )
    return _page(
        body,
        f"<style>.isv-r{{width:170px;height:130px}}</style><script>{script}</script>",
        script_at_end=True,
    )


def _page(body: str, extra: str = "", script_at_end: bool = False) -> str:
    if script_at_end:
        return f"<!doctype html><html><head><meta charset='utf-8'></head><body>{body}{extra}</body></html>"
    return f"<!doctype html><html><head><meta charset='utf-8'>{extra}</head><body>{body}</body></html>"
