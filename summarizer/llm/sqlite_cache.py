"""The reply cache in one SQLite file of the data dir (the embedded default)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from summarizer.errors import LLMCacheError
from summarizer.llm.cache import CachedReply

CACHE_FILE = "llm-cache.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    digest TEXT NOT NULL,
    prompt_id TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    content TEXT NOT NULL,
    record TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS models (
    model TEXT PRIMARY KEY,
    digest TEXT,
    context_length INTEGER,
    seen_at REAL NOT NULL
)
"""


class SqliteReplyCache:
    """Content-addressed replies shared by threads (one lock) and by runs (one SQLite file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        # Opened on first use: commands that ask no model never create the file.
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    self.path, timeout=30, check_same_thread=False, isolation_level=None
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
            except (OSError, sqlite3.Error) as e:
                raise self._error(e) from None
            self._conn = conn
        return self._conn

    def _error(self, e: Exception) -> LLMCacheError:
        return LLMCacheError(
            f"the reply cache {self.path} cannot be used: {e}",
            hint="run with --no-cache, or delete the file",
        )

    def get(self, key: str) -> CachedReply | None:
        """The stored reply for `key`, or None."""
        with self._lock:
            try:
                row = (
                    self._connection()
                    .execute("SELECT content, record FROM replies WHERE key = ?", (key,))
                    .fetchone()
                )
            except sqlite3.Error as e:
                raise self._error(e) from None
        if row is None:
            return None
        return CachedReply(content=row[0], record=json.loads(row[1]))

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
        row = (
            key,
            model,
            digest,
            prompt_id,
            prompt_version,
            content,
            json.dumps(dict(record)),
            time.time(),
        )
        with self._lock:
            try:
                self._connection().execute(
                    "INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row
                )
            except sqlite3.Error as e:
                raise self._error(e) from None

    def remember_model(
        self, model: str, *, digest: str | None = None, context_length: int | None = None
    ) -> None:
        """Keep what the server said of `model`, for runs made while it is unreachable."""
        with self._lock:
            try:
                self._connection().execute(
                    "INSERT INTO models VALUES (?, ?, ?, ?) ON CONFLICT(model) DO UPDATE SET "
                    "digest = coalesce(excluded.digest, digest), "
                    "context_length = coalesce(excluded.context_length, context_length), "
                    "seen_at = excluded.seen_at",
                    (model, digest, context_length, time.time()),
                )
            except sqlite3.Error as e:
                raise self._error(e) from None

    def known_model(self, model: str) -> tuple[str | None, int | None, float] | None:
        """(digest, context length, when seen) as last remembered for `model`, or None."""
        with self._lock:
            try:
                row = (
                    self._connection()
                    .execute(
                        "SELECT digest, context_length, seen_at FROM models WHERE model = ?",
                        (model,),
                    )
                    .fetchone()
                )
            except sqlite3.Error as e:
                raise self._error(e) from None
        return None if row is None else (row[0], row[1], float(row[2]))

    def __len__(self) -> int:
        with self._lock:
            try:
                (count,) = self._connection().execute("SELECT count(*) FROM replies").fetchone()
            except sqlite3.Error as e:
                raise self._error(e) from None
        return int(count)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
