"""The article catalog: exact texts, metadata and chunk spans in SQLite in the data dir.

The catalog is the source of truth for what is visible: a chunk in the vector store counts only
while the catalog holds its article with the same content hash. Pending vector-store deletions
are journalled in `vector_cleanup` so that a killed process leaves nothing stale behind.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from summarizer.errors import NotFoundError, StoreError
from summarizer.kept import Kept, Version, now
from summarizer.models import Article, Chunk

__all__ = ["Catalog", "Listed", "Version", "now"]

SCHEMA_VERSION = "5"

_OUTPUTS = """CREATE TABLE IF NOT EXISTS outputs (
    article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    task TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    made_at TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (article_id, task, content_hash)
)"""
_SCHEMA = (
    _OUTPUTS
    + """;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    url TEXT,
    title TEXT NOT NULL,
    author TEXT,
    date TEXT,
    site TEXT,
    method TEXT NOT NULL,
    warnings TEXT NOT NULL DEFAULT '[]',
    text TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    fingerprint TEXT,
    ingested_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_source ON articles (source);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY,
    article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks (article_id, idx);
CREATE TABLE IF NOT EXISTS vector_cleanup (article_id TEXT PRIMARY KEY, keep_hash TEXT);
CREATE TABLE IF NOT EXISTS versions (
    article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT,
    fetched_at TEXT NOT NULL,
    fingerprint TEXT,
    PRIMARY KEY (article_id, n)
);
CREATE VIRTUAL TABLE IF NOT EXISTS chunk_text USING fts5 (
    text, title, chunk_id UNINDEXED, article_id UNINDEXED,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
"""
)
_LEXICAL_INDEX = _SCHEMA[_SCHEMA.index("CREATE VIRTUAL TABLE") :].strip().rstrip(";")
# Lexical (BM25) search is SQLite's FTS5 over the chunk texts, each with its article's title,
# updated in the same transaction as the catalog: always in step with the corpus, never rebuilt.
# A title's words count for less than the text's (TITLE_WEIGHT in bm25()): they say which
# article, not which passage.
TITLE_WEIGHT = 0.5
# Every distinct text an article had is a numbered version; the latest one's text is the
# article's own (its `text` is NULL here), an older one's is kept in its row. `fingerprint` is
# what tells whether the source changed without reading it: a file's size and mtime, a page's
# HTTP validators (ETag, Last-Modified) as JSON.

_ARTICLE_COLUMNS = (
    "id, source, url, title, author, date, site, method, warnings, text, content_hash, "
    "ingested_at, updated_at"
)


def _article(row: sqlite3.Row) -> Article:
    return Article(
        id=row["id"],
        source=row["source"],
        url=row["url"],
        title=row["title"],
        author=row["author"],
        date=row["date"],
        site=row["site"],
        method=row["method"],
        warnings=tuple(json.loads(row["warnings"])),
        text=row["text"],
        content_hash=row["content_hash"],
        ingested_at=row["ingested_at"],
        updated_at=row["updated_at"],
    )


@dataclass(frozen=True)
class Listed:
    """An article as a list shows it, without its text."""

    id: str
    title: str
    site: str | None
    date: str | None
    source: str
    chars: int
    ingested_at: str


def _filters(
    sources: Sequence[str], since: str | None, until: str | None, ids: Sequence[str]
) -> tuple[str, list[Any]]:
    """The WHERE clause (and its parameters) of the article filters of select_ids()."""
    sql = "1"
    params: list[Any] = []
    if sources:
        any_of = " OR ".join(
            "(instr(lower(source), ?) OR instr(lower(coalesce(url, '')), ?) "
            "OR instr(lower(coalesce(site, '')), ?))"
            for _ in sources
        )
        sql += f" AND ({any_of})"
        for src in sources:
            params += [src.lower()] * 3
    if since:
        sql += " AND date IS NOT NULL AND date >= ?"
        params.append(since)
    if until:
        sql += " AND date IS NOT NULL AND date <= ?"
        params.append(until)
    if ids:
        sql += f" AND id IN ({','.join('?' * len(ids))})"
        params += list(ids)
    return sql, params


class Catalog(Kept):
    """SQLite catalog of articles; safe to read while another process writes (WAL)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=60, isolation_level=None)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open the catalog {path}: {e}") from None
        try:
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA synchronous=NORMAL")  # per connection; safe with WAL
            # Readers only read the version: the schema is written (under the write lock of
            # SQLite) when it is missing or old, so `list` never waits behind an ingest.
            if self._version() != SCHEMA_VERSION:
                self._create()
        except sqlite3.Error as e:
            self._db.close()
            raise StoreError(f"cannot open the catalog {path}: {e}") from None
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
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            version = self.meta("schema_version")
            if version in ("2", "3", "4"):  # a lexical index without titles: made anew
                self._db.execute("DROP TABLE chunk_text")
                self._db.execute(_LEXICAL_INDEX)
            if version in ("1", "2", "3", "4"):  # (1: before the lexical index) built once
                for article in self.articles():
                    self._index_chunks(article, self.chunks(article))
            if version == "3":  # outputs were kept for the latest text only
                self._db.execute("ALTER TABLE outputs RENAME TO outputs_3")
                self._db.execute(_OUTPUTS)
                self._db.execute("INSERT INTO outputs SELECT * FROM outputs_3")
                self._db.execute("DROP TABLE outputs_3")
            if version in ("1", "2", "3", "4"):  # (2: before outputs were kept: created above)
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

    # --- metadata -------------------------------------------------------------------------

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

    # --- reading --------------------------------------------------------------------------

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM articles").fetchone()[0])

    def chunk_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM chunks").fetchone()[0])

    def get(self, article_id: str) -> Article | None:
        row = self._db.execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        return None if row is None else _article(row)

    def resolve(self, id_or_prefix: str) -> Article:
        """The article with this id, or the only one whose id starts with it."""
        found = self.get(id_or_prefix)
        if found is not None:
            return found
        prefix = id_or_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._db.execute(
            "SELECT id FROM articles WHERE id LIKE ? ESCAPE '\\' LIMIT 3", (prefix + "%",)
        ).fetchall()
        if len(rows) == 1:
            found = self.get(rows[0][0])
            if found is not None:
                return found
        if len(rows) > 1:
            raise NotFoundError(f"article id {id_or_prefix!r} is ambiguous: give more characters")
        raise NotFoundError(f"no article {id_or_prefix!r}", hint="`summarizer list` shows the ids")

    def articles(self) -> list[Article]:
        rows = self._db.execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles ORDER BY ingested_at, id"
        ).fetchall()
        return [_article(r) for r in rows]

    def state(self, article_id: str) -> tuple[str, str | None] | None:
        """(content_hash, fingerprint) of a stored article, without loading its text."""
        row = self._db.execute(
            "SELECT content_hash, fingerprint FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def id_for_url(self, url: str, url_id: str) -> str | None:
        """The article stored with this id or from (or declaring) this URL, if any."""
        row = self._db.execute(
            "SELECT id FROM articles WHERE id = ? OR url = ? OR source = ? LIMIT 1",
            (url_id, url, url),
        ).fetchone()
        return None if row is None else str(row[0])

    def many(self, article_ids: Iterable[str]) -> dict[str, Article]:
        """The stored articles among `article_ids`, by id."""
        ids = list(set(article_ids))
        out: dict[str, Article] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ",".join("?" * len(part))
            for row in self._db.execute(
                f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id IN ({marks})", part
            ):
                out[row["id"]] = _article(row)
        return out

    def chunks(self, article: Article) -> list[Chunk]:
        rows = self._db.execute(
            'SELECT id, idx, start, "end" FROM chunks WHERE article_id = ? ORDER BY idx',
            (article.id,),
        ).fetchall()
        return [
            Chunk(
                id=r["id"],
                article_id=article.id,
                index=r["idx"],
                start=r["start"],
                end=r["end"],
                text=article.text[r["start"] : r["end"]],
            )
            for r in rows
        ]

    def lexical(
        self,
        terms: Sequence[str],
        n: int,
        article_ids: Sequence[str] | None = None,
        *,
        title_weight: float = TITLE_WEIGHT,
    ) -> list[tuple[str, str, float]]:
        """(chunk id, article id, BM25 score; higher is better) of the `n` best chunks for any
        of `terms`, optionally only among `article_ids`."""
        if not terms or (article_ids is not None and not article_ids):
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        sql = (
            "SELECT chunk_id, article_id, bm25(chunk_text, 1.0, ?) AS score FROM chunk_text"
            " WHERE chunk_text MATCH ?"
        )
        params: list[Any] = [float(title_weight), match]
        if article_ids is not None:
            sql += f" AND article_id IN ({','.join('?' * len(article_ids))})"
            params += list(article_ids)
        rows = self._db.execute(f"{sql} ORDER BY score LIMIT ?", [*params, n]).fetchall()
        return [(r[0], r[1], -float(r[2])) for r in rows]

    def dates(self, ids: Iterable[str]) -> dict[str, str]:
        """The date of each of these articles that has one."""
        sql = "SELECT id, date FROM articles WHERE date IS NOT NULL AND id IN"
        return {r[0]: r[1] for r in self._rows_of(sql, list(ids))}

    def select_ids(
        self,
        *,
        sources: Sequence[str] = (),
        since: str | None = None,
        until: str | None = None,
        ids: Sequence[str] = (),
    ) -> list[str]:
        """Ids of the articles that pass the filters: source (a substring of the source, URL
        or site), date range (ISO dates; undated articles never pass a date filter), ids."""
        where, params = _filters(sources, since, until, ids)
        return [r[0] for r in self._db.execute(f"SELECT id FROM articles WHERE {where}", params)]

    def listing(
        self,
        *,
        sources: Sequence[str] = (),
        since: str | None = None,
        until: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[Listed], int]:
        """A page of the articles that pass the filters, newest first (by their date, else
        when they were stored), without their texts; and how many pass in all."""
        where, params = _filters(sources, since, until, ())
        total = self._db.execute(f"SELECT count(*) FROM articles WHERE {where}", params).fetchone()
        rows = self._db.execute(
            "SELECT id, title, site, date, source, length(text), ingested_at FROM articles"
            f" WHERE {where} ORDER BY coalesce(date, substr(ingested_at, 1, 10)) DESC, id"
            " LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ).fetchall()
        return [Listed(*r) for r in rows], int(total[0])

    def sites(self) -> list[str]:
        rows = self._db.execute(
            "SELECT DISTINCT site FROM articles WHERE site IS NOT NULL ORDER BY site"
        )
        return [r[0] for r in rows]

    def chunk_spans(self, chunk_ids: Sequence[str]) -> dict[str, tuple[str, int, int, int]]:
        """chunk id -> (article id, index, start, end)."""
        sql = 'SELECT id, article_id, idx, start, "end" FROM chunks WHERE id IN'
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in self._rows_of(sql, chunk_ids)}

    def chunk_texts(self, chunk_ids: Sequence[str]) -> dict[str, str]:
        """chunk id -> the chunk's text, for the chunks that are stored."""
        sql = (
            'SELECT c.id, substr(a.text, c.start + 1, c."end" - c.start) FROM chunks c'
            " JOIN articles a ON a.id = c.article_id WHERE c.id IN"
        )
        return {r[0]: r[1] for r in self._rows_of(sql, chunk_ids)}

    def _rows_of(self, sql: str, ids: Sequence[str]) -> Iterator[sqlite3.Row]:
        """The rows of `sql` (ending in "IN") for `ids`, in batches SQLite takes."""
        ids = list(ids)
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            yield from self._db.execute(f"{sql} ({','.join('?' * len(part))})", part)

    def put(self, article: Article, chunks: list[Chunk], fingerprint: str | None) -> None:
        """Insert or replace an article and its chunk spans; a changed text is kept as a new
        version, the one it replaces as an older one."""
        existed = self.state(article.id) is not None
        if existed:
            self._keep_version(article, fingerprint)
        self._db.execute("DELETE FROM chunks WHERE article_id = ?", (article.id,))
        self._db.execute(
            f"INSERT INTO articles ({_ARTICLE_COLUMNS}, fingerprint) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET source = excluded.source, url = excluded.url, "
            "title = excluded.title, author = excluded.author, date = excluded.date, "
            "site = excluded.site, method = excluded.method, warnings = excluded.warnings, "
            "text = excluded.text, content_hash = excluded.content_hash, "
            "fingerprint = excluded.fingerprint, updated_at = excluded.updated_at",
            (
                article.id,
                article.source,
                article.url,
                article.title,
                article.author,
                article.date,
                article.site,
                article.method,
                json.dumps(list(article.warnings)),
                article.text,
                article.content_hash,
                article.ingested_at,
                article.updated_at,
                fingerprint,
            ),
        )
        self._db.executemany(
            'INSERT INTO chunks (id, article_id, idx, start, "end") VALUES (?, ?, ?, ?, ?)',
            [(c.id, c.article_id, c.index, c.start, c.end) for c in chunks],
        )
        self._index_chunks(article, chunks)
        if not existed:
            self._keep_version(article, fingerprint)  # its first version

    def _index_chunks(self, article: Article, chunks: list[Chunk]) -> None:
        self._db.execute("DELETE FROM chunk_text WHERE article_id = ?", (article.id,))
        self._db.executemany(
            "INSERT INTO chunk_text (text, title, chunk_id, article_id) VALUES (?, ?, ?, ?)",
            [(c.text, article.title, c.id, article.id) for c in chunks],
        )

    def set_fingerprint(self, article_id: str, fingerprint: str | None) -> None:
        self._db.execute(
            "UPDATE articles SET fingerprint = ? WHERE id = ?", (fingerprint, article_id)
        )
        self._db.execute(
            "UPDATE versions SET fingerprint = ? WHERE article_id = ? AND n ="
            " (SELECT max(n) FROM versions WHERE article_id = ?)",
            (fingerprint, article_id, article_id),
        )

    def delete(self, article_id: str) -> None:
        self._db.execute("DELETE FROM chunk_text WHERE article_id = ?", (article_id,))
        self._db.execute("DELETE FROM articles WHERE id = ?", (article_id,))

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
