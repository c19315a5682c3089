"""The lexical index: SQLite's FTS5 over the chunk texts, each with its article's title, written
in the same transaction as the catalog, so that it is always in step and never rebuilt."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from summarizer.corpus.catalog import TITLE_WEIGHT
from summarizer.corpus.sqlite.connection import Connection
from summarizer.models import Article, Chunk


class Lexical(Connection):
    """BM25 over the chunks (the `chunk_text` table)."""

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

    def _index_chunks(self, article: Article, chunks: list[Chunk]) -> None:
        self._unindex(article.id)
        self._db.executemany(
            "INSERT INTO chunk_text (text, title, chunk_id, article_id) VALUES (?, ?, ?, ?)",
            [(c.text, article.title, c.id, article.id) for c in chunks],
        )

    def _unindex(self, article_id: str) -> None:
        self._db.execute("DELETE FROM chunk_text WHERE article_id = ?", (article_id,))
