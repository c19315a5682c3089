"""`summarizer run`: read the registered feeds (in parallel, with conditional GETs), record
their new entries in the ledger, then process every entry waiting (job) and report.

One run at a time per data dir; a run killed at any point is resumed by the next one: the
ledger says what is done, and output lines written by no run yet are written first.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from summarizer.errors import FeedError, LedgerError, SummarizerError, one_line
from summarizer.feeds.entries import FETCH_WORKERS, PER_HOST, HostSlots
from summarizer.feeds.report import RunOptions, RunProgress, RunReport

if TYPE_CHECKING:
    import httpx

    from summarizer.config import Settings
    from summarizer.feeds.ledger import EntryRow, FeedRow, Ledger
    from summarizer.feeds.parse import ParsedFeed
    from summarizer.reading import FeedResponse

RUN_LOCK_FILE = "run.lock"
# A killed run's stories are carried into the next digest from no further back than this.
CARRY_DAYS = 2


def run(
    settings: Settings,
    options: RunOptions,
    *,
    emit: Callable[[str], None],
    progress: RunProgress,
) -> RunReport:
    """Read the feeds, process what is new (and what an earlier run left), write one JSON line
    per processed entry through `emit`. Entry failures are reported, not raised."""
    from summarizer.feeds.backends import open_ledger
    from summarizer.reading import make_guarded_client

    started = time.monotonic()
    report = RunReport()
    with run_lock(settings), open_ledger(settings) as ledger:
        feeds = ledger.feeds(options.feeds or None)
        if not feeds:
            raise FeedError("no feeds registered", hint="add one with `summarizer feeds add URL`")
        ledger.stories.prune()
        _check_catalog(settings, ledger)
        feed_ids = [f.id for f in feeds]
        with make_guarded_client(allow_private=settings.allow_private) as http:
            slots = HostSlots(PER_HOST, settings.host_interval)  # feeds and pages alike
            _read_feeds(settings, ledger, feeds, (http, slots), report, progress)
            _carry(settings, ledger, feed_ids, report)
            backlog = ledger.unemitted(feed_ids)
            work = ledger.work(
                feed_ids, retry_failed=options.retry_failed, since=options.since,
                limit=options.limit,
            )  # fmt: skip
            for entry in backlog:  # finished by a run killed before it wrote them out
                _emit(ledger, entry, report, emit)
            if work:
                from summarizer.feeds.job import EntryJob

                try:
                    job = EntryJob(settings, options, ledger, (http, slots), report, progress, emit)
                    job.process(work)
                except SummarizerError as e:
                    # Ollama gone, the store failing: the run stops, but what it finished is
                    # reported (digest, closing line) before the error, by the caller.
                    report.error = e
            due = ledger.to_recheck(feed_ids, options.recheck) if report.error is None else []
            if due:
                from summarizer.feeds.recheck import recheck

                report.rechecked = len(due)
                try:
                    recheck(settings, ledger, due, report, progress, emit)
                except SummarizerError as e:
                    report.error = e
        counts = ledger.counts()
        report.pending = sum(counts.get(i, {}).get("pending", 0) for i in feed_ids)
        done_ids = [r["entry_id"] for r in report.records]
        report.copies = ledger.duplicates_of(done_ids)
    report.seconds = time.monotonic() - started
    return report


@contextmanager
def run_lock(settings: Settings) -> Iterator[None]:
    """One `summarizer run` per data dir at a time; a second one stops at once."""
    import fcntl
    import os

    settings.home.mkdir(parents=True, exist_ok=True)
    with open(settings.home / RUN_LOCK_FILE, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            pid = fh.read().strip()
            raise LedgerError(
                f"another `summarizer run` is working on {settings.home}"
                + (f" (pid {pid})" if pid else ""),
                hint="it resumes where it stops; wait for it, or stop it and run again",
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _emit(ledger: Ledger, entry: EntryRow, report: RunReport, emit: Callable[[str], None]) -> None:
    assert entry.output is not None
    emit(entry.output)
    ledger.mark_emitted(entry.id)
    report.records.append(json.loads(entry.output))


def _carry(settings: Settings, ledger: Ledger, feed_ids: list[int], report: RunReport) -> None:
    """The stories an earlier run finished (their lines written) but put in no digest, killed
    before it wrote one: this run's digest has them."""
    from summarizer.feeds.digest import last_digest_time

    # Since the last digest; never from further back than CARRY_DAYS (without a digest kept,
    # or when none could be kept, every story would be told again and again).
    oldest = (datetime.now(UTC) - timedelta(days=CARRY_DAYS)).isoformat(timespec="seconds")
    since = max(last_digest_time(settings.home) or "", oldest)
    for entry in ledger.done_since(feed_ids, since):
        if entry.output is not None:
            report.records.append(json.loads(entry.output))
            report.carried += 1


def _check_catalog(settings: Settings, ledger: Ledger) -> None:
    """A ledger with stories done beside a catalog without articles: the catalog was lost or
    emptied, and the run would never fetch those stories again. Said, not taken as new."""
    from summarizer.corpus import open_catalog

    done = sum(counts.get("done", 0) for counts in ledger.counts().values())
    if not done:
        return
    catalog = open_catalog(settings)
    try:
        empty = catalog.count() == 0
    finally:
        catalog.close()
    if empty:
        raise LedgerError(
            f"the feed ledger holds {done:,} stories done, but the catalog "
            f"{settings.catalog_path} has no articles: the catalog was lost or emptied",
            hint="restore it from a backup, or move the ledger aside (ledger.sqlite3 in the "
            "data dir) to fetch every story again",
        )


# --- feeds -----------------------------------------------------------------------------------


def _read_feeds(
    settings: Settings,
    ledger: Ledger,
    feeds: Sequence[FeedRow],
    fetching: tuple[httpx.Client, HostSlots],
    report: RunReport,
    progress: RunProgress,
) -> None:
    """Fetch and parse the feeds in parallel (with the run's client and its bounds per host);
    record each one's new entries as it arrives."""
    from summarizer.feeds.parse import parse_feed
    from summarizer.reading import fetch_feed

    http, slots = fetching

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
        for future in as_completed(futures):
            feed = futures[future]
            progress.advance(feed.name)
            try:
                try:
                    response, parsed = future.result()
                except SummarizerError:
                    raise
                except Exception as e:  # a parser's own error: this feed fails, not the run
                    raise FeedError(f"unexpected {type(e).__name__}: {one_line(e)}") from None
            except SummarizerError as e:
                report.feeds_failed += 1
                message = e.line()
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
