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
    from summarizer.feeds.fleet import Fleet
    from summarizer.feeds.ledger import EntryRow, FeedRow, Ledger
    from summarizer.feeds.parse import ParsedFeed
    from summarizer.reading import FeedResponse

RUN_LOCK_FILE = "run.lock"
# Seconds a worker of a fleet waits before it looks again for entries to claim, when none was
# free (others hold them, or none is left).
QUIET_SECONDS = 0.5
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
    settings.check_shared()
    with _worker(settings) as fleet, open_ledger(settings) as ledger:
        feeds = ledger.feeds(options.feeds or None)
        if not feeds:
            raise FeedError("no feeds registered", hint="add one with `summarizer feeds add URL`")
        ledger.stories.prune()
        _check_catalog(settings, ledger)
        feed_ids = [f.id for f in feeds]
        if fleet is not None:
            fleet.counts = lambda: (report.done, report.failed)
        with make_guarded_client(allow_private=settings.allow_private) as http:
            slots = HostSlots(PER_HOST, settings.host_interval)  # feeds and pages alike
            to_read = _feeds_to_read(fleet, ledger, feeds)
            _read_feeds(settings, ledger, to_read, (http, slots), report, progress)
            if fleet is not None:
                fleet.release("feed", [f.id for f in to_read])
            _carry(settings, ledger, feed_ids, report)
            source = None if fleet is None else Claims(fleet, ledger, feed_ids, options)
            if source is None:
                for entry in ledger.unemitted(feed_ids):  # finished by a run killed before
                    _emit(ledger, entry, report, emit)  # it wrote them out
                work: list[EntryRow] | Claims = ledger.work(
                    feed_ids, retry_failed=options.retry_failed, since=options.since,
                    limit=options.limit,
                )  # fmt: skip
            else:
                work = source
            _process(settings, options, ledger, (http, slots), report, progress, emit, work)
            due = ledger.to_recheck(feed_ids, options.recheck) if report.error is None else []
            if fleet is not None:
                mine = set(fleet.claim("recheck", [entry_id for entry_id, _ in due]))
                due = [d for d in due if d[0] in mine]
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


def _process(
    settings: Settings,
    options: RunOptions,
    ledger: Ledger,
    fetching: tuple[httpx.Client, HostSlots],
    report: RunReport,
    progress: RunProgress,
    emit: Callable[[str], None],
    work: list[EntryRow] | Claims,
) -> None:
    """Process the entries waiting: all of them in one run; or as a worker of a fleet, those it
    claims, until none is left that another worker might still give back (dying)."""
    from summarizer.feeds.job import EntryJob

    source = work if isinstance(work, Claims) else None
    if source is not None:  # what this worker does of what the fleet has waiting
        counts = ledger.counts()
        waiting = sum(counts.get(i, {}).get("pending", 0) for i in source.feed_ids)
        progress.begin(waiting, "entries (the fleet's)")
    while True:
        if source is not None:  # lines a worker killed meanwhile did not write out
            for entry in source.lines():
                _emit(ledger, entry, report, emit)
                source.closed(entry.id)
        # A worker claims one entry to start with; the job claims the rest as it has room.
        entries = source.more(1) if source is not None else work
        if entries:
            assert isinstance(entries, list)
            try:
                job = EntryJob(settings, options, ledger, fetching, report, progress, emit)
                job.process(entries, source)
            except SummarizerError as e:
                # Ollama gone, the store failing: the run stops, but what it finished is
                # reported (digest, closing line) before the error, by the caller.
                report.error = e
                return
        if source is None or not source.waiting():
            return
        time.sleep(QUIET_SECONDS)


class Claims:
    """The entries of a worker of a fleet: claimed with leases a few at a time as it has room
    for them, given back as each is finished with."""

    def __init__(
        self, fleet: Fleet, ledger: Ledger, feed_ids: list[int], options: RunOptions
    ) -> None:
        self.fleet, self.ledger, self.feed_ids, self.options = fleet, ledger, feed_ids, options
        self.left = options.limit
        # Entries this worker took in this run: not taken again (one attempt each per worker).
        self.tried: set[int] = set()
        self._quiet_until = 0.0

    def more(self, n: int) -> list[EntryRow]:
        """Up to `n` more entries, claimed; [] when none is free."""
        if self.left is not None:
            n = min(n, self.left)
        if n <= 0 or time.monotonic() < self._quiet_until:
            return []
        # The oldest entries waiting, enough of them to find `n` among those others hold.
        held = self.fleet.held_count("entry")
        rows = self.ledger.work(
            self.feed_ids, retry_failed=self.options.retry_failed, since=self.options.since,
            limit=n + held + len(self.tried),
        )  # fmt: skip
        rows = [r for r in rows if r.id not in self.tried]
        got = self.fleet.claim("entry", [r.id for r in rows], n)
        self.tried.update(got)
        # As they are now they are claimed: one another worker finished between the query and
        # the claim is given back, not done again.
        statuses = ("pending", "failed") if self.options.retry_failed else ("pending",)
        now = {r.id: r for r in self.ledger.entries(ids=got)} if got else {}
        mine = [now[r.id] for r in rows if r.id in now and now[r.id].status in statuses]
        self.fleet.release("entry", sorted(set(got) - {r.id for r in mine}))
        if self.left is not None:
            self.left -= len(mine)
        if not mine:  # none free: not asked again at every step of the job for a while
            self._quiet_until = time.monotonic() + QUIET_SECONDS
        return mine

    def closed(self, entry_id: int) -> None:
        self.fleet.release("entry", [entry_id])

    def lines(self) -> list[EntryRow]:
        """The entries done whose output line no run wrote out (one killed in between), that
        no live worker holds (one that holds its entry writes the line itself)."""
        waiting = {e.id for e in self.ledger.unemitted(self.feed_ids)}
        got = set(self.fleet.claim("entry", sorted(waiting)))
        # Read again once claimed: a line written meanwhile by the worker that held it is not
        # written twice.
        return [e for e in self.ledger.unemitted(self.feed_ids) if e.id in got]

    def waiting(self) -> bool:
        """Whether to wait for more: another worker holds entries or feeds (its entries may be
        given back, when it dies; its feeds may bring new ones); never past --limit."""
        if self.left is not None and self.left <= 0:
            return False
        return self.fleet.held_count("entry") + self.fleet.held_count("feed") > 0


@contextmanager
def _worker(settings: Settings) -> Iterator[Fleet | None]:
    """This run as the only one of its data dir (SQLite), or as a worker of the fleet sharing
    the database: no lock, claims instead."""
    if not settings.database_url:
        with run_lock(settings):
            yield None
        return
    from summarizer.feeds.fleet import Fleet

    with Fleet.of(settings).joined() as fleet:
        yield fleet


def _when(iso: str) -> datetime:
    when = datetime.fromisoformat(iso)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _feeds_to_read(fleet: Fleet | None, ledger: Ledger, feeds: list[FeedRow]) -> list[FeedRow]:
    """The feeds this run reads: all of them, or those a worker claims, less those another worker
    read in the last FEED_FRESH_SECONDS."""
    if fleet is None:
        return feeds
    from summarizer.feeds.fleet import FEED_FRESH_SECONDS

    fresh = datetime.now(UTC) - timedelta(seconds=FEED_FRESH_SECONDS)
    got = set(fleet.claim("feed", [f.id for f in feeds]))
    # As they are now they are claimed: another worker may have read them meanwhile.
    claimed = [f for f in ledger.feeds() if f.id in got] if got else []
    due = [f for f in claimed if not (f.checked_at and _when(f.checked_at) > fresh)]
    fleet.release("feed", [f.id for f in claimed if f not in due])
    return due


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
            f"{settings.catalog_where} has no articles: the catalog was lost or emptied",
            hint="restore it from a backup, or "
            + (
                "empty the ledger's tables (ledger_entries) to fetch every story again"
                if settings.database_url
                else "move the ledger aside (ledger.sqlite3 in the data dir) to fetch every "
                "story again"
            ),
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
    if not feeds:  # each one read by another worker of the fleet
        return
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
