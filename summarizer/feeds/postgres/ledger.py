"""The feed ledger in the shared PostgreSQL database: feeds and entries of every worker of a
fleet, with the story index beside them (stories) and what reading a feed adds (fetch).

Nothing is kept per connection: every call borrows a connection of the process's pool (one
transaction each, retried whole when the server went away), so one object may be used from
several threads, and several processes on several machines share the tables. The steps that
check and then write (`claim_article`, `mark_done`, `record_fetch`, `add_feed`) are made atomic
across them with row conditions and advisory locks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from summarizer.errors import FeedError
from summarizer.feeds.ledger import STATUSES, EntryRow, FeedRow, FetchRecord, now
from summarizer.feeds.postgres import fetch
from summarizer.feeds.postgres.rows import (
    ENTRY_SELECT,
    all_rows,
    entry_filter,
    entry_row,
    feed_row,
    lock,
    lock_key,
    one_row,
)
from summarizer.feeds.postgres.schema import PART, STEPS
from summarizer.feeds.postgres.stories import PgStories

if TYPE_CHECKING:
    import psycopg

    from summarizer.feeds.parse import FeedEntry

T = TypeVar("T")


class PgLedger:
    """Feeds and entries in the shared database (SUMMARIZER_DATABASE_URL)."""

    def __init__(self, url: str) -> None:
        from summarizer.database import connect

        self._db = connect(url)
        self._db.migrate(PART, STEPS)

    def close(self) -> None:
        """Nothing to release: the pool is the process's, shared with the catalog and cache."""

    def __enter__(self) -> PgLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stories(self) -> PgStories:
        """The index of the stories seen, to recognise copies under other URLs."""
        return PgStories(self._db)

    def _run(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        return self._db.run(work)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self._run(lambda conn: all_rows(conn, sql, params))

    # --- feeds ---------------------------------------------------------------------------------

    def add_feed(self, url: str, name: str | None = None, *, unique: bool = False) -> FeedRow:
        """Register a feed. Without a name it is named after its host; a name taken already
        is refused, or with `unique` (and for host names) numbered: -2, -3..."""
        from summarizer.feeds.lists import check_feed_url, check_name, default_name

        url = check_feed_url(url)

        def go(conn: psycopg.Connection[Any]) -> FeedRow:
            # One registration at a time: two workers adding feeds of one host both number
            # theirs, rather than one failing on the unique name.
            lock(conn, [lock_key("feeds", "")])
            known = one_row(conn, "SELECT * FROM ledger_feeds WHERE url = %s", (url,))
            if known is not None:
                raise FeedError(f"{url} is already registered as {known['name']!r}")
            base = check_name(name) if name is not None else default_name(url)
            taken = {
                r["name"]
                for r in all_rows(
                    conn,
                    "SELECT name FROM ledger_feeds WHERE name = %s OR name LIKE %s",
                    (base, _like_prefix(base) + "-%"),
                )
            }
            if name is not None and not unique and base in taken:
                raise FeedError(
                    f"a feed named {base!r} already exists", hint="pick another with --name"
                )
            chosen, n = base, 1
            while chosen in taken:
                n += 1
                chosen = f"{base}-{n}"
            row = one_row(
                conn,
                "INSERT INTO ledger_feeds (name, url, added_at) VALUES (%s, %s, %s) RETURNING *",
                (chosen, url, now()),
            )
            assert row is not None
            return feed_row(row)

        return self._run(go)

    def feed_for_url(self, url: str) -> FeedRow | None:
        rows = self._rows("SELECT * FROM ledger_feeds WHERE url = %s", (url.strip(),))
        return feed_row(rows[0]) if rows else None

    def feed(self, name: str) -> FeedRow:
        """The feed of this name (FeedError when there is none)."""
        rows = self._rows("SELECT * FROM ledger_feeds WHERE name = %s", (name,))
        if not rows:
            raise FeedError(f"no feed named {name!r}", hint="`summarizer feeds list` shows them")
        return feed_row(rows[0])

    def feeds(self, names: Iterable[str] | None = None) -> list[FeedRow]:
        """All feeds by name, or the named ones (FeedError for a name that does not exist)."""
        if names is not None:
            return [self.feed(name) for name in dict.fromkeys(names)]
        return [feed_row(r) for r in self._rows("SELECT * FROM ledger_feeds ORDER BY name")]

    def counts(self) -> dict[int, dict[str, int]]:
        """Entries per feed and status."""
        out: dict[int, dict[str, int]] = {}
        for feed_id, status, n in self._db.execute(
            "SELECT feed_id, status, count(*) FROM ledger_entries GROUP BY feed_id, status"
        ):
            out.setdefault(int(feed_id), dict.fromkeys(STATUSES, 0))[status] = int(n)
        return out

    def remove_feed(self, name: str) -> tuple[FeedRow, int]:
        """Forget a feed and its entries; returns the feed and how many entries went with it."""
        feed = self.feed(name)

        def go(conn: psycopg.Connection[Any]) -> int:
            row = conn.execute(
                "SELECT count(*) FROM ledger_entries WHERE feed_id = %s", (feed.id,)
            ).fetchone()
            conn.execute("DELETE FROM ledger_feeds WHERE id = %s", (feed.id,))
            return int(row[0]) if row else 0

        return feed, self._run(go)

    def record_feed_error(self, feed_id: int, error: str) -> None:
        self._db.execute(
            "UPDATE ledger_feeds SET checked_at = %s, error = %s WHERE id = %s",
            (now(), error, feed_id),
        )

    def record_not_modified(self, feed_id: int) -> None:
        self._db.execute(
            "UPDATE ledger_feeds SET checked_at = %s, error = NULL WHERE id = %s", (now(), feed_id)
        )

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
        stamp = now()
        return self._run(
            lambda conn: fetch.record_fetch(
                conn, feed_id, entries, title=title, etag=etag,
                last_modified=last_modified, stamp=stamp,
            )
        )  # fmt: skip

    def to_recheck(self, feed_ids: Sequence[int], days: int | None = None) -> list[tuple[int, str]]:
        """(entry id, article id) of the done entries whose item the feed updated, and with
        `days`, of those done in the last `days` days: their pages are read again."""
        sql, params = entry_filter(feed_ids, ["done"])
        sql += " AND e.article_id IS NOT NULL AND (e.recheck"
        if days is not None:
            since = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")
            sql += " OR e.done_at >= %s"
            params.append(since)
        rows = self._db.execute(
            f"SELECT e.id, e.article_id FROM ledger_entries e WHERE {sql}) ORDER BY e.id", params
        )
        return [(int(r[0]), r[1]) for r in rows]

    def rechecked(self, entry_ids: Iterable[int]) -> None:
        """The pages of these entries were read again: not to be read again for that."""
        self._db.execute(
            "UPDATE ledger_entries SET recheck = FALSE WHERE id = ANY(%s)", (list(entry_ids),)
        )

    # --- entries ---------------------------------------------------------------------------------

    def entries(
        self,
        feed_ids: Sequence[int] | None = None,
        status: str | None = None,
        ids: Sequence[int] | None = None,
    ) -> list[EntryRow]:
        sql, params = entry_filter(feed_ids, [status] if status else None)
        if ids is not None:
            sql += " AND e.id = ANY(%s)"
            params.append(list(ids))
        return [
            entry_row(r) for r in self._rows(f"{ENTRY_SELECT} WHERE {sql} ORDER BY e.id", params)
        ]

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
        statuses = ["pending", "failed"] if retry_failed else ["pending"]
        sql, params = entry_filter(feed_ids, statuses)
        if since:
            sql += " AND (e.published IS NULL OR e.published >= %s)"
            params.append(since)
        sql = f"{ENTRY_SELECT} WHERE {sql} ORDER BY coalesce(e.published, e.seen_at), e.id"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        return [entry_row(r) for r in self._rows(sql, params)]

    def unemitted(self, feed_ids: Sequence[int]) -> list[EntryRow]:
        """Entries done whose output line was never written out (a run killed in between)."""
        sql, params = entry_filter(feed_ids, ["done"])
        rows = self._rows(
            f"{ENTRY_SELECT} WHERE {sql} AND NOT e.emitted ORDER BY e.done_at, e.id", params
        )
        return [entry_row(r) for r in rows]

    def done_since(self, feed_ids: Sequence[int], since: str) -> list[EntryRow]:
        """Entries done after `since` (an ISO time) whose output line was written out."""
        sql, params = entry_filter(feed_ids, ["done"])
        rows = self._rows(
            f"{ENTRY_SELECT} WHERE {sql} AND e.emitted AND e.done_at > %s ORDER BY e.done_at, e.id",
            [*params, since],
        )
        return [entry_row(r) for r in rows]

    def duplicates_of(self, entry_ids: Sequence[int]) -> dict[int, list[EntryRow]]:
        """The copies linked to each of `entry_ids`."""
        out: dict[int, list[EntryRow]] = {i: [] for i in entry_ids}
        rows = self._rows(
            f"{ENTRY_SELECT} WHERE e.duplicate_of = ANY(%s) ORDER BY e.id", (list(entry_ids),)
        )
        for row in rows:
            out[row["duplicate_of"]].append(entry_row(row))
        return out

    def begin(self, entry_id: int) -> None:
        """Count an attempt at processing the entry."""
        self._db.execute(
            "UPDATE ledger_entries SET attempts = attempts + 1 WHERE id = %s", (entry_id,)
        )

    def mark_stored(
        self,
        entry_id: int,
        *,
        article_id: str,
        content_hash: str,
        content_from: str,
        warnings: Sequence[str],
    ) -> None:
        self._run(
            lambda conn: _store(conn, entry_id, article_id, content_hash, content_from, warnings)
        )

    def mark_done(self, entry_id: int, output: str) -> bool:
        """Record the entry's output line, unless it is done already (another worker finished
        it first): whether this call did."""
        rows = self._db.execute(
            "UPDATE ledger_entries SET status = 'done', reason = NULL, output = %s,"
            " emitted = FALSE, content = '', done_at = %s"
            " WHERE id = %s AND status <> 'done' RETURNING id",
            (output, now(), entry_id),
        )
        return bool(rows)

    def mark_emitted(self, entry_id: int) -> None:
        """The entry's output line has been written out."""
        self._db.execute("UPDATE ledger_entries SET emitted = TRUE WHERE id = %s", (entry_id,))

    def mark_failed(self, entry_id: int, reason: str) -> None:
        self._db.execute(
            "UPDATE ledger_entries SET status = 'failed', reason = %s WHERE id = %s",
            (reason, entry_id),
        )

    def mark_duplicate(
        self, entry_id: int, of: int, reason: str, similarity: float | None = None
    ) -> None:
        def go(conn: psycopg.Connection[Any]) -> None:
            conn.execute("DELETE FROM ledger_shingles WHERE entry_id = %s", (entry_id,))
            conn.execute(
                "UPDATE ledger_entries SET status = 'duplicate', duplicate_of = %s, reason = %s,"
                " similarity = %s, content = '', done_at = %s WHERE id = %s",
                (fetch.root(conn, of), reason, similarity, now(), entry_id),
            )

        self._run(go)

    # --- what an article copies ----------------------------------------------------------------

    def same_article(self, entry_id: int, article_id: str, content_hash: str) -> int | None:
        """Another entry whose article has this id (same canonical URL) or this exact text."""
        return self._run(lambda conn: _same_article(conn, entry_id, article_id, content_hash))

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

        def go(conn: psycopg.Connection[Any]) -> int | None:
            # Two workers claiming one article (by its id or by its text) take the same lock,
            # so the second one sees the first one's claim, committed.
            lock(conn, [lock_key("article", article_id), lock_key("content", content_hash)])
            same = _same_article(conn, entry_id, article_id, content_hash)
            if same is None:
                _store(conn, entry_id, article_id, content_hash, content_from, warnings)
            return same

        return self._run(go)


def _same_article(
    conn: psycopg.Connection[Any], entry_id: int, article_id: str, content_hash: str
) -> int | None:
    row = conn.execute(
        "SELECT id FROM ledger_entries WHERE id <> %s AND status <> 'duplicate'"
        " AND (article_id = %s OR content_hash = %s) ORDER BY id LIMIT 1",
        (entry_id, article_id, content_hash),
    ).fetchone()
    return int(row[0]) if row is not None else None


def _store(
    conn: psycopg.Connection[Any],
    entry_id: int,
    article_id: str,
    content_hash: str,
    content_from: str,
    warnings: Sequence[str],
) -> None:
    from psycopg.types.json import Jsonb

    conn.execute(
        "UPDATE ledger_entries SET article_id = %s, content_hash = %s, content_from = %s,"
        " warnings = %s WHERE id = %s",
        (article_id, content_hash, content_from, Jsonb(list(warnings)), entry_id),
    )


def _like_prefix(text: str) -> str:
    """`text` as the literal start of a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
