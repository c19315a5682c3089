"""One connection to the catalog's SQLite file (WAL): opening and migrating its schema, atomic
writes, the store's metadata and the vector store's cleanup journal."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from summarizer.corpus.sqlite.schema import (
    ALLOW_PRIVATE,
    LEXICAL_INDEX,
    OUTPUTS,
    SCHEMA,
    SCHEMA_VERSION,
)
from summarizer.errors import DatabaseError, StoreError


class Database:
    """An sqlite3 connection whose failures (a full disk, a read-only data dir) are StoreErrors."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.read_only = _read_only(path)
        if self.read_only:
            self._db = _open_read_only(path)
        else:
            self._db = sqlite3.connect(path, timeout=60, isolation_level=None)
        self._db.row_factory = sqlite3.Row

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, params)
        except sqlite3.Error as e:
            raise self._error(e) from None

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            self._db.executemany(sql, rows)
        except sqlite3.Error as e:
            raise self._error(e) from None

    def close(self) -> None:
        self._db.close()

    def _error(self, e: sqlite3.Error) -> DatabaseError:
        return DatabaseError(f"the catalog {self.path}", e)


def _read_only(path: Path) -> bool:
    """Whether this process cannot write the catalog (a read-only mount, an archive, another
    user's data dir): it exists, and it or its folder is not writable."""
    import os

    return path.exists() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))


def _open_read_only(path: Path) -> sqlite3.Connection:
    """The catalog opened for reading only. With its WAL files there (or room to make them) as
    `mode=ro`; else, when no WAL holds writes not yet in the file, as immutable (nobody can
    write it here, and SQLite then needs no lock files)."""
    from urllib.parse import quote

    uri = f"file:{quote(str(path.resolve()))}"
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=60, isolation_level=None)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.Error:
        wal = path.with_name(path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise
    return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)


class Connection:
    """The catalog's SQLite connection; safe to read while another process writes (WAL)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = Database(path)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open the catalog {path}: {e}") from None
        try:
            self._db.execute("PRAGMA foreign_keys=ON")
            if not self._db.read_only:
                self._db.execute("PRAGMA synchronous=NORMAL")  # per connection; safe with WAL
            # Readers only read the version: the schema is written (under the write lock of
            # SQLite) when it is missing or old, so `list` never waits behind an ingest.
            version = self._version()
            if version != SCHEMA_VERSION and self._db.read_only:
                raise StoreError(
                    f"the catalog {path} is read-only here and has schema version {version}, "
                    f"not {SCHEMA_VERSION}",
                    hint="open it once where it can be written (any command upgrades it)",
                )
            if version != SCHEMA_VERSION:
                self._create()
        except DatabaseError as e:
            self._db.close()
            raise StoreError(f"cannot open the catalog {path}: {e.cause}") from None
        except StoreError:
            self._db.close()
            raise

    def _version(self) -> str | None:
        exists = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone()
        return self.meta("schema_version") if exists else None

    def _create(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")  # stays with the file
        with self.transaction():
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            version = self.meta("schema_version")
            if version in ("2", "3", "4"):  # a lexical index without titles: made anew
                self._db.execute("DROP TABLE chunk_text")
                self._db.execute(LEXICAL_INDEX)
            if version in ("1", "2", "3", "4"):  # (1: before the lexical index) built once
                self._db.execute(
                    "INSERT INTO chunk_text (text, title, chunk_id, article_id)"
                    ' SELECT substr(a.text, c.start + 1, c."end" - c.start), a.title, c.id, a.id'
                    " FROM chunks c JOIN articles a ON a.id = c.article_id"
                    " ORDER BY a.ingested_at, a.id, c.idx"
                )
            if version == "3":  # outputs were kept for the latest text only
                self._db.execute("ALTER TABLE outputs RENAME TO outputs_3")
                self._db.execute(OUTPUTS)
                self._db.execute("INSERT INTO outputs SELECT * FROM outputs_3")
                self._db.execute("DROP TABLE outputs_3")
            if version in ("1", "2", "3", "4", "5"):  # (2: before outputs were kept: above)
                # Before schema 6 no permission to fetch from private addresses was recorded:
                # none is assumed.
                self._db.execute(ALLOW_PRIVATE)
                version = None
            # Before versions were kept (and on a new catalog, where it does nothing): every
            # article's text is its first version.
            self._db.execute(
                "INSERT INTO versions (article_id, n, content_hash, title, text, fetched_at,"
                " fingerprint) SELECT id, 1, content_hash, title, NULL, updated_at, fingerprint"
                " FROM articles WHERE id NOT IN (SELECT article_id FROM versions)"
            )
            if version is None:
                self.set_meta("schema_version", SCHEMA_VERSION)
            elif version != SCHEMA_VERSION:
                raise StoreError(
                    f"the catalog {self.path} has schema version {version}, "
                    f"this summarizer reads {SCHEMA_VERSION}",
                    hint="use the summarizer that wrote it, or another --home",
                )

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic write: everything in the block lands, or nothing does."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _rows_of(self, sql: str, ids: Sequence[str]) -> Iterator[sqlite3.Row]:
        """The rows of `sql` (ending in "IN") for `ids`, in batches SQLite takes."""
        ids = list(ids)
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            yield from self._db.execute(f"{sql} ({','.join('?' * len(part))})", part)

    # --- metadata -------------------------------------------------------------------------

    def generation(self) -> int:
        # SQLite's own counter: it moves when another connection commits.
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self._db.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # --- the vector store's cleanup journal -----------------------------------------------

    def journal_cleanup(self, article_id: str, keep_hash: str | None) -> None:
        """Record that the vector store must drop this article's chunks of any other hash."""
        self._db.execute(
            "INSERT INTO vector_cleanup (article_id, keep_hash) VALUES (?, ?) "
            "ON CONFLICT (article_id) DO UPDATE SET keep_hash = excluded.keep_hash",
            (article_id, keep_hash),
        )

    def pending_cleanup(self) -> list[tuple[str, str | None]]:
        return [(r[0], r[1]) for r in self._db.execute("SELECT * FROM vector_cleanup")]

    def clear_cleanup(self, article_ids: Iterable[str]) -> None:
        self._db.executemany(
            "DELETE FROM vector_cleanup WHERE article_id = ?", [(a,) for a in article_ids]
        )
