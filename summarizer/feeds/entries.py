"""An entry's article: its page fetched and extracted, or else the feed's own text of it.

Pure but for the page fetch, which the caller passes in (with its limits and its guard).
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from summarizer.errors import ExtractionError, SourceError, SummarizerError

FETCH_WORKERS = 8
PER_HOST = 2

if TYPE_CHECKING:
    from summarizer.feeds.ledger import EntryRow
    from summarizer.reading import Extracted, RawDocument


class EntryFailed(SummarizerError):
    """One entry cannot be processed; the reason goes to the ledger and stderr."""


@dataclass(frozen=True)
class Prepared:
    """An entry's article, extracted from its page or from the feed's own text."""

    raw: RawDocument
    doc: Extracted
    content_from: str
    warnings: list[str]


def feed_document(entry: EntryRow) -> RawDocument:
    """The feed's own text of an entry as a page to extract: its content, or its summary."""
    from summarizer.reading import RawDocument

    title = html.escape(entry.title)
    if entry.content_type == "html":
        body = entry.content
    else:
        paragraphs = [p.strip() for p in entry.content.split("\n\n") if p.strip()]
        body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    page = (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body><article>{body}</article></body></html>"
    )
    return RawDocument(
        source=entry.link or f"{entry.feed_url}#{entry.key}",
        kind="html",
        data=page.encode("utf-8"),
        url=entry.link,
        content_type="text/html",
        charset="utf-8",
    )


def prepare(entry: EntryRow, *, fetch: Callable[[str], RawDocument], min_words: int) -> Prepared:
    """The entry's page, extracted; else the feed's own text, with a warning that says why.
    Raises EntryFailed when neither gives an article."""
    from summarizer.reading import extract

    problem: str | None = None
    if entry.link:
        try:
            raw = fetch(entry.link)
            doc = _dated(extract(raw, min_words=min_words), entry)
            return Prepared(raw, doc, "page", list(doc.warnings))
        except ExtractionError as e:
            problem = f"no article on the page ({e.message})"
        except SourceError as e:
            problem = e.line()
    else:
        problem = "no link"
    if not entry.content.strip():
        raise EntryFailed(f"{problem}; the feed gives no text of its own to fall back on")
    raw = feed_document(entry)
    try:
        doc = _dated(extract(raw, min_words=min_words), entry)
    except ExtractionError as e:
        raise EntryFailed(f"{problem}; the feed's own text is {e.message}") from None
    return Prepared(raw, doc, "feed", [f"{problem}: used the feed's own text", *doc.warnings])


def _dated(doc: Extracted, entry: EntryRow) -> Extracted:
    """The article with the feed item's date and author where its page gives none (always, for
    the feed's own text): `list`, `show` and --since/--until find it by when it was published."""
    from dataclasses import replace

    date = doc.date or (entry.published[:10] if entry.published else None)
    return replace(doc, date=date, author=doc.author or entry.author or None)


class HostSlots:
    """At most `per_host` requests at a time to one host, and each started at least `interval`
    seconds after the one before it there: however many of its pages a run reads, a site sees
    no more than 1/`interval` requests a second."""

    def __init__(self, per_host: int, interval: float) -> None:
        self._per_host = per_host
        self._interval = interval
        self._lock = threading.Lock()
        self._slots: dict[str, threading.Semaphore] = {}
        self._next: dict[str, float] = {}  # host -> when its next request may start

    @contextmanager
    def __call__(self, url: str) -> Iterator[None]:
        from urllib.parse import urlsplit

        host = (urlsplit(url).hostname or "").lower()
        with self._lock:
            slot = self._slots.setdefault(host, threading.Semaphore(self._per_host))
        with slot:
            with self._lock:
                start = max(time.monotonic(), self._next.get(host, 0.0))
                self._next[host] = start + self._interval
            time.sleep(max(0.0, start - time.monotonic()))
            yield
