"""The SQLite catalog: articles and their chunk spans, read and written; with the lexical index
(lexical), the versions and kept outputs (kept) on the same connection (connection)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from summarizer.corpus.catalog import Listed, id_prefix
from summarizer.corpus.sqlite.kept import Kept
from summarizer.corpus.sqlite.lexical import Lexical
from summarizer.errors import NotFoundError
from summarizer.models import Article, Chunk

_ARTICLE_COLUMNS = (
    "id, source, url, title, author, date, site, method, warnings, text, content_hash, "
    "ingested_at, updated_at, allow_private"
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
        allow_private=bool(row["allow_private"]),
    )


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


class SqliteCatalog(Lexical, Kept):
    """The catalog in one SQLite file of the data dir."""

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
        id_or_prefix = id_prefix(id_or_prefix)
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

    def put(self, article: Article, chunks: list[Chunk], fingerprint: str | None) -> None:
        """Insert or replace an article and its chunk spans; a changed text is kept as a new
        version, the one it replaces as an older one."""
        existed = self.state(article.id) is not None
        if existed:
            self._keep_version(article, fingerprint)
        self._db.execute("DELETE FROM chunks WHERE article_id = ?", (article.id,))
        self._db.execute(
            f"INSERT INTO articles ({_ARTICLE_COLUMNS}, fingerprint) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET source = excluded.source, url = excluded.url, "
            "title = excluded.title, author = excluded.author, date = excluded.date, "
            "site = excluded.site, method = excluded.method, warnings = excluded.warnings, "
            "text = excluded.text, content_hash = excluded.content_hash, "
            "fingerprint = excluded.fingerprint, updated_at = excluded.updated_at, "
            "allow_private = excluded.allow_private",
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
                int(article.allow_private),
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
        self._unindex(article_id)
        self._db.execute("DELETE FROM articles WHERE id = ?", (article_id,))
