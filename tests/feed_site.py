"""A real HTTP server on 127.0.0.1 for feed jobs: feeds with ETag / Last-Modified (and 304),
article pages, redirects, slow and failing paths; plus builders for RSS, Atom and article pages.

Used by tests/test_feeds.py, tests/test_batch.py and bench/bench_batch.py.
"""

from __future__ import annotations

import hashlib
import html
import random
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
EVAL_FEEDS = ROOT.parent / "shared" / "eval" / "feeds"


@dataclass
class Resource:
    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    # Validators: a conditional GET that matches gets a 304.
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0
    # Fail with this status the next `fail_times` requests (then serve the resource).
    fail_status: int = 500
    fail_times: int = 0
    location: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class FeedSite:
    """Serves `resources[path]`; records every request as (method, path, headers)."""

    def __init__(self) -> None:
        self.resources: dict[str, Resource] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        # When each request arrived (time.monotonic(), as the stand-in Ollama logs it).
        self.times: list[float] = []
        # Most requests the site was serving at once.
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                site._serve(self)

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that hung up (a killed run) is not news

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FeedSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, path: str, body: bytes | str, **kw: Any) -> str:
        """Serve `body` at `path`; returns the full URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.resources[path] = Resource(data, **kw)
        return self.url + path

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for p, _ in self.requests if p == path)

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            self._answer(h)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, h: BaseHTTPRequestHandler) -> None:
        headers = {k.lower(): v for k, v in h.headers.items()}
        with self._lock:
            self.requests.append((h.path, headers))
            self.times.append(time.monotonic())
            res = self.resources.get(h.path)
            failing = res is not None and res.fail_times > 0
            if res is not None and failing:
                res.fail_times -= 1
        if res is None:
            return _send(h, 404, "text/plain", b"not found")
        if res.delay:
            time.sleep(res.delay)
        if failing:
            return _send(h, res.fail_status, "text/plain", b"failing")
        if res.location:
            return _send(h, res.status, "text/plain", b"", {"Location": res.location})
        extra = dict(res.headers)
        if res.etag:
            extra["ETag"] = res.etag
        if res.last_modified:
            extra["Last-Modified"] = res.last_modified
        not_modified = (res.etag and headers.get("if-none-match") == res.etag) or (
            res.last_modified and headers.get("if-modified-since") == res.last_modified
        )
        if not_modified:
            return _send(h, 304, None, b"", extra)
        _send(h, res.status, res.content_type, res.body, extra)


def _send(
    h: BaseHTTPRequestHandler,
    status: int,
    content_type: str | None,
    body: bytes,
    extra: dict[str, str] | None = None,
) -> None:
    try:
        h.send_response(status)
        if content_type:
            h.send_header("Content-Type", content_type)
        for k, v in (extra or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        pass


def http_date(ts: float = 1_700_000_000) -> str:
    return formatdate(ts, usegmt=True)


# --- content -------------------------------------------------------------------------------------


@dataclass
class Story:
    title: str
    text: str  # paragraphs separated by blank lines

    @property
    def paragraphs(self) -> list[str]:
        return [p.strip() for p in self.text.split("\n") if p.strip()]


def corpus_stories() -> list[Story]:
    """The five sample articles of corpus/: first line the title, then the body."""
    stories = []
    for path in sorted(CORPUS.glob("*.txt")):
        lines = path.read_text(encoding="utf-8").strip().split("\n")
        stories.append(Story(lines[0].strip(), "\n".join(lines[1:]).strip()))
    return stories


_WORDS = [
    "council",
    "budget",
    "river",
    "bridge",
    "school",
    "harbour",
    "minister",
    "election",
    "railway",
    "hospital",
    "farmers",
    "museum",
    "festival",
    "storm",
    "court",
    "police",
    "market",
    "energy",
    "water",
    "housing",
    "report",
    "inquiry",
    "union",
    "airport",
    "village",
    "county",
    "mayor",
    "trial",
    "plant",
    "company",
    "workers",
    "prices",
    "rainfall",
    "vote",
    "study",
    "teachers",
    "doctors",
    "drivers",
    "engineers",
    "officials",
    "residents",
    "visitors",
    "students",
    "lawyers",
]


def synthetic_story(n: int, words: int = 160) -> Story:
    """A distinct article of plain sentences (deterministic in `n`), unlike any other."""
    rng = random.Random(n)
    sentences = []
    total = 0
    while total < words:
        k = rng.randint(8, 16)
        body = " ".join(rng.choice(_WORDS) for _ in range(k))
        sentences.append(f"Report {n} says the {body} {rng.randint(10, 9999)}.")
        total += k + 5
    paras = [" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3)]
    return Story(f"Story {n}: the {rng.choice(_WORDS)} {rng.choice(_WORDS)}", "\n".join(paras))


def article_page(story: Story, *, canonical: str | None = None) -> str:
    """A news page around the story: navigation, the article, a footer."""
    paras = "".join(f"<p>{html.escape(p)}</p>" for p in story.paragraphs)
    link = f'<link rel="canonical" href="{html.escape(canonical)}">' if canonical else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(story.title)}"
        f"</title>{link}</head><body><nav><a href='/'>Home</a> <a href='/world'>World</a></nav>"
        f"<article><h1>{html.escape(story.title)}</h1>{paras}</article>"
        "<footer>Copyright the publisher. All rights reserved.</footer></body></html>"
    )


@dataclass
class Item:
    title: str
    link: str | None = None
    guid: str | None = None
    description: str = ""
    content: str | None = None
    published: float | None = None


def rss(items: list[Item], *, title: str = "Test feed", link: str = "http://example.com/") -> str:
    out = []
    for it in items:
        parts = [f"<title>{html.escape(it.title)}</title>"]
        if it.link:
            parts.append(f"<link>{html.escape(it.link)}</link>")
        if it.guid:
            parts.append(f'<guid isPermaLink="false">{html.escape(it.guid)}</guid>')
        if it.published is not None:
            parts.append(f"<pubDate>{http_date(it.published)}</pubDate>")
        if it.description:
            parts.append(f"<description>{html.escape(it.description)}</description>")
        if it.content is not None:
            parts.append(f"<content:encoded><![CDATA[{it.content}]]></content:encoded>")
        out.append(f"<item>{''.join(parts)}</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>{html.escape(title)}</title><link>{html.escape(link)}</link>"
        f"<description>d</description>{''.join(out)}</channel></rss>"
    )


def atom(items: list[Item], *, title: str = "Atom feed") -> str:
    out = []
    for it in items:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(it.published or 1_700_000_000))
        out.append(
            f"<entry><title>{html.escape(it.title)}</title>"
            + (f'<link rel="alternate" href="{html.escape(it.link)}"/>' if it.link else "")
            + f"<id>{html.escape(it.guid or it.link or it.title)}</id><updated>{when}</updated>"
            + (f'<content type="html">{html.escape(it.content)}</content>' if it.content else "")
            + (f"<summary>{html.escape(it.description)}</summary>" if it.description else "")
            + "</entry>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{html.escape(title)}</title><id>urn:test:{hashlib.sha1(title.encode()).hexdigest()}"
        f"</id><updated>2024-01-01T00:00:00Z</updated>{''.join(out)}</feed>"
    )


def syndicated(story: Story) -> Story:
    """The same story as another outlet runs it: its own headline, a byline, a trimmed end,
    a few words changed."""
    paras = story.paragraphs
    kept = paras[: max(2, len(paras) - 1)]
    text = "\n".join(kept).replace(" the ", " a ", 2)
    return Story(
        f"{story.title} (via wire)",
        "By Wire Staff. Distributed by the Wire Service.\n" + text + "\n© Wire Service",
    )
