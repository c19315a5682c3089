"""The entries stage of `summarizer run`: every entry to process, through three pools at once.

Page fetches run FETCH_WORKERS at a time (PER_HOST per host); one ingest worker stores whatever
pages are ready, in batches, under the corpus write lock; model work runs in a pool of a few
threads per request the model layer serves at once. The model starts on an article as soon as
its page is extracted, while the article is being stored; an entry's output is written once both
are done. The main thread alone reads and writes the ledger and writes the output, one entry at a
time, in the order entries finish.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from summarizer.errors import (
    EmbedderError,
    LLMCacheError,
    ModelNotFound,
    OllamaUnreachable,
    StoreError,
    SummarizerError,
    one_line,
)
from summarizer.feeds.entries import (
    FETCH_WORKERS,
    HostSlots,
    Prepared,
    prepare,
)
from summarizer.feeds.records import entry_record

if TYPE_CHECKING:
    import httpx

    from summarizer.config import Settings
    from summarizer.corpus import Catalog, ItemResult
    from summarizer.feeds.ledger import EntryRow, Ledger
    from summarizer.feeds.report import RunOptions, RunProgress, RunReport, WorkSource
    from summarizer.llm import Ollama
    from summarizer.models import Article, Chunk, ClaimSet, Summary
    from summarizer.reading import Extracted, RawDocument

# Pages stored by one ingest call: at most INGEST_BATCH; fewer than INGEST_MIN only when no
# more pages are coming or an entry waits for nothing else. Each call takes the corpus write
# lock and opens the store, which costs as much as storing several pages.
INGEST_BATCH = 32
INGEST_MIN = 8
# Entries between their page fetch and their output, per request the model serves at once:
# enough to keep the model busy while pages are fetched and stored, few enough to hold in memory.
WINDOW_PER_SLOT = 8
# Entries a worker of a fleet holds per request the model serves at once: one in the model's
# hands and one being fetched and stored, so that its model slots are never idle; no more, for
# what one worker holds when the work runs out is what the others wait for.
CLAIM_PER_SLOT = 2
# Articles the model is asked about at once, per request it serves at once: an article's later
# calls wait for a slot on the host of its first (the model layer bounds what is in flight), so
# with one thread per slot the threads could all be waiting on one host while another is idle.
MODEL_THREADS_PER_SLOT = 3
# Failures of the setting rather than of an entry: the run stops and the entries stay pending.
_FATAL = (OllamaUnreachable, ModelNotFound, LLMCacheError, EmbedderError, StoreError)


@dataclass
class _Item:
    """An entry on its way: the model works on its article while the article is stored."""

    entry: EntryRow
    prepared: Prepared | None = None
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


def foreseen(
    raw: RawDocument, doc: Extracted, *, allow_private: bool
) -> tuple[Article, list[Chunk]]:
    """The article and chunks ingest will store for this page, as ingest builds them (ingest
    decides: a difference is caught when it has stored the page)."""
    from summarizer.corpus import chunk_article, describe_article

    article = describe_article(raw, doc, allow_private=allow_private)
    return article, chunk_article(article.id, article.content_hash, article.text)


def _same(stored: Article, given: Article) -> bool:
    """Whether the model was given the article as stored (all but the storage times)."""
    times = {"ingested_at", "updated_at"}
    return stored.model_dump(exclude=times) == given.model_dump(exclude=times)


class _IngestNotes:
    """ingest's progress, reduced to what the run does not say itself (waiting for the lock)."""

    def __init__(self, progress: RunProgress) -> None:
        self._progress = progress

    def begin(self, total: int) -> None:
        pass

    def embedded(self, item: str, label: str) -> None:
        pass

    def advance(self, result: ItemResult) -> None:
        pass

    def note(self, message: str) -> None:
        if not message.startswith("warning:"):
            self._progress.note(message)


class EntryJob:
    """The entries stage of a run: each entry fetched, stored and asked about, at once."""

    def __init__(
        self,
        settings: Settings,
        options: RunOptions,
        ledger: Ledger,
        fetching: tuple[httpx.Client, HostSlots],
        report: RunReport,
        progress: RunProgress,
        emit: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self.stopping = threading.Event()
        self.options = options
        self.ledger = ledger
        self.http, self.slots = fetching  # the run's client, and its bounds per host
        # Pages that several entries of this run link to, and how many entries still want
        # each: fetched once, kept until the last of them has it.
        self.shared: dict[str, int] = {}
        self._pages: dict[str, RawDocument | SummarizerError] = {}
        self._page_locks: dict[str, threading.Lock] = {}
        self._pages_lock = threading.Lock()
        # Entry id -> (title, text) of the articles this run prepared, to tell copies apart.
        self._texts: dict[int, tuple[str, str]] = {}
        self.report = report
        self.progress = progress
        self.emit = emit
        self.futures: dict[Future[Any], tuple[str, Any]] = {}
        self.source: WorkSource | None = None
        self.to_ingest: list[_Item] = []
        self.ingesting = False
        self.active = 0
        self.pools: tuple[ThreadPoolExecutor, ThreadPoolExecutor, ThreadPoolExecutor]
        self.llm: Ollama

    def fetch(self, url: str) -> RawDocument:
        """The page at `url`; fetched once in this run however many entries link to it (a
        hostile feed must not make the run hammer a site)."""
        from summarizer.reading import fetch_url

        if url not in self.shared:
            with self.slots(url):
                return fetch_url(url, max_bytes=self.settings.max_bytes, client=self.http)
        with self._pages_lock:
            lock = self._page_locks.setdefault(url, threading.Lock())
        with lock:  # the others wait for the first fetch, and have what it had
            if url not in self._pages:
                try:
                    with self.slots(url):
                        got = fetch_url(url, max_bytes=self.settings.max_bytes, client=self.http)
                    self._pages[url] = got
                except SummarizerError as e:
                    self._pages[url] = e
            found = self._pages[url]
            self.shared[url] -= 1
            if self.shared[url] <= 0:  # the last entry to want it: not kept any longer
                del self._pages[url]
        if isinstance(found, SummarizerError):
            raise found
        return found

    def process(self, work: list[EntryRow], source: WorkSource | None = None) -> None:
        """Process `work`, and with a `source`, what it gives whenever there is room for more."""
        import sys

        from summarizer.corpus import open_catalog
        from summarizer.llm import Ollama

        links = Counter(entry.link for entry in work if entry.link)
        self.shared = {link: n for link, n in links.items() if n > 1}
        self.llm = llm = Ollama(self.settings)
        self.catalog = catalog = open_catalog(self.settings)
        before = llm.stats
        switch = sys.getswitchinterval()
        # Threads waiting for a model reply are to take the GIL as soon as it arrives, not after
        # another thread's 5 ms of page extraction: the model's pace sets the run's.
        sys.setswitchinterval(min(switch, 0.001))
        try:
            llm.model_digest()  # an unreachable host or a model not pulled stops here, once
            window = max(16, WINDOW_PER_SLOT * llm.capacity)
            if source is not None:  # a worker of a fleet holds no more than it can work on
                window = CLAIM_PER_SLOT * max(1, llm.capacity)
            if source is None:  # a worker's bar is begun by the run: the fleet's entries
                self.progress.begin(len(work), "entries")
            fetchers = ThreadPoolExecutor(FETCH_WORKERS, "fetch")
            ingester = ThreadPoolExecutor(1, "ingest")
            models = ThreadPoolExecutor(MODEL_THREADS_PER_SLOT * max(1, llm.capacity), "model")
            self.pools = (fetchers, ingester, models)
            interrupted = False
            try:
                self.source = source
                self._loop(deque(work), window, catalog)
            except BaseException as e:
                interrupted = isinstance(e, KeyboardInterrupt)
                self.stopping.set()  # a page batch being embedded is dropped, not stored
                for pool in self.pools:
                    pool.shutdown(wait=False, cancel_futures=True)
                raise
            finally:
                # A store write in progress is always finished. Fetches and model requests are
                # waited for too, except after Ctrl-C: a model reply can take minutes, and the
                # entries they belong to stay pending for the next run.
                ingester.shutdown(wait=True)
                fetchers.shutdown(wait=not interrupted)
                models.shutdown(wait=not interrupted)
        finally:
            sys.setswitchinterval(switch)
            stats = llm.stats
            self.report.model_calls += stats.chat_calls - before.chat_calls
            self.report.cached_calls += stats.cache_hits - before.cache_hits
            catalog.close()
            llm.close()

    def _loop(self, queue: deque[EntryRow], window: int, catalog: Catalog) -> None:
        fetchers, ingester, _ = self.pools
        while True:
            if self.source is not None and not queue and self.active < window:
                queue.extend(self.source.more(window - self.active))
            if not (queue or self.futures or self.to_ingest):
                break
            while queue and self.active < window:
                entry = queue.popleft()
                self.active += 1
                self.ledger.begin(entry.id)
                item = _Item(entry, content_from=entry.content_from or "page")
                if self._resume(item, catalog):
                    self._ask(item)
                else:
                    job = fetchers.submit(
                        prepare, entry, fetch=self.fetch, min_words=self.settings.min_words
                    )
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

    def _other_figures(self, article: Article, entry_id: int) -> bool:
        """Whether `article`, alike in words to the story of `entry_id`, is another story by
        its figures (items of one templated feed: release notes, changesets)."""
        from summarizer.feeds.dedupe import other_figures

        seen = self._texts.get(entry_id)
        if seen is None:
            rows = self.ledger.entries(ids=[entry_id])
            stored = self.catalog.get(rows[0].article_id) if rows and rows[0].article_id else None
            if stored is None:
                return False  # nothing to compare with: alike in words is the same story
            seen = (stored.title, stored.text)
        return other_figures(article.title, article.text, *seen)

    def _prepared(self, item: _Item, future: Future[Prepared]) -> None:
        from summarizer.feeds.dedupe import shingle_sample

        try:
            prepared = future.result()
        except SummarizerError as e:
            self._fail(item, e.line())
            return
        except Exception as e:  # a parser's bug on one odd page must not stop the run
            self._fail(item, f"unexpected {type(e).__name__}: {e}")
            return
        entry = item.entry
        article, chunks = foreseen(
            prepared.raw, prepared.doc, allow_private=self.settings.allow_private
        )
        same = self.ledger.same_article(entry.id, article.id, article.content_hash)
        if same is not None:
            self._duplicate(item, same, "same article")
            return
        sample = shingle_sample(article.text)
        similar = self.ledger.stories.similar(entry.id, sample)
        if similar is not None and not self._other_figures(article, similar[0]):
            self._duplicate(item, similar[0], f"same story ({similar[1]:.0%})", similar[1])
            return
        self._texts[entry.id] = (article.title, article.text)
        item.prepared, item.content_from, item.warnings = (
            prepared, prepared.content_from, prepared.warnings
        )  # fmt: skip
        # Claimed before it is stored: a copy arriving meanwhile (in this run or on another
        # worker) is recognised as one.
        same = self.ledger.claim_article(
            entry.id, article_id=article.id, content_hash=article.content_hash,
            content_from=prepared.content_from, warnings=prepared.warnings,
        )  # fmt: skip
        if same is not None:
            self._duplicate(item, same, "same article")
            return
        for warning in prepared.warnings:
            self.progress.note(f"warning: {entry.label}: {warning}")
        self.ledger.stories.add(entry.id, sample)
        # The model starts on the article now, not once it is stored.
        item.article, item.chunks = article, chunks
        self.to_ingest.append(item)
        self._ask(item)

    def _ingest(self, batch: list[_Item]) -> list[ItemResult]:
        from summarizer.corpus import ingest_documents

        documents = [
            (str(item.entry.id), item.prepared.raw, item.prepared.doc)
            for item in batch
            if item.prepared
        ]
        notes = _IngestNotes(self.progress)
        report = ingest_documents(
            self.settings, documents, progress=notes, cancelled=self.stopping.is_set
        )
        return report.results

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
            if chunks == item.chunks and _same(article, given):
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

    def _ask(self, item: _Item, kind: str = "summary") -> None:
        """Ask for the article's summary, then (when it is in) its claims: one article's calls
        one after the other, on one host, which reads the article once for both."""
        from summarizer.analysis import extract_claims, summarize

        _, _, models = self.pools
        llm = self.llm
        assert item.article is not None
        article, chunks = item.article, item.chunks
        future: Future[Any]
        if kind == "summary":
            future = models.submit(
                summarize, llm, article, chunks,
                length=self.options.length,  # type: ignore[arg-type]
                keep_unverified=self.options.keep_unverified,
            )  # fmt: skip
        else:
            future = models.submit(
                extract_claims, llm, article, chunks,
                keep_unverified=self.options.keep_unverified,
            )  # fmt: skip
        self.futures[future] = (kind, (item, item.generation))

    def _answered(self, item: _Item, generation: int, kind: str, future: Future[Any]) -> None:
        try:
            output = future.result()
        except _FATAL:
            raise
        except SummarizerError as e:
            if not item.failed and generation == item.generation:
                self._fail(item, f"{kind}: {e.message}")
            return
        except Exception as e:  # a library's own error: this entry fails, the run goes on
            if not item.failed and generation == item.generation:
                self._fail(item, f"{kind}: unexpected {type(e).__name__}: {one_line(e)}")
            return
        if item.failed or generation != item.generation:
            return
        if kind == "summary":
            item.summary = output
            self._ask(item, "claims")
        else:
            item.claims = output
        if item.answered and item.stored:
            self._finish(item)

    def _finish(self, item: _Item) -> None:
        assert item.article is not None and item.summary and item.claims
        entry = item.entry
        record = entry_record(
            entry, item.article, item.summary, item.claims,
            content_from=item.content_from, warnings=item.warnings,
        )  # fmt: skip
        line = json.dumps(record, ensure_ascii=False)
        # Kept for the editor's view, and for a later version of the article to be compared with.
        for task, output in (("summarize", item.summary), ("claims", item.claims)):
            self.catalog.save_output(
                output.article_id, task, output.content_hash, output.model_dump_json()
            )
        if not self.ledger.mark_done(entry.id, line):  # another worker finished it first
            self._close(item)
            return
        self.emit(line)
        self.ledger.mark_emitted(entry.id)
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
        if self.source is not None:
            self.source.closed(item.entry.id)
        self.progress.advance(item.entry.title)
