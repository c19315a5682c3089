"""What reading a feed adds to the shared ledger, in one transaction: new entries (pending, or
copies of an entry with the same link or the same long text), the known ones updated, and the
feed's validators.

Workers on several machines may read the same feed, or feeds sharing stories, at the same time.
Each transaction first takes advisory locks on the entries' keys, links and long texts (in one
order, so never a deadlock), so the copy of a link another worker is recording is recognised as
one; and an item two workers insert at once is stored once (the unique key on (feed_id, key) and
ON CONFLICT DO NOTHING), counted as new only by the call that inserted it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from summarizer.feeds.ledger import SAME_FEED_TEXT_MIN_CHARS, FetchRecord, edited
from summarizer.feeds.postgres.rows import lock, lock_key, one_row

if TYPE_CHECKING:
    import psycopg

    from summarizer.feeds.parse import FeedEntry


def record_fetch(
    conn: psycopg.Connection[Any],
    feed_id: int,
    entries: Sequence[FeedEntry],
    *,
    title: str | None,
    etag: str | None,
    last_modified: str | None,
    stamp: str,
) -> FetchRecord:
    """The body of `PgLedger.record_fetch`, inside its transaction on `conn`."""
    from summarizer.corpus import canonical_url

    link_keys = {id(e): canonical_url(e.link) if e.link else None for e in entries}
    lock(conn, _lock_keys(feed_id, entries, link_keys.values()))
    record = FetchRecord(new=[])
    for e in entries:
        known = one_row(
            conn,
            "SELECT id, status, updated, feed_hash, title, published FROM ledger_entries"
            " WHERE feed_id = %s AND key = %s",
            (feed_id, e.key),
        )
        if known is not None:
            record.known += 1
            recheck = edited(known, e)  # its page is read again after the entries
            record.updated += recheck
            conn.execute(
                "UPDATE ledger_entries SET updated = coalesce(%s, updated), feed_hash ="
                " coalesce(%s, feed_hash), title = coalesce(nullif(%s, ''), title),"
                " published = coalesce(%s, published), recheck = recheck OR %s"
                " WHERE id = %s",
                (e.updated, e.content_hash, e.title, e.published, recheck, known["id"]),
            )
            continue
        link_key = link_keys[id(e)]
        same = same_entry(conn, feed_id, e.guid, link_key, e.content_hash, e.text_length)
        inserted = conn.execute(
            "INSERT INTO ledger_entries (feed_id, key, guid, link, link_key, title, author,"
            " published, content, content_type, feed_hash, status, duplicate_of, reason,"
            " seen_at, updated)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (feed_id, key) DO NOTHING RETURNING id",
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
        ).fetchone()
        if inserted is None:  # another worker recorded it meanwhile
            record.known += 1
        elif same:
            record.duplicates += 1
        else:
            record.new.append(int(inserted[0]))
    conn.execute(
        "UPDATE ledger_feeds SET title = coalesce(%s, title), etag = %s, last_modified = %s,"
        " checked_at = %s, error = NULL WHERE id = %s",
        (title, etag, last_modified, stamp, feed_id),
    )
    return record


def _lock_keys(
    feed_id: int, entries: Sequence[FeedEntry], link_keys: Iterable[str | None]
) -> list[int]:
    """What the entries' copies are found by: their keys in the feed (the rows this transaction
    may update), their links and their texts long enough to be compared."""
    keys = [lock_key("entry", f"{feed_id}:{e.key}") for e in entries]
    keys += [lock_key("link", k) for k in link_keys if k]
    keys += [
        lock_key("text", e.content_hash)
        for e in entries
        if e.content_hash and e.text_length >= SAME_FEED_TEXT_MIN_CHARS
    ]
    return keys


def same_entry(
    conn: psycopg.Connection[Any],
    feed_id: int,
    guid: str | None,
    link_key: str | None,
    feed_hash: str | None,
    length: int,
) -> tuple[int, str] | None:
    """An earlier entry this one copies: the same link (in another feed, or without a guid of
    its own: in one feed a new guid is a new entry), or the same long feed text."""
    if link_key:
        row = one_row(
            conn,
            "SELECT id, feed_id FROM ledger_entries WHERE link_key = %s ORDER BY id LIMIT 1",
            (link_key,),
        )
        if row is not None and (guid is None or row["feed_id"] != feed_id):
            return root(conn, row["id"]), "same link"
    if feed_hash and length >= SAME_FEED_TEXT_MIN_CHARS:
        row = one_row(
            conn,
            "SELECT id FROM ledger_entries WHERE feed_hash = %s ORDER BY id LIMIT 1",
            (feed_hash,),
        )
        if row is not None:
            return root(conn, row["id"]), "same text in the feed"
    return None


def root(conn: psycopg.Connection[Any], entry_id: int) -> int:
    """The first copy: follows duplicate_of links."""
    seen = {entry_id}
    while True:
        row = conn.execute(
            "SELECT duplicate_of FROM ledger_entries WHERE id = %s", (entry_id,)
        ).fetchone()
        if row is None or row[0] is None or row[0] in seen:
            return entry_id
        entry_id = int(row[0])
        seen.add(entry_id)
