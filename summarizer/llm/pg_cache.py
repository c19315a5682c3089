"""The reply cache in the shared PostgreSQL database of a fleet (SUMMARIZER_DATABASE_URL): a
reply one worker got is served to every other. Same semantics as the SQLite cache; its tables
are made on first use, so commands that ask no model leave the database as it was."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from summarizer.errors import DatabaseError, LLMCacheError
from summarizer.llm.cache import CachedReply

if TYPE_CHECKING:
    from summarizer.database import Postgres

PART = "reply_cache"
# The record stays JSON text, as in the SQLite cache: what json.dumps writes (NaN included) is
# read back as it was, which JSONB would refuse or reorder.
STEPS: tuple[str, ...] = (
    """
CREATE TABLE reply_cache_replies (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    digest TEXT NOT NULL,
    prompt_id TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    content TEXT NOT NULL,
    record TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE reply_cache_models (
    model TEXT PRIMARY KEY,
    digest TEXT,
    context_length INTEGER,
    seen_at DOUBLE PRECISION NOT NULL
);
""",
)


class PgReplyCache:
    """Content-addressed replies shared by threads (the pool) and by the workers of a fleet
    (one database)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._db: Postgres | None = None
        self._lock = threading.Lock()

    def _database(self) -> Postgres:
        # Connected and migrated on first use, like the SQLite file made on first use.
        with self._lock:
            if self._db is None:
                from summarizer.database import connect

                db = connect(self.url)
                try:
                    db.migrate(PART, STEPS)
                except DatabaseError as e:
                    raise self._error(e) from None
                self._db = db
            return self._db

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        db = self._database()
        try:
            return db.execute(sql, params)
        except DatabaseError as e:
            raise self._error(e) from None

    def _error(self, e: DatabaseError) -> LLMCacheError:
        return LLMCacheError(
            f"the reply cache cannot be used: {e.message}",
            hint="run with --no-cache, or check the PostgreSQL server (SUMMARIZER_DATABASE_URL)",
        )

    def get(self, key: str) -> CachedReply | None:
        """The stored reply for `key`, or None."""
        rows = self._execute(
            "SELECT content, record FROM reply_cache_replies WHERE key = %s", (key,)
        )
        if not rows:
            return None
        return CachedReply(content=rows[0][0], record=json.loads(rows[0][1]))

    def put(
        self,
        key: str,
        *,
        model: str,
        digest: str,
        prompt_id: str,
        prompt_version: str,
        content: str,
        record: Mapping[str, Any],
    ) -> None:
        """Store a validated reply under `key` (replacing any older one)."""
        self._execute(
            "INSERT INTO reply_cache_replies VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (key) DO UPDATE SET model = excluded.model, digest = excluded.digest,"
            " prompt_id = excluded.prompt_id, prompt_version = excluded.prompt_version,"
            " content = excluded.content, record = excluded.record,"
            " created_at = excluded.created_at",
            (
                key,
                model,
                digest,
                prompt_id,
                prompt_version,
                content,
                json.dumps(dict(record)),
                time.time(),
            ),
        )

    def remember_model(
        self, model: str, *, digest: str | None = None, context_length: int | None = None
    ) -> None:
        """Keep what the server said of `model`, for runs made while it is unreachable."""
        self._execute(
            "INSERT INTO reply_cache_models AS m VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (model) DO UPDATE SET"
            " digest = coalesce(excluded.digest, m.digest),"
            " context_length = coalesce(excluded.context_length, m.context_length),"
            " seen_at = excluded.seen_at",
            (model, digest, context_length, time.time()),
        )

    def known_model(self, model: str) -> tuple[str | None, int | None, float] | None:
        """(digest, context length, when seen) as last remembered for `model`, or None."""
        rows = self._execute(
            "SELECT digest, context_length, seen_at FROM reply_cache_models WHERE model = %s",
            (model,),
        )
        if not rows:
            return None
        digest, context_length, seen_at = rows[0]
        return digest, context_length, float(seen_at)

    def __len__(self) -> int:
        rows = self._execute("SELECT count(*) FROM reply_cache_replies")
        return int(rows[0][0])

    def close(self) -> None:
        """Nothing to release: the pool is the process's, shared with the catalog and ledger."""
