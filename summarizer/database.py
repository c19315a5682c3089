"""The shared PostgreSQL database of a fleet (SUMMARIZER_DATABASE_URL): one connection pool per
process, each part's schema made and migrated by the tool, and locks that hold across machines.

The catalog (corpus.postgres), the feed ledger (feeds.postgres) and the reply cache
(llm.pg_cache) each keep their tables here; this module knows none of them. A lost connection
(the server restarted, a network blip) is retried for up to `wait` seconds, so workers go on
when the server comes back; anything else is a one-line DatabaseError.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, TypeVar

from summarizer.errors import ConfigError, DatabaseError

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

T = TypeVar("T")

# Seconds a call waits for the server to come back before it fails.
RECONNECT_WAIT = 60.0
POOL_SIZE = 12
# Seconds to reach the server the first time, before it is said to be unreachable.
FIRST_CONNECT_TIMEOUT = 10
_SCHEMA_LOCK = 0x5355_4D4D  # "SUMM": one migration at a time, whoever runs it
_pools: dict[str, Postgres] = {}
_pools_lock = threading.Lock()


def is_database_url(url: str) -> bool:
    return urllib.parse.urlsplit(url).scheme in ("postgresql", "postgres")


def shown(url: str) -> str:
    """The URL as messages show it: without its password."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def connect(url: str) -> Postgres:
    """The process's pool for `url` (made on first use, shared by the catalog, ledger and cache)."""
    if not is_database_url(url):
        raise ConfigError(
            f"SUMMARIZER_DATABASE_URL={shown(url)!r} is not a postgresql:// URL",
            hint="for example postgresql://summarizer@db.example/summarizer",
        )
    with _pools_lock:
        db = _pools.get(url)
        if db is None or db.closed:
            db = _pools[url] = Postgres(url)
        return db


class Postgres:
    """A pool of autocommit connections; `run` gives a function one transaction, retried whole
    when the connection was lost before it committed."""

    def __init__(self, url: str, *, wait: float = RECONNECT_WAIT) -> None:
        self.url = url
        self.wait = wait
        self.closed = False
        self._pool: ConnectionPool | None = None
        self._lock = threading.Lock()

    @property
    def pool(self) -> ConnectionPool:
        with self._lock:
            if self._pool is None:
                try:
                    import psycopg
                    from psycopg_pool import ConnectionPool
                except ImportError:  # pragma: no cover - a dependency of the package
                    raise ConfigError(
                        "psycopg and psycopg-pool are needed for SUMMARIZER_DATABASE_URL",
                        hint="pip install 'psycopg[binary]' psycopg-pool",
                    ) from None
                # Tried once first: a server never reached is said at once, with its reason
                # (only one that goes away later is waited for).
                try:
                    psycopg.connect(self.url, connect_timeout=FIRST_CONNECT_TIMEOUT).close()
                except psycopg.Error as e:
                    raise self.error(e) from None
                self._pool = ConnectionPool(
                    self.url,
                    min_size=1,
                    max_size=POOL_SIZE,
                    kwargs={"autocommit": True},
                    check=ConnectionPool.check_connection,
                    open=False,
                    name="summarizer",
                )
                self._pool.open(wait=False)
            return self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
            self.closed = True

    def run(self, work: Callable[[psycopg.Connection[Any]], T], *, retry: bool = True) -> T:
        """`work(conn)` inside one transaction; retried on a lost connection (when `retry`)."""
        import psycopg

        deadline = time.monotonic() + self.wait
        while True:
            try:
                with (
                    self.pool.connection(timeout=max(1.0, self.wait)) as conn,
                    conn.transaction(),
                ):
                    return work(conn)
            except (psycopg.OperationalError, _pool_timeout()) as e:
                if not retry or time.monotonic() > deadline or not _connection_lost(e):
                    raise self.error(e) from None
                time.sleep(0.5)
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure) as e:
                # Two writers crossed: the one the server chose to stop tries again.
                if not retry or time.monotonic() > deadline:
                    raise self.error(e) from None
                time.sleep(0.05)
            except psycopg.Error as e:
                raise self.error(e) from None

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        """One statement in its own transaction; its rows (as tuples), or [] when it has none."""

        def go(conn: psycopg.Connection[Any]) -> list[Any]:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

        return self.run(go)

    @contextmanager
    def held(self) -> Iterator[psycopg.Connection[Any]]:
        """One connection for a block (a transaction the caller opens, a session lock);
        errors become DatabaseError, and are not retried."""
        import psycopg

        try:
            with self.pool.connection(timeout=max(1.0, self.wait)) as conn:
                yield conn
        except psycopg.Error as e:
            raise self.error(e) from None
        except _pool_timeout() as e:
            raise self.error(e) from None

    def migrate(self, part: str, steps: Sequence[str]) -> int:
        """Bring `part`'s tables to the last of `steps` (each one SQL script, applied once, in
        order, under a lock that holds across machines); returns the version it was at."""
        current = self.version(part)
        if current == len(steps):  # read first: migrating takes the lock and writes
            return current

        def go(conn: psycopg.Connection[Any]) -> int:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_versions"
                " (part TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
            row = conn.execute(
                "SELECT version FROM schema_versions WHERE part = %s", (part,)
            ).fetchone()
            was = int(row[0]) if row else 0
            if was > len(steps):
                raise DatabaseError(
                    f"the {part} tables of {shown(self.url)}",
                    f"made by a newer summarizer (schema {was}, this one knows {len(steps)})",
                )
            for script in steps[was:]:
                conn.execute(script)
            conn.execute(
                "INSERT INTO schema_versions (part, version) VALUES (%s, %s)"
                " ON CONFLICT (part) DO UPDATE SET version = excluded.version",
                (part, len(steps)),
            )
            return was

        return self.run(go)

    def version(self, part: str) -> int:
        """The schema version of `part`'s tables (0: not made yet)."""

        def go(conn: psycopg.Connection[Any]) -> int:
            if conn.execute("SELECT to_regclass('schema_versions')").fetchone() == (None,):
                return 0
            row = conn.execute(
                "SELECT version FROM schema_versions WHERE part = %s", (part,)
            ).fetchone()
            return int(row[0]) if row else 0

        return self.run(go)

    def error(self, e: BaseException) -> DatabaseError:
        cause = " ".join(str(e).split()) or type(e).__name__
        err = DatabaseError(shown(self.url), cause)
        err.hint = "is the PostgreSQL server running and reachable (SUMMARIZER_DATABASE_URL)?"
        return err


@contextmanager
def advisory_lock(db: Postgres, key: int) -> Iterator[None]:
    """A lock held by this process across machines until the block ends (a session lock on one
    connection of the pool: released when it ends, or when the process dies). Waiting for it is
    the normal course of a fleet's writers: not said."""
    with db.held() as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            # A connection gone takes the lock with it.
            with suppress(Exception):
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def _pool_timeout() -> type[Exception]:
    from psycopg_pool import PoolTimeout

    return PoolTimeout


def _connection_lost(e: BaseException) -> bool:
    """Whether `e` says the server could not be reached or went away (not a bad statement)."""
    import psycopg

    if isinstance(e, _pool_timeout()):
        return True
    if isinstance(e, psycopg.errors.AdminShutdown | psycopg.errors.CannotConnectNow):
        return True
    sqlstate = getattr(e, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith("08") or sqlstate.startswith("57P")
