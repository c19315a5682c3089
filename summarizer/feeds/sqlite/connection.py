"""The feed ledger's SQLite database: its tables, one connection with atomic writes.

The ledger (feeds and entries) and the story index (shingles of the texts seen) both live in it;
each is built on this connection, neither on the other.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

from summarizer.errors import LedgerError
from summarizer.feeds.ledger import EntryRow

LEDGER_FILE = "ledger.sqlite3"
SCHEMA_VERSION = "2"
# The feed's own text must be this long before two entries with the same text count as copies
# of one story without fetching anything: short teasers ("Read more") are shared by accident.
SAME_FEED_TEXT_MIN_CHARS = 280

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feeds (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL UNIQUE,
    title TEXT,
    etag TEXT,
    last_modified TEXT,
    added_at TEXT NOT NULL,
    checked_at TEXT,
    error TEXT
);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    feed_id INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    guid TEXT,
    link TEXT,
    link_key TEXT,
    title TEXT NOT NULL,
    author TEXT,
    published TEXT,
    content TEXT NOT NULL DEFAULT '',
    content_type TEXT NOT NULL DEFAULT 'html',
    feed_hash TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    article_id TEXT,
    content_hash TEXT,
    content_from TEXT,
    warnings TEXT NOT NULL DEFAULT '[]',
    duplicate_of INTEGER REFERENCES entries (id) ON DELETE SET NULL,
    similarity REAL,
    sample_size INTEGER NOT NULL DEFAULT 0,
    output TEXT,
    emitted INTEGER NOT NULL DEFAULT 0,
    seen_at TEXT NOT NULL,
    done_at TEXT,
    updated TEXT,
    recheck INTEGER NOT NULL DEFAULT 0,
    UNIQUE (feed_id, key)
);
CREATE INDEX IF NOT EXISTS entries_status ON entries (status, feed_id);
CREATE INDEX IF NOT EXISTS entries_link ON entries (link_key);
CREATE INDEX IF NOT EXISTS entries_feed_hash ON entries (feed_hash);
CREATE INDEX IF NOT EXISTS entries_article ON entries (article_id);
CREATE INDEX IF NOT EXISTS entries_content_hash ON entries (content_hash);

-- The story index (stories.py): a sample of the shingle hashes of each entry's text.
CREATE TABLE IF NOT EXISTS shingles (
    hash INTEGER NOT NULL,
    entry_id INTEGER NOT NULL REFERENCES entries (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS shingles_hash ON shingles (hash);
CREATE INDEX IF NOT EXISTS shingles_entry ON shingles (entry_id);
"""


def entry_row(row: sqlite3.Row) -> EntryRow:
    values = {f.name: row[f.name] for f in fields(EntryRow) if f.name != "warnings"}
    return EntryRow(**values, warnings=tuple(json.loads(row["warnings"])))


ENTRY_SELECT = (
    "SELECT e.*, f.name AS feed, f.url AS feed_url FROM entries e JOIN feeds f ON f.id = e.feed_id"
)


class LedgerDB:
    """One connection to the ledger's SQLite file, used from one thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=60, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA synchronous=NORMAL")
            with self.transaction():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                version = self._db.execute(
                    "SELECT value FROM meta WHERE key = 'schema_version'"
                ).fetchone()
                if version is None:
                    self._db.execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
                        (SCHEMA_VERSION,),
                    )
                elif version[0] == "1":  # before updated items were looked at again
                    for column in ("updated TEXT", "recheck INTEGER NOT NULL DEFAULT 0"):
                        self._db.execute(f"ALTER TABLE entries ADD COLUMN {column}")
                    self._db.execute(
                        "UPDATE meta SET value = ? WHERE key = 'schema_version'",
                        (SCHEMA_VERSION,),
                    )
                elif version[0] != SCHEMA_VERSION:
                    raise LedgerError(
                        f"the feed ledger {path} has schema version {version[0]}, "
                        f"this summarizer reads {SCHEMA_VERSION}"
                    )
        except sqlite3.Error as e:
            raise LedgerError(f"cannot open the feed ledger {path}: {e}") from None

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic write: everything in the block lands, or nothing does."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise LedgerError(f"cannot write the feed ledger {self.path}: {e}") from None
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as e:
            raise LedgerError(f"cannot write the feed ledger {self.path}: {e}") from None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, params)
        except sqlite3.Error as e:
            raise LedgerError(f"cannot use the feed ledger {self.path}: {e}") from None

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            self._db.executemany(sql, rows)
        except sqlite3.Error as e:
            raise LedgerError(f"cannot write the feed ledger {self.path}: {e}") from None


def batched(items: list[Any], size: int) -> Iterator[list[Any]]:
    """`items` in lists of at most `size` (SQLite limits the parameters of one query)."""
    for i in range(0, len(items), size):
        yield items[i : i + size]
