"""`summarizer run`: read the registered feeds, then fetch, store, summarise and extract the
claims of every new entry, recording each step in the ledger.

Three pools work at once, each at its own pace: page fetches (at most FETCH_WORKERS at a time,
PER_HOST per host), one ingest worker (stores whatever pages are ready, in batches, under the
corpus write lock), and model work in a pool sized by the model layer's capacity, so that the
model is never left idle while entries wait. The main thread alone reads and writes the ledger
and writes the output, one entry at a time, in the order entries finish.
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from summarizer.errors import (
    EmbedderError,
    ExtractionError,
    FeedError,
    LLMCacheError,
    ModelNotFound,
    OllamaUnreachable,
    SourceError,
    StoreError,
    SummarizerError,
)

if TYPE_CHECKING:
    import httpx

    from summarizer.catalog import Catalog
    from summarizer.config import Settings
    from summarizer.extract import Extracted
    from summarizer.feeds import ParsedFeed
    from summarizer.ingest import ItemResult
    from summarizer.ledger import EntryRow, FeedRow, Ledger
    from summarizer.llm import Ollama
    from summarizer.models import Article, Chunk, ClaimSet, Summary
    from summarizer.sources import FeedResponse, RawDocument

FETCH_WORKERS = 8
PER_HOST = 2
# Pages stored by one ingest call: at most INGEST_BATCH; fewer than INGEST_MIN only when the
# model is about to run out of work or no more pages are coming. Each call takes the corpus
# write lock and opens the store, which costs as much as storing several pages.
INGEST_BATCH = 32
INGEST_MIN = 8
# Entries between their page fetch and their output, per request the model serves at once:
# enough to keep the model busy while pages are fetched and stored, few enough to hold in memory.
WINDOW_PER_SLOT = 8
# Failures of the setting rather than of an entry: the run stops and the entries stay pending.
_FATAL = (OllamaUnreachable, ModelNotFound, LLMCacheError, EmbedderError, StoreError)


class BatchProgress(Protocol):
    def begin(self, total: int, description: str) -> None: ...
    def advance(self, label: str) -> None: ...
    def note(self, message: str) -> None: ...


@dataclass(frozen=True)
class RunOptions:
    feeds: tuple[str, ...] = ()
    retry_failed: bool = False
    since: str | None = None
    limit: int | None = None
    allow_private: bool = False
    length: str = "medium"
    keep_unverified: bool = False


@dataclass
class RunReport:
    """What one run did; `records` are the output lines it wrote, as dicts."""

    feeds: int = 0
    not_modified: int = 0
    feeds_failed: int = 0
    new: int = 0
    unchanged: int = 0
    duplicates: int = 0
    done: int = 0
    failed: int = 0
    pending: int = 0
    model_calls: int = 0
    cached_calls: int = 0
    seconds: float = 0.0
    records: list[dict[str, Any]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    copies: dict[int, list[EntryRow]] = field(default_factory=dict)

    @property
    def any_failed(self) -> bool:
        return bool(self.failed or self.feeds_failed)

    def summary_line(self) -> str:
        feeds = f"{self.feeds} feed{'s' if self.feeds != 1 else ''}"
        return (
            f"run: {feeds} ({self.not_modified} not modified, {self.feeds_failed} failed); "
            f"{self.new} new, {self.unchanged} unchanged, {self.duplicates} duplicates, "
            f"{self.done} done, {self.failed} failed, {self.pending} left pending; "
            f"{self.model_calls} model calls ({self.cached_calls} cached); {self.seconds:.1f} s"
        )


def run(
    settings: Settings,
    options: RunOptions,
    *,
    emit: Callable[[str], None],
    progress: BatchProgress,
) -> RunReport:
    """Read the feeds, process what is new (and what an earlier run left), write one JSON line
    per processed entry through `emit`. Entry failures are reported, not raised."""
    from summarizer.ledger import Ledger, run_lock
    from summarizer.sources import make_guarded_client

    started = time.monotonic()
    report = RunReport()
    with run_lock(settings), Ledger.open(settings) as ledger:
        feeds = ledger.feeds(options.feeds or None)
        if not feeds:
            raise FeedError("no feeds registered", hint="add one with `summarizer feeds add URL`")
        ledger.prune_index()
        feed_ids = [f.id for f in feeds]
        with make_guarded_client(allow_private=options.allow_private) as http:
            _read_feeds(settings, ledger, feeds, http, report, progress)
            backlog = ledger.unemitted(feed_ids)
            work = ledger.work(
                feed_ids, retry_failed=options.retry_failed, since=options.since,
                limit=options.limit,
            )  # fmt: skip
            for entry in backlog:  # finished by a run killed before it wrote them out
                _emit(ledger, entry, report, emit)
            if work:
                _Job(settings, options, ledger, http, report, progress, emit).process(work)
        report.pending = len(ledger.work(feed_ids))
        done_ids = [r["entry_id"] for r in report.records]
        report.copies = ledger.duplicates_of(done_ids)
    report.seconds = time.monotonic() - started
    return report


def _emit(ledger: Ledger, entry: EntryRow, report: RunReport, emit: Callable[[str], None]) -> None:
    assert entry.output is not None
    emit(entry.output)
    ledger.mark_emitted([entry.id])
    report.records.append(json.loads(entry.output))


# --- feeds -----------------------------------------------------------------------------------


class _HostSlots:
    """At most `per_host` requests at a time to one host."""

    def __init__(self, per_host: int) -> None:
        self._per_host = per_host
        self._lock = threading.Lock()
        self._slots: dict[str, threading.Semaphore] = {}

    @contextmanager
    def __call__(self, url: str) -> Iterator[None]:
        from urllib.parse import urlsplit

        host = (urlsplit(url).hostname or "").lower()
        with self._lock:
            slot = self._slots.setdefault(host, threading.Semaphore(self._per_host))
        with slot:
            yield


def _read_feeds(
    settings: Settings,
    ledger: Ledger,
    feeds: Sequence[FeedRow],
    http: httpx.Client,
    report: RunReport,
    progress: BatchProgress,
) -> None:
    """Fetch and parse the feeds in parallel; record each one's new entries as it arrives."""
    from summarizer.feeds import parse_feed
    from summarizer.sources import fetch_feed

    slots = _HostSlots(PER_HOST)

    def read(feed: FeedRow) -> tuple[FeedResponse, ParsedFeed | None]:
        with slots(feed.url):
            response = fetch_feed(
                feed.url, client=http, max_bytes=settings.max_bytes, etag=feed.etag,
                last_modified=feed.last_modified,
            )  # fmt: skip
        if response.not_modified:
            return response, None
        parsed = parse_feed(
            response.body, url=response.url, content_type=response.headers.get("content-type")
        )
        return response, parsed

    report.feeds = len(feeds)
    progress.begin(len(feeds), "feeds")
    with ThreadPoolExecutor(min(FETCH_WORKERS, len(feeds))) as pool:
        futures = {pool.submit(read, feed): feed for feed in feeds}
        for future in _as_done(futures):
            feed = futures[future]
            progress.advance(feed.name)
            try:
                response, parsed = future.result()
            except SummarizerError as e:
                report.feeds_failed += 1
                message = _with_hint(e)
                ledger.record_feed_error(feed.id, message)
                report.failures.append((f"feed {feed.name} ({feed.url})", message))
                progress.note(f"error: feed {feed.name} ({feed.url}): {message}")
                continue
            if parsed is None:
                report.not_modified += 1
                ledger.record_not_modified(feed.id)
                continue
            for warning in parsed.warnings:
                progress.note(f"warning: feed {feed.name}: {warning}")
            record = ledger.record_fetch(
                feed.id, parsed.entries, title=parsed.title,
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
            )  # fmt: skip
            report.new += len(record.new) + record.duplicates
            report.unchanged += record.known
            report.duplicates += record.duplicates


def _as_done(futures: dict[Future[Any], Any]) -> Iterator[Future[Any]]:
    from concurrent.futures import as_completed

    yield from as_completed(futures)


def _with_hint(e: SummarizerError) -> str:
    return f"{e.message} ({e.hint})" if e.hint else e.message


# --- entries ---------------------------------------------------------------------------------


class EntryFailed(SummarizerError):
    """One entry cannot be processed; the reason goes to the ledger and stderr."""


@dataclass
class _Prepared:
    """An entry's article, extracted from its page or from the feed's own text."""

    raw: RawDocument
    doc: Extracted
    content_from: str
    warnings: list[str]


@dataclass
class _Item:
    """An entry on its way: the model works on its article while the article is stored."""

    entry: EntryRow
    prepared: _Prepared | None = None
    article: Article | None = None
    chunks: list[Chunk] = field(default_factory=list)
    stored: bool = False
    # Bumped when the stored article differs from the one the model was given: the answers
    # about the old one are then ignored.
    generation: int = 0
    summary: Summary | None = None
    claims: ClaimSet | None = None
    content_from: str = "page"
    warnings: list[str] = field(default_factory=list)
    failed: bool = False

    @property
    def answered(self) -> bool:
        return self.summary is not None and self.claims is not None


def feed_document(entry: EntryRow) -> RawDocument:
    """The feed's own text of an entry as a page to extract: its content, or its summary."""
    from summarizer.sources import RawDocument

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


def prepare(entry: EntryRow, *, fetch: Callable[[str], RawDocument]) -> _Prepared:
    """The entry's page, extracted; else the feed's own text, with a warning that says why.
    Raises EntryFailed when neither gives an article."""
    from summarizer.extract import extract

    problem: str | None = None
    if entry.link:
        try:
            raw = fetch(entry.link)
            doc = extract(raw)
            return _Prepared(raw, doc, "page", list(doc.warnings))
        except ExtractionError as e:
            problem = f"no article on the page ({e.message})"
        except SourceError as e:
            problem = _with_hint(e)
    else:
        problem = "no link"
    if not entry.content.strip():
        raise EntryFailed(f"{problem}; the feed gives no text of its own to fall back on")
    raw = feed_document(entry)
    try:
        doc = extract(raw)
    except ExtractionError as e:
        raise EntryFailed(f"{problem}; the feed's own text is {e.message}") from None
    return _Prepared(raw, doc, "feed", [f"{problem}: used the feed's own text", *doc.warnings])


def _preload() -> None:
    """Import what storing the first pages needs while they are being fetched (the vector
    store's library alone takes most of a second)."""
    import importlib

    for module in ("summarizer.store", "chromadb", "summarizer.extract", "trafilatura"):
        try:
            importlib.import_module(module)
        except Exception:  # whoever needs it next reports the failure
            return


class _IngestNotes:
    """ingest's progress, reduced to what the run does not say itself (waiting for the lock)."""

    def __init__(self, progress: BatchProgress) -> None:
        self._progress = progress

    def begin(self, total: int) -> None:
        pass

    def advance(self, result: ItemResult) -> None:
        pass

    def note(self, message: str) -> None:
        if not message.startswith("warning:"):
            self._progress.note(message)


class _Job:
    def __init__(
        self,
        settings: Settings,
        options: RunOptions,
        ledger: Ledger,
        http: httpx.Client,
        report: RunReport,
        progress: BatchProgress,
        emit: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self.options = options
        self.ledger = ledger
        self.http = http
        self.report = report
        self.progress = progress
        self.emit = emit
        self.slots = _HostSlots(PER_HOST)
        self.futures: dict[Future[Any], tuple[str, Any]] = {}
        self.to_ingest: list[_Item] = []
        self.ingesting = False
        self.active = 0
        self.pools: tuple[ThreadPoolExecutor, ThreadPoolExecutor, ThreadPoolExecutor]
        self.llm: Ollama

    def fetch(self, url: str) -> RawDocument:
        from summarizer.sources import fetch_url

        with self.slots(url):
            return fetch_url(url, max_bytes=self.settings.max_bytes, client=self.http)

    def process(self, work: list[EntryRow]) -> None:
        import sys

        from summarizer.catalog import Catalog
        from summarizer.llm import Ollama

        0 and threading.Thread(target=_preload, name="preload", daemon=True).start()
        self.llm = llm = Ollama(self.settings)
        catalog = Catalog(self.settings.catalog_path)
        before = llm.stats
        switch = sys.getswitchinterval()
        # Threads waiting for a model reply are to take the GIL as soon as it arrives, not after
        # another thread's 5 ms of page extraction: the model's pace sets the run's.
        sys.setswitchinterval(min(switch, 0.001))
        try:
            llm.model_digest()  # an unreachable host or a model not pulled stops here, once
            window = max(16, WINDOW_PER_SLOT * llm.capacity)
            self.progress.begin(len(work), "entries")
            with (
                ThreadPoolExecutor(FETCH_WORKERS, "fetch") as fetchers,
                ThreadPoolExecutor(1, "ingest") as ingester,
                ThreadPoolExecutor(max(1, llm.capacity), "model") as models,
            ):
                self.pools = (fetchers, ingester, models)
                try:
                    self._loop(deque(work), window, catalog)
                except BaseException:
                    for pool in self.pools:
                        pool.shutdown(wait=False, cancel_futures=True)
                    raise
        finally:
            sys.setswitchinterval(switch)
            stats = llm.stats
            self.report.model_calls += stats.chat_calls - before.chat_calls
            self.report.cached_calls += stats.cache_hits - before.cache_hits
            catalog.close()
            llm.close()

    def _loop(self, queue: deque[EntryRow], window: int, catalog: Catalog) -> None:
        fetchers, ingester, _ = self.pools
        while queue or self.futures or self.to_ingest:
            while queue and self.active < window:
                entry = queue.popleft()
                self.active += 1
                self.ledger.begin([entry.id])
                item = _Item(entry, content_from=entry.content_from or "page")
                if self._resume(item, catalog):
                    self._ask(item)
                else:
                    job = fetchers.submit(prepare, entry, fetch=self.fetch)
                    self.futures[job] = ("prepared", item)
            if self.to_ingest and not self.ingesting and self._ingest_now(queue):
                batch, self.to_ingest = self.to_ingest[:INGEST_BATCH], self.to_ingest[INGEST_BATCH:]
                self.ingesting = True
                self.futures[ingester.submit(self._ingest, batch)] = ("stored", batch)
            if not self.futures:
                continue
            finished, _ = wait(list(self.futures), return_when=FIRST_COMPLETED)
            for future in finished:
                kind, payload = self.futures.pop(future)
                if kind == "prepared":
                    self._prepared(payload, future)
                elif kind == "stored":
                    self.ingesting = False
                    self._stored(payload, future.result(), catalog)
                else:
                    item, generation = payload
                    self._answered(item, generation, kind, future)

    def _ingest_now(self, queue: deque[EntryRow]) -> bool:
        """Whether to store the pages ready now rather than wait for a fuller batch: when the
        batch is full, when no more pages are coming, or when an entry waits only for it."""
        if len(self.to_ingest) >= INGEST_MIN:
            return True
        more_coming = bool(queue) or any(k == "prepared" for k, _ in self.futures.values())
        return not more_coming or any(item.answered for item in self.to_ingest)

    def _resume(self, item: _Item, catalog: Catalog) -> bool:
        """Whether the entry's article is already stored by an earlier run (and unchanged)."""
        entry = item.entry
        if not entry.article_id:
            return False
        article = catalog.get(entry.article_id)
        if article is None:
            return False
        item.article, item.chunks = article, catalog.chunks(article)
        item.warnings, item.stored = list(entry.warnings), True
        return True

    def _prepared(self, item: _Item, future: Future[_Prepared]) -> None:
        from summarizer.chunking import chunk_article
        from summarizer.dedupe import shingle_sample
        from summarizer.ingest import article_id, canonical_url, content_hash
        from summarizer.models import Article

        try:
            prepared = future.result()
        except SummarizerError as e:
            self._fail(item, _with_hint(e))
            return
        except Exception as e:  # a parser's bug on one odd page must not stop the run
            self._fail(item, f"unexpected {type(e).__name__}: {e}")
            return
        entry, doc, raw = item.entry, prepared.doc, prepared.raw
        aid = (
            article_id("url", canonical_url(doc.url or raw.url))
            if raw.url is not None
            else article_id("file", raw.source)
        )
        text_hash = content_hash(doc.text)
        same = self.ledger.same_article(entry.id, aid, text_hash)
        if same is not None:
            self._duplicate(item, same, "same article")
            return
        sample = shingle_sample(doc.text)
        similar = self.ledger.similar(entry.id, sample)
        if similar is not None:
            self._duplicate(item, similar[0], f"same story ({similar[1]:.0%})", similar[1])
            return
        item.prepared, item.content_from, item.warnings = (
            prepared, prepared.content_from, prepared.warnings
        )  # fmt: skip
        for warning in prepared.warnings:
            self.progress.note(f"warning: {entry.label}: {warning}")
        # Claimed before it is stored: a copy arriving meanwhile is recognised as one.
        self.ledger.mark_stored(
            entry.id, article_id=aid, content_hash=text_hash,
            content_from=prepared.content_from, warnings=prepared.warnings,
        )  # fmt: skip
        self.ledger.index(entry.id, sample)
        # The article as ingest will store it: the model starts on it now, not after storing.
        item.article = Article(
            id=aid, source=raw.source, title=doc.title, text=doc.text, content_hash=text_hash,
            url=doc.url or raw.url, author=doc.author, date=doc.date, site=doc.site,
            method=doc.method, warnings=doc.warnings,
        )  # fmt: skip
        item.chunks = chunk_article(aid, text_hash, doc.text)
        self.to_ingest.append(item)
        self._ask(item)

    def _ingest(self, batch: list[_Item]) -> list[ItemResult]:
        from summarizer.ingest import ingest_documents

        documents = [(str(item.entry.id), item.prepared.raw) for item in batch if item.prepared]
        notes = _IngestNotes(self.progress)
        return ingest_documents(self.settings, documents, progress=notes).results

    def _stored(self, batch: list[_Item], results: list[ItemResult], catalog: Catalog) -> None:
        by_entry = {r.item: r for r in results}
        for item in batch:
            if item.failed:  # stored all the same: a retry starts from the stored article
                continue
            result = by_entry.get(str(item.entry.id))
            if result is None or result.status == "failed" or result.article_id is None:
                self._fail(item, (result.reason if result else None) or "could not be stored")
                continue
            article = catalog.get(result.article_id)
            if article is None:
                self._fail(item, "stored, then gone from the corpus")
                continue
            chunks = catalog.chunks(article)
            given = item.article
            assert given is not None
            item.stored = True
            if (article.id, article.content_hash, chunks) == (
                given.id, given.content_hash, item.chunks
            ):  # fmt: skip
                item.article = article
                if item.answered:
                    self._finish(item)
                continue
            # Stored otherwise than foreseen: the model works on what the corpus holds.
            self.ledger.mark_stored(
                item.entry.id, article_id=article.id, content_hash=article.content_hash,
                content_from=item.content_from, warnings=item.warnings,
            )  # fmt: skip
            item.article, item.chunks = article, chunks
            item.generation += 1
            item.summary = item.claims = None
            self._ask(item)

    def _ask(self, item: _Item) -> None:
        from summarizer import summarize as tasks

        _, _, models = self.pools
        llm = self.llm
        assert item.article is not None
        article, chunks = item.article, item.chunks
        summary = models.submit(
            tasks.summarize, llm, article, chunks,
            length=self.options.length,  # type: ignore[arg-type]
            keep_unverified=self.options.keep_unverified,
        )  # fmt: skip
        claims = models.submit(
            tasks.extract_claims, llm, article, chunks,
            keep_unverified=self.options.keep_unverified,
        )  # fmt: skip
        self.futures[summary] = ("summary", (item, item.generation))
        self.futures[claims] = ("claims", (item, item.generation))

    def _answered(self, item: _Item, generation: int, kind: str, future: Future[Any]) -> None:
        try:
            output = future.result()
        except _FATAL:
            raise
        except SummarizerError as e:
            if not item.failed and generation == item.generation:
                self._fail(item, f"{kind}: {e.message}")
            return
        if item.failed or generation != item.generation:
            return
        if kind == "summary":
            item.summary = output
        else:
            item.claims = output
        if item.answered and item.stored:
            self._finish(item)

    def _finish(self, item: _Item) -> None:
        from summarizer.render import batch_record

        assert item.article is not None and item.summary and item.claims
        entry = item.entry
        record = batch_record(
            entry, item.article, item.summary, item.claims,
            content_from=item.content_from, warnings=item.warnings,
        )  # fmt: skip
        line = json.dumps(record, ensure_ascii=False)
        self.ledger.mark_done(entry.id, line)
        self.emit(line)
        self.ledger.mark_emitted([entry.id])
        self.report.records.append(record)
        self.report.done += 1
        self._close(item)

    def _duplicate(
        self, item: _Item, of: int, reason: str, similarity: float | None = None
    ) -> None:
        self.ledger.mark_duplicate(item.entry.id, of, reason, similarity)
        self.report.duplicates += 1
        self._close(item)

    def _fail(self, item: _Item, reason: str) -> None:
        item.failed = True
        reason = " ".join(reason.split())
        self.ledger.mark_failed(item.entry.id, reason)
        self.report.failed += 1
        self.report.failures.append((item.entry.label, reason))
        self.progress.note(f"error: {item.entry.label}: {reason}")
        self._close(item)

    def _close(self, item: _Item) -> None:
        self.active -= 1
        self.progress.advance(item.entry.title)
