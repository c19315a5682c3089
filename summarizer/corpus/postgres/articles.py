"""The PostgreSQL catalog: articles and their chunk spans, read and written; with the lexical
index (lexical), the versions and kept outputs (kept) on the same connection (connection)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from summarizer.corpus.catalog import Listed, id_prefix
from summarizer.corpus.postgres.connection import Connection, Row, wrote
from summarizer.corpus.postgres.kept import Kept, keep_version
from summarizer.corpus.postgres.lexical import Lexical, index_chunks, unindex
from summarizer.errors import NotFoundError
from summarizer.models import Article, Chunk

if TYPE_CHECKING:
    from summarizer.corpus.postgres.connection import Conn

_ARTICLE_COLUMNS = (
    "id, source, url, title, author, date, site, method, warnings, text, content_hash, "
    "ingested_at, updated_at, allow_private"
)


def _article(row: Row) -> Article:
    return Article(
        id=row[0],
        source=row[1],
        url=row[2],
        title=row[3],
        author=row[4],
        date=row[5],
        site=row[6],
        method=row[7],
        warnings=tuple(json.loads(row[8])),
        text=row[9],
        content_hash=row[10],
        ingested_at=row[11],
        updated_at=row[12],
        allow_private=bool(row[13]),
    )


def _filters(
    sources: Sequence[str], since: str | None, until: str | None, ids: Sequence[str]
) -> tuple[str, list[Any]]:
    """The WHERE clause (and its parameters) of the article filters of select_ids()."""
    sql = "TRUE"
    params: list[Any] = []
    if sources:
        # strpos, not LIKE: a source given with % or _ means those characters.
        any_of = " OR ".join(
            "(strpos(lower(source), %s) > 0 OR strpos(lower(coalesce(url, '')), %s) > 0"
            " OR strpos(lower(coalesce(site, '')), %s) > 0)"
            for _ in sources
        )
        sql += f" AND ({any_of})"
        for src in sources:
            params += [src.lower()] * 3
    if since:
        sql += " AND date IS NOT NULL AND date >= %s"
        params.append(since)
    if until:
        sql += " AND date IS NOT NULL AND date <= %s"
        params.append(until)
    if ids:
        sql += " AND id = ANY(%s)"
        params.append(list(ids))
    return sql, params


class PgCatalog(Lexical, Kept, Connection):
    """The catalog in a shared PostgreSQL database (SUMMARIZER_DATABASE_URL)."""

    # --- reading --------------------------------------------------------------------------

    def count(self) -> int:
        row = self._one("SELECT count(*) FROM articles")
        return int(row[0]) if row else 0

    def chunk_count(self) -> int:
        row = self._one("SELECT count(*) FROM chunks")
        return int(row[0]) if row else 0

    def get(self, article_id: str) -> Article | None:
        row = self._one(f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id = %s", (article_id,))
        return None if row is None else _article(row)

    def resolve(self, id_or_prefix: str) -> Article:
        """The article with this id, or the only one whose id starts with it."""
        id_or_prefix = id_prefix(id_or_prefix)
        found = self.get(id_or_prefix)
        if found is not None:
            return found
        prefix = id_or_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._all(
            "SELECT id FROM articles WHERE id LIKE %s ESCAPE '\\' LIMIT 3", (prefix + "%",)
        )
        if len(rows) == 1:
            found = self.get(rows[0][0])
            if found is not None:
                return found
        if len(rows) > 1:
            raise NotFoundError(f"article id {id_or_prefix!r} is ambiguous: give more characters")
        raise NotFoundError(f"no article {id_or_prefix!r}", hint="`summarizer list` shows the ids")

    def articles(self) -> list[Article]:
        """Every article, in the order they were stored."""
        rows = self._all(f"SELECT {_ARTICLE_COLUMNS} FROM articles ORDER BY ingested_at, id")
        return [_article(r) for r in rows]

    def state(self, article_id: str) -> tuple[str, str | None] | None:
        """(content_hash, fingerprint) of a stored article, without loading its text."""
        row = self._one(
            "SELECT content_hash, fingerprint FROM articles WHERE id = %s", (article_id,)
        )
        return None if row is None else (row[0], row[1])

    def id_for_url(self, url: str, url_id: str) -> str | None:
        """The article stored with this id or from (or declaring) this URL, if any."""
        row = self._one(
            "SELECT id FROM articles WHERE id = %s OR url = %s OR source = %s LIMIT 1",
            (url_id, url, url),
        )
        return None if row is None else str(row[0])

    def many(self, article_ids: Iterable[str]) -> dict[str, Article]:
        """The stored articles among `article_ids`, by id."""
        ids = list(set(article_ids))
        if not ids:
            return {}
        rows = self._all(f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id = ANY(%s)", (ids,))
        return {r[0]: _article(r) for r in rows}

    def chunks(self, article: Article) -> list[Chunk]:
        rows = self._all(
            'SELECT id, idx, start, "end" FROM chunks WHERE article_id = %s ORDER BY idx',
            (article.id,),
        )
        return [
            Chunk(
                id=r[0],
                article_id=article.id,
                index=r[1],
                start=r[2],
                end=r[3],
                text=article.text[r[2] : r[3]],
            )
            for r in rows
        ]

    def dates(self, ids: Iterable[str]) -> dict[str, str]:
        """The date of each of these articles that has one."""
        rows = self._all(
            "SELECT id, date FROM articles WHERE date IS NOT NULL AND id = ANY(%s)", (list(ids),)
        )
        return {r[0]: r[1] for r in rows}

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
        return [r[0] for r in self._all(f"SELECT id FROM articles WHERE {where}", params)]

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

        def go(conn: Conn) -> tuple[list[Listed], int]:
            # One transaction: the page and the count agree.
            total = conn.execute(f"SELECT count(*) FROM articles WHERE {where}", params)
            counted = total.fetchone()
            rows = conn.execute(
                "SELECT id, title, site, date, source, length(text), ingested_at FROM articles"
                f" WHERE {where} ORDER BY coalesce(date, substr(ingested_at, 1, 10)) DESC, id"
                " LIMIT %s OFFSET %s",
                [*params, limit, offset],
            ).fetchall()
            return [Listed(*r) for r in rows], int(counted[0]) if counted else 0

        return self._run(go)

    def sites(self) -> list[str]:
        rows = self._all("SELECT DISTINCT site FROM articles WHERE site IS NOT NULL ORDER BY site")
        return [r[0] for r in rows]

    def chunk_spans(self, chunk_ids: Sequence[str]) -> dict[str, tuple[str, int, int, int]]:
        """chunk id -> (article id, index, start, end)."""
        rows = self._all(
            'SELECT id, article_id, idx, start, "end" FROM chunks WHERE id = ANY(%s)',
            (list(chunk_ids),),
        )
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}

    def chunk_texts(self, chunk_ids: Sequence[str]) -> dict[str, str]:
        """chunk id -> the chunk's text, for the chunks that are stored."""
        rows = self._all(
            'SELECT c.id, substr(a.text, c.start + 1, c."end" - c.start) FROM chunks c'
            " JOIN articles a ON a.id = c.article_id WHERE c.id = ANY(%s)",
            (list(chunk_ids),),
        )
        return {r[0]: r[1] for r in rows}

    # --- writing --------------------------------------------------------------------------

    def put(self, article: Article, chunks: list[Chunk], fingerprint: str | None) -> None:
        """Insert or replace an article, its chunk spans and their lexical index; a changed
        text is kept as a new version, the one it replaces as an older one."""

        def go(conn: Conn) -> None:
            wrote(conn)
            existed = conn.execute("SELECT 1 FROM articles WHERE id = %s", (article.id,)).fetchone()
            if existed:
                keep_version(conn, article, fingerprint)
            unindex(conn, article.id)
            conn.execute(
                f"INSERT INTO articles ({_ARTICLE_COLUMNS}, fingerprint) VALUES"
                " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET source = excluded.source, url = excluded.url,"
                " title = excluded.title, author = excluded.author, date = excluded.date,"
                " site = excluded.site, method = excluded.method,"
                " warnings = excluded.warnings, text = excluded.text,"
                " content_hash = excluded.content_hash, fingerprint = excluded.fingerprint,"
                " updated_at = excluded.updated_at, allow_private = excluded.allow_private",
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
                    article.allow_private,
                    fingerprint,
                ),
            )
            index_chunks(conn, article, chunks)
            if not existed:
                keep_version(conn, article, fingerprint)  # its first version

        self._run(go)

    def delete(self, article_id: str) -> None:
        def go(conn: Conn) -> None:
            wrote(conn)
            unindex(conn, article_id)
            conn.execute("DELETE FROM articles WHERE id = %s", (article_id,))

        self._run(go)
