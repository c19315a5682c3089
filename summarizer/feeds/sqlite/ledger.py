"""The feed ledger in SQLite (the embedded default): feeds and entries in the data dir's
ledger file, on one connection (connection), with the story index beside them (stories)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from summarizer.errors import FeedError
from summarizer.feeds.ledger import (
    SAME_FEED_TEXT_MIN_CHARS,
    STATUSES,
    EntryRow,
    FeedRow,
    FetchRecord,
    edited,
    now,
)
from summarizer.feeds.sqlite.connection import ENTRY_SELECT, LedgerDB, batched, entry_row
from summarizer.feeds.sqlite.stories import SqliteStories

if TYPE_CHECKING:
    from summarizer.feeds.parse import FeedEntry


class SqliteLedger(LedgerDB):
    """Feeds and entries in one SQLite file; one connection, used from one thread."""

    @property
    def stories(self) -> SqliteStories:
        """The index of the stories seen, to recognise copies under other URLs."""
        return SqliteStories(self)

    def __enter__(self) -> SqliteLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- feeds ---------------------------------------------------------------------------------

    def add_feed(self, url: str, name: str | None = None, *, unique: bool = False) -> FeedRow:
        """Register a feed. Without a name it is named after its host; a name taken already
        is refused, or with `unique` (and for host names) numbered: -2, -3..."""
        from summarizer.feeds.lists import check_feed_url, check_name, default_name

        url = check_feed_url(url)
        with self.transaction():
            known = self.feed_for_url(url)
            if known is not None:
                raise FeedError(f"{url} is already registered as {known.name!r}")
            base = check_name(name) if name is not None else default_name(url)
            if name is not None and not unique and self._feed_row(base) is not None:
                raise FeedError(
                    f"a feed named {base!r} already exists", hint="pick another with --name"
                )
            name, n = base, 1
            while self._feed_row(name) is not None:
                n += 1
                name = f"{base}-{n}"
            self.execute(
                "INSERT INTO feeds (name, url, added_at) VALUES (?, ?, ?)", (name, url, now())
            )
        feed = self._feed_row(name)
        assert feed is not None
        return feed

    def feed_for_url(self, url: str) -> FeedRow | None:
        row = self._db.execute("SELECT * FROM feeds WHERE url = ?", (url.strip(),)).fetchone()
        return FeedRow(**dict(row)) if row is not None else None

    def _feed_row(self, name: str) -> FeedRow | None:
        row = self._db.execute("SELECT * FROM feeds WHERE name = ?", (name,)).fetchone()
        return FeedRow(**dict(row)) if row is not None else None

    def feed(self, name: str) -> FeedRow:
        feed = self._feed_row(name)
        if feed is None:
            raise FeedError(f"no feed named {name!r}", hint="`summarizer feeds list` shows them")
        return feed

    def feeds(self, names: Iterable[str] | None = None) -> list[FeedRow]:
        """All feeds by name, or the named ones (FeedError for a name that does not exist)."""
        if names is not None:
            return [self.feed(name) for name in dict.fromkeys(names)]
        rows = self._db.execute("SELECT * FROM feeds ORDER BY name").fetchall()
        return [FeedRow(**dict(r)) for r in rows]

    def counts(self) -> dict[int, dict[str, int]]:
        """Entries per feed and status."""
        out: dict[int, dict[str, int]] = {}
        for row in self._db.execute(
            "SELECT feed_id, status, COUNT(*) AS n FROM entries GROUP BY feed_id, status"
        ):
            out.setdefault(row["feed_id"], dict.fromkeys(STATUSES, 0))[row["status"]] = row["n"]
        return out

    def remove_feed(self, name: str) -> tuple[FeedRow, int]:
        """Forget a feed and its entries; returns the feed and how many entries went with it."""
        feed = self.feed(name)
        with self.transaction():
            (n,) = self._db.execute(
                "SELECT COUNT(*) FROM entries WHERE feed_id = ?", (feed.id,)
            ).fetchone()
            self.execute("DELETE FROM feeds WHERE id = ?", (feed.id,))
        return feed, int(n)

    def record_feed_error(self, feed_id: int, error: str) -> None:
        self.execute(
            "UPDATE feeds SET checked_at = ?, error = ? WHERE id = ?", (now(), error, feed_id)
        )

    def record_not_modified(self, feed_id: int) -> None:
        self.execute("UPDATE feeds SET checked_at = ?, error = NULL WHERE id = ?", (now(), feed_id))

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
        from summarizer.corpus import canonical_url

        record = FetchRecord(new=[])
        stamp = now()
        with self.transaction():
            for e in entries:
                known = self._db.execute(
                    "SELECT id, status, updated, feed_hash, title, published FROM entries"
                    " WHERE feed_id = ? AND key = ?",
                    (feed_id, e.key),
                ).fetchone()
                if known is not None:
                    record.known += 1
                    recheck = edited(known, e)  # its page is read again after the entries
                    record.updated += recheck
                    self._db.execute(
                        "UPDATE entries SET updated = coalesce(?, updated), feed_hash ="
                        " coalesce(?, feed_hash), title = coalesce(nullif(?, ''), title),"
                        " published = coalesce(?, published), recheck = recheck OR ?"
                        " WHERE id = ?",
                        (e.updated, e.content_hash, e.title, e.published, recheck, known["id"]),
                    )
                    continue
                link_key = canonical_url(e.link) if e.link else None
                same = self._same_entry(feed_id, e.guid, link_key, e.content_hash, e.text_length)
                cursor = self._db.execute(
                    "INSERT INTO entries (feed_id, key, guid, link, link_key, title, author, "
                    "published, content, content_type, feed_hash, status, duplicate_of, reason, "
                    "seen_at, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        feed_id,
                        e.key,
                        e.guid,
                        e.link,
                        link_key,
                        e.title,
                        e.author,
                        e.published,
                        "" if same else e.content,
                        e.content_type,
                        e.content_hash,
                        "duplicate" if same else "pending",
                        same[0] if same else None,
                        same[1] if same else None,
                        stamp,
                        e.updated,
                    ),
                )
                if same:
                    record.duplicates += 1
                else:
                    assert cursor.lastrowid is not None
                    record.new.append(cursor.lastrowid)
            self.execute(
                "UPDATE feeds SET title = COALESCE(?, title), etag = ?, last_modified = ?, "
                "checked_at = ?, error = NULL WHERE id = ?",
                (title, etag, last_modified, stamp, feed_id),
            )
        return record

    def to_recheck(self, feed_ids: Sequence[int], days: int | None = None) -> list[tuple[int, str]]:
        """(entry id, article id) of the done entries whose item the feed updated, and with
        `days`, of those done in the last `days` days: their pages are read again."""
        sql, params = self._filter(feed_ids, ["done"])
        sql += " AND e.article_id IS NOT NULL AND (e.recheck"
        if days is not None:
            since = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")
            sql += " OR e.done_at >= ?"
            params.append(since)
        rows = self._db.execute(
            f"SELECT e.id, e.article_id FROM entries e WHERE {sql}) ORDER BY e.id", params
        ).fetchall()
        return [(r[0], r[1]) for r in rows]

    def rechecked(self, entry_ids: Iterable[int]) -> None:
        """The pages of these entries were read again: not to be read again for that."""
        self._db.executemany(
            "UPDATE entries SET recheck = 0 WHERE id = ?", [(i,) for i in entry_ids]
        )

    def _same_entry(
        self,
        feed_id: int,
        guid: str | None,
        link_key: str | None,
        feed_hash: str | None,
        length: int,
    ) -> tuple[int, str] | None:
        """An earlier entry this one copies: the same link (in another feed, or without a guid
        of its own: in one feed a new guid is a new entry), or the same long feed text."""
        if link_key:
            row = self._db.execute(
                "SELECT id, feed_id FROM entries WHERE link_key = ? ORDER BY id LIMIT 1",
                (link_key,),
            ).fetchone()
            if row is not None and (guid is None or row["feed_id"] != feed_id):
                return self._root(row["id"]), "same link"
        if feed_hash and length >= SAME_FEED_TEXT_MIN_CHARS:
            row = self._db.execute(
                "SELECT id FROM entries WHERE feed_hash = ? ORDER BY id LIMIT 1", (feed_hash,)
            ).fetchone()
            if row is not None:
                return self._root(row["id"]), "same text in the feed"
        return None

    def _root(self, entry_id: int) -> int:
        """The first copy: follows duplicate_of links."""
        seen = {entry_id}
        while True:
            row = self._db.execute(
                "SELECT duplicate_of FROM entries WHERE id = ?", (entry_id,)
            ).fetchone()
            if row is None or row[0] is None or row[0] in seen:
                return entry_id
            entry_id = row[0]
            seen.add(entry_id)

    # --- entries ---------------------------------------------------------------------------------

    def entries(
        self,
        feed_ids: Sequence[int] | None = None,
        status: str | None = None,
        ids: Sequence[int] | None = None,
    ) -> list[EntryRow]:
        sql, params = self._filter(feed_ids, [status] if status else None)
        if ids is not None:
            sql += f" AND e.id IN ({','.join('?' * len(ids)) or 'NULL'})"
            params += list(ids)
        rows = self._db.execute(f"{ENTRY_SELECT} WHERE {sql} ORDER BY e.id", params).fetchall()
        return [entry_row(r) for r in rows]

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
        sql, params = self._filter(feed_ids, statuses)
        if since:
            sql += " AND (e.published IS NULL OR e.published >= ?)"
            params.append(since)
        sql = f"{ENTRY_SELECT} WHERE {sql} ORDER BY COALESCE(e.published, e.seen_at), e.id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [entry_row(r) for r in self._db.execute(sql, params).fetchall()]

    def unemitted(self, feed_ids: Sequence[int]) -> list[EntryRow]:
        """Entries done whose output line was never written out (a run killed in between)."""
        sql, params = self._filter(feed_ids, ["done"])
        rows = self._db.execute(
            f"{ENTRY_SELECT} WHERE {sql} AND e.emitted = 0 ORDER BY e.done_at, e.id", params
        ).fetchall()
        return [entry_row(r) for r in rows]

    def done_since(self, feed_ids: Sequence[int], since: str) -> list[EntryRow]:
        """Entries done after `since` (an ISO time) whose output line was written out."""
        sql, params = self._filter(feed_ids, ["done"])
        rows = self._db.execute(
            f"{ENTRY_SELECT} WHERE {sql} AND e.emitted = 1 AND e.done_at > ?"
            " ORDER BY e.done_at, e.id",
            [*params, since],
        ).fetchall()
        return [entry_row(r) for r in rows]

    def duplicates_of(self, entry_ids: Sequence[int]) -> dict[int, list[EntryRow]]:
        """The copies linked to each of `entry_ids`."""
        out: dict[int, list[EntryRow]] = {i: [] for i in entry_ids}
        for chunk in batched(list(entry_ids), 500):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"{ENTRY_SELECT} WHERE e.duplicate_of IN ({marks}) ORDER BY e.id", chunk
            ).fetchall()
            for row in rows:
                out[row["duplicate_of"]].append(entry_row(row))
        return out

    @staticmethod
    def _filter(
        feed_ids: Sequence[int] | None, statuses: Sequence[str] | None
    ) -> tuple[str, list[Any]]:
        clauses: list[str] = ["1"]
        params: list[Any] = []
        if feed_ids is not None:
            clauses.append(f"e.feed_id IN ({','.join('?' * len(feed_ids)) or 'NULL'})")
            params += list(feed_ids)
        if statuses:
            clauses.append(f"e.status IN ({','.join('?' * len(statuses))})")
            params += list(statuses)
        return " AND ".join(clauses), params

    def begin(self, entry_id: int) -> None:
        """Count an attempt at processing the entry."""
        self.execute("UPDATE entries SET attempts = attempts + 1 WHERE id = ?", (entry_id,))

    def mark_stored(
        self,
        entry_id: int,
        *,
        article_id: str,
        content_hash: str,
        content_from: str,
        warnings: Sequence[str],
    ) -> None:
        self.execute(
            "UPDATE entries SET article_id = ?, content_hash = ?, content_from = ?, "
            "warnings = ? WHERE id = ?",
            (article_id, content_hash, content_from, json.dumps(list(warnings)), entry_id),
        )

    def mark_done(self, entry_id: int, output: str) -> bool:
        cur = self.execute(
            "UPDATE entries SET status = 'done', reason = NULL, output = ?, emitted = 0, "
            "content = '', done_at = ? WHERE id = ? AND status != 'done'",
            (output, now(), entry_id),
        )
        return cur.rowcount > 0

    def mark_emitted(self, entry_id: int) -> None:
        """The entry's output line has been written out."""
        self.execute("UPDATE entries SET emitted = 1 WHERE id = ?", (entry_id,))

    def mark_failed(self, entry_id: int, reason: str) -> None:
        self.execute(
            "UPDATE entries SET status = 'failed', reason = ? WHERE id = ?", (reason, entry_id)
        )

    def mark_duplicate(
        self, entry_id: int, of: int, reason: str, similarity: float | None = None
    ) -> None:
        with self.transaction():
            self.execute("DELETE FROM shingles WHERE entry_id = ?", (entry_id,))
            self.execute(
                "UPDATE entries SET status = 'duplicate', duplicate_of = ?, reason = ?, "
                "similarity = ?, content = '', done_at = ? WHERE id = ?",
                (self._root(of), reason, similarity, now(), entry_id),
            )

    # --- what an article copies ----------------------------------------------------------------

    def same_article(self, entry_id: int, article_id: str, content_hash: str) -> int | None:
        """Another entry whose article has this id (same canonical URL) or this exact text."""
        row = self._db.execute(
            "SELECT id FROM entries WHERE id != ? AND status != 'duplicate' "
            "AND (article_id = ? OR content_hash = ?) ORDER BY id LIMIT 1",
            (entry_id, article_id, content_hash),
        ).fetchone()
        return int(row["id"]) if row is not None else None

    def claim_article(
        self,
        entry_id: int,
        *,
        article_id: str,
        content_hash: str,
        content_from: str,
        warnings: Sequence[str],
    ) -> int | None:
        with self.transaction():
            same = self.same_article(entry_id, article_id, content_hash)
            if same is None:
                self.mark_stored(
                    entry_id, article_id=article_id, content_hash=content_hash,
                    content_from=content_from, warnings=warnings,
                )  # fmt: skip
            return same
