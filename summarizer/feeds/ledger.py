"""The feed ledger's face: registered feeds and every entry seen, and the stories their texts tell.

An entry is `pending` from the moment its feed is read until its output is recorded (`done`), its
processing fails (`failed`, with the reason and the number of attempts), or it is recognised as
a copy of another entry (`duplicate`, with `duplicate_of`). New entries and the feed's ETag /
Last-Modified are written in one transaction, so a 304 on the next run can never hide an entry
that was not recorded. Each step of an entry is one committed write, so a run killed at any point
leaves every entry in a state the next run resumes from.

`Ledger` is the interface; `open_ledger` (backends) gives the implementation the settings choose
(SQLite in the data dir, or the shared PostgreSQL database of a fleet, where several workers
write at once: `claim_article` and `mark_done` are then the steps that keep an entry processed
once).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from summarizer.feeds.parse import FeedEntry

STATUSES = ("pending", "done", "failed", "duplicate")
# The feed's own text must be this long before two entries with the same text count as copies
# of one story without fetching anything: short teasers ("Read more") are shared by accident.
SAME_FEED_TEXT_MIN_CHARS = 280
# Stories are compared with those first seen in this many days.
DUPLICATE_WINDOW_DAYS = 30


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def edited(known: Mapping[str, Any], entry: FeedEntry) -> bool:
    """Whether a done entry's item changed in the feed: another updated or published date,
    another title, or another text (RSS has no updated date: an edit may show only there).
    `known` is the entry's row as stored (status, updated, published, title, feed_hash)."""
    if known["status"] != "done":
        return False

    def changed(new: str | None, old: str | None) -> bool:
        return bool(new and old and new != old)

    return (
        changed(entry.updated, known["updated"])
        or changed(entry.published, known["published"])
        or changed(" ".join(entry.title.split()), " ".join((known["title"] or "").split()))
        or changed(entry.content_hash, known["feed_hash"])
    )


@dataclass(frozen=True)
class FeedRow:
    id: int
    name: str
    url: str
    title: str | None
    etag: str | None
    last_modified: str | None
    added_at: str
    checked_at: str | None
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        """What `feeds list --json` shows (not the HTTP validators)."""
        keep = ("name", "url", "title", "added_at", "checked_at", "error")
        return {k: getattr(self, k) for k in keep}


@dataclass(frozen=True)
class EntryRow:
    id: int
    feed_id: int
    feed: str
    feed_url: str
    key: str
    guid: str | None
    link: str | None
    title: str
    author: str | None
    published: str | None
    content: str
    content_type: str
    status: str
    reason: str | None
    attempts: int
    article_id: str | None
    content_from: str | None
    warnings: tuple[str, ...]
    duplicate_of: int | None
    output: str | None

    @property
    def label(self) -> str:
        """How messages name the entry: its feed and its link (or title)."""
        return f"{self.feed}: {self.link or self.title}"


@dataclass
class FetchRecord:
    """What reading one feed added to the ledger."""

    new: list[int]
    known: int = 0
    duplicates: int = 0
    updated: int = 0  # known entries whose item changed, to be read again


class StoryIndex(Protocol):
    """Sampled shingle hashes of the entries' texts (see dedupe) -> the entries that have them,
    so that the same story under another URL is recognised as a copy."""

    def similar(self, entry_id: int, sample: frozenset[int]) -> tuple[int, float] | None:
        """The entry seen in the last DUPLICATE_WINDOW_DAYS whose text is the same story as
        `sample`'s, with the share of the shorter text the two have in common."""
        ...

    def add(self, entry_id: int, sample: frozenset[int]) -> None:
        """Make the entry's text findable by `similar` (replacing what it had)."""
        ...

    def prune(self) -> None:
        """Forget the texts of entries older than the comparison window."""
        ...


class Ledger(Protocol):
    """Feeds and entries; one connection, used from one thread."""

    def close(self) -> None: ...

    def __enter__(self) -> Ledger: ...

    def __exit__(self, *exc: object) -> None: ...

    @property
    def stories(self) -> StoryIndex:
        """The index of the stories seen, to recognise copies under other URLs."""
        ...

    # --- feeds ---------------------------------------------------------------------------------

    def add_feed(self, url: str, name: str | None = None, *, unique: bool = False) -> FeedRow:
        """Register a feed. Without a name it is named after its host; a name taken already
        is refused, or with `unique` (and for host names) numbered: -2, -3..."""
        ...

    def feed_for_url(self, url: str) -> FeedRow | None: ...

    def feed(self, name: str) -> FeedRow:
        """The feed of this name (FeedError when there is none)."""
        ...

    def feeds(self, names: Iterable[str] | None = None) -> list[FeedRow]:
        """All feeds by name, or the named ones (FeedError for a name that does not exist)."""
        ...

    def counts(self) -> dict[int, dict[str, int]]:
        """Entries per feed and status."""
        ...

    def remove_feed(self, name: str) -> tuple[FeedRow, int]:
        """Forget a feed and its entries; returns the feed and how many entries went with it."""
        ...

    def record_feed_error(self, feed_id: int, error: str) -> None: ...

    def record_not_modified(self, feed_id: int) -> None: ...

    def record_fetch(
        self,
        feed_id: int,
        entries: Sequence[FeedEntry],
        *,
        title: str | None,
        etag: str | None,
        last_modified: str | None,
    ) -> FetchRecord:
        """New entries (pending, or duplicate of an entry with the same link or the same long
        text) and the feed's validators, in one transaction."""
        ...

    def to_recheck(self, feed_ids: Sequence[int], days: int | None = None) -> list[tuple[int, str]]:
        """(entry id, article id) of the done entries whose item the feed updated, and with
        `days`, of those done in the last `days` days: their pages are read again."""
        ...

    def rechecked(self, entry_ids: Iterable[int]) -> None:
        """The pages of these entries were read again: not to be read again for that."""
        ...

    # --- entries ---------------------------------------------------------------------------------

    def entries(
        self,
        feed_ids: Sequence[int] | None = None,
        status: str | None = None,
        ids: Sequence[int] | None = None,
    ) -> list[EntryRow]: ...

    def work(
        self,
        feed_ids: Sequence[int],
        *,
        retry_failed: bool = False,
        since: str | None = None,
        limit: int | None = None,
    ) -> list[EntryRow]:
        """Entries to process, oldest first: pending ones (and failed ones with retry_failed),
        published at or after `since` (entries without a date are included), at most `limit`."""
        ...

    def unemitted(self, feed_ids: Sequence[int]) -> list[EntryRow]:
        """Entries done whose output line was never written out (a run killed in between)."""
        ...

    def done_since(self, feed_ids: Sequence[int], since: str) -> list[EntryRow]:
        """Entries done after `since` (an ISO time) whose output line was written out."""
        ...

    def duplicates_of(self, entry_ids: Sequence[int]) -> dict[int, list[EntryRow]]:
        """The copies linked to each of `entry_ids`."""
        ...

    def begin(self, entry_id: int) -> None:
        """Count an attempt at processing the entry."""
        ...

    def mark_stored(
        self,
        entry_id: int,
        *,
        article_id: str,
        content_hash: str,
        content_from: str,
        warnings: Sequence[str],
    ) -> None: ...

    def mark_done(self, entry_id: int, output: str) -> bool:
        """Record the entry's output line, unless it is done already (another worker finished
        it first): whether this call did."""
        ...

    def mark_emitted(self, entry_id: int) -> None:
        """The entry's output line has been written out."""
        ...

    def mark_failed(self, entry_id: int, reason: str) -> None: ...

    def mark_duplicate(
        self, entry_id: int, of: int, reason: str, similarity: float | None = None
    ) -> None: ...

    def same_article(self, entry_id: int, article_id: str, content_hash: str) -> int | None:
        """Another entry whose article has this id (same canonical URL) or this exact text."""
        ...

    def claim_article(
        self,
        entry_id: int,
        *,
        article_id: str,
        content_hash: str,
        content_from: str,
        warnings: Sequence[str],
    ) -> int | None:
        """`same_article`, and when there is none, `mark_stored`, as one step no other writer
        comes between: the other entry found, or None when this one now has the article."""
        ...
