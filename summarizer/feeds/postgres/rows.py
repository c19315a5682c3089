"""Reading the ledger's tables on one connection: rows as the ledger's dataclasses, the shared
filters of the entry queries, and the advisory locks that make a check-then-write one step for
every worker on every machine."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from summarizer.feeds.ledger import EntryRow, FeedRow

if TYPE_CHECKING:
    import psycopg

ENTRY_SELECT = (
    "SELECT e.*, f.name AS feed, f.url AS feed_url"
    " FROM ledger_entries e JOIN ledger_feeds f ON f.id = e.feed_id"
)
_ENTRY_FIELDS = tuple(f.name for f in fields(EntryRow) if f.name != "warnings")
_FEED_FIELDS = tuple(f.name for f in fields(FeedRow))


def all_rows(
    conn: psycopg.Connection[Any], sql: str, params: Sequence[Any] = ()
) -> list[dict[str, Any]]:
    """The rows of one statement, as dicts by column name."""
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def one_row(
    conn: psycopg.Connection[Any], sql: str, params: Sequence[Any] = ()
) -> dict[str, Any] | None:
    """The first row of one statement, or None."""
    found = all_rows(conn, sql, params)
    return found[0] if found else None


def entry_row(row: dict[str, Any]) -> EntryRow:
    return EntryRow(
        **{name: row[name] for name in _ENTRY_FIELDS}, warnings=tuple(row["warnings"] or ())
    )


def feed_row(row: dict[str, Any]) -> FeedRow:
    return FeedRow(**{name: row[name] for name in _FEED_FIELDS})


def entry_filter(
    feed_ids: Sequence[int] | None, statuses: Sequence[str] | None
) -> tuple[str, list[Any]]:
    """The WHERE clause (over `e`) of entries of these feeds and statuses (None: any)."""
    clauses = ["TRUE"]
    params: list[Any] = []
    if feed_ids is not None:  # an empty list matches nothing, as it says
        clauses.append("e.feed_id = ANY(%s)")
        params.append(list(feed_ids))
    if statuses:
        clauses.append("e.status = ANY(%s)")
        params.append(list(statuses))
    return " AND ".join(clauses), params


def lock_key(kind: str, value: str) -> int:
    """A 64-bit advisory lock key for `value`, the same in every process on every machine
    (Python's own hash is salted per process)."""
    digest = hashlib.blake2b(f"summarizer-ledger:{kind}:{value}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def lock(conn: psycopg.Connection[Any], keys: Iterable[int]) -> None:
    """Hold these advisory locks until the transaction ends. Taken in ascending order, so two
    transactions wanting some of the same keys wait for each other and never deadlock."""
    ordered = sorted(set(keys))
    if ordered:
        with conn.cursor() as cur:
            # executemany sends them in one pipeline, in this order.
            cur.executemany("SELECT pg_advisory_xact_lock(%s)", [(k,) for k in ordered])
