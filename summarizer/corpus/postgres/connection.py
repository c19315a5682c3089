"""The PostgreSQL catalog's way to the database: the process's shared pool (summarizer.database),
its schema made or migrated on open, atomic blocks held on one connection per thread, the
write counter (`generation`), the store's metadata and the vector store's cleanup journal."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from summarizer import database
from summarizer.corpus.postgres.schema import STEPS

if TYPE_CHECKING:
    import psycopg

    Conn = psycopg.Connection[Any]

T = TypeVar("T")
Row = tuple[Any, ...]


class Connection:
    """The catalog's tables in a shared PostgreSQL database; safe to share between threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._db = database.connect(url)
        # The block this thread holds open (`transaction`): its calls run on its connection.
        self._local = threading.local()
        self._db.migrate("catalog", STEPS)

    def close(self) -> None:
        """Nothing to release: the pool is the process's, shared with the ledger and cache."""

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic write: everything in the block lands, or nothing does. The block holds one
        connection; a block opened inside it (on the same thread) joins it. Like SQLite's
        BEGIN IMMEDIATE it waits for other writers first, so what it reads stays true."""
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        with self._db.held() as conn:
            self._local.conn = conn
            try:
                with conn.transaction():
                    wrote(conn)
                    yield
            finally:
                self._local.conn = None

    def _run(self, work: Callable[[Conn], T]) -> T:
        """`work(conn)` in this thread's open block, else in a transaction of its own (retried
        on a lost connection)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return work(conn)
        return self._db.run(work)

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._run(lambda conn: conn.execute(sql, params).fetchall())

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return self._run(lambda conn: conn.execute(sql, params).fetchone())

    def _write(self, sql: str, params: Sequence[Any] = ()) -> None:
        """One statement that changes the catalog, with the write counter moved."""

        def go(conn: Conn) -> None:
            wrote(conn)
            conn.execute(sql, params)

        self._run(go)

    # --- metadata -------------------------------------------------------------------------

    def generation(self) -> int:
        """The write counter: moved by every write, in the write's own transaction."""
        row = self._one("SELECT generation FROM counters")
        return int(row[0]) if row else 0

    def meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = %s", (key,))
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self._write("DELETE FROM meta WHERE key = %s", (key,))
        else:
            self._write(
                "INSERT INTO meta (key, value) VALUES (%s, %s)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # --- the vector store's cleanup journal -----------------------------------------------

    def journal_cleanup(self, article_id: str, keep_hash: str | None) -> None:
        """Record that the vector store must drop this article's chunks of any other hash."""
        self._write(
            "INSERT INTO vector_cleanup (article_id, keep_hash) VALUES (%s, %s)"
            " ON CONFLICT (article_id) DO UPDATE SET keep_hash = excluded.keep_hash",
            (article_id, keep_hash),
        )

    def pending_cleanup(self) -> list[tuple[str, str | None]]:
        return [(r[0], r[1]) for r in self._all("SELECT article_id, keep_hash FROM vector_cleanup")]

    def clear_cleanup(self, article_ids: Iterable[str]) -> None:
        ids = list(article_ids)
        if ids:
            self._write("DELETE FROM vector_cleanup WHERE article_id = ANY(%s)", (ids,))


def wrote(conn: Conn) -> None:
    """Move the write counter in the transaction of a write. Every write does this first: the
    counter's row lock then orders writers, so they never deadlock on the rows they share (the
    BM25 statistics)."""
    conn.execute("UPDATE counters SET generation = generation + 1")
