"""What the catalog keeps beside each article's current text: the earlier versions of its text
and the summaries and claims made on each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from summarizer.corpus.catalog import Version, now
from summarizer.corpus.sqlite.connection import Connection

if TYPE_CHECKING:
    from summarizer.models import Article


class Kept(Connection):
    """The versions and outputs tables of the catalog."""

    def save_output(self, article_id: str, task: str, content_hash: str, data: str) -> None:
        """Keep the latest output (JSON) of `task` ("summarize", "claims") for an article."""
        with self.transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO outputs (article_id, task, content_hash, made_at, data)"
                " VALUES (?, ?, ?, ?, ?)",
                (article_id, task, content_hash, now(), data),
            )

    def output(
        self, article_id: str, task: str, content_hash: str | None = None
    ) -> tuple[str, str, str] | None:
        """(content_hash, made_at, JSON) of the output of `task` for the article: of the
        version with `content_hash` when given, else of its latest text if there is one, else
        the newest."""
        rows = self._db.execute(
            "SELECT o.content_hash, o.made_at, o.data FROM outputs o JOIN articles a"
            " ON a.id = o.article_id WHERE o.article_id = ? AND o.task = ?"
            " AND (? IS NULL OR o.content_hash = ?)"
            " ORDER BY o.content_hash = a.content_hash DESC, o.made_at DESC, o.rowid DESC LIMIT 1",
            (article_id, task, content_hash, content_hash),
        ).fetchone()
        return None if rows is None else (rows[0], rows[1], rows[2])

    # --- versions ---------------------------------------------------------------------------

    def versions(self, article_id: str) -> list[Version]:
        """The texts the article had, oldest first."""
        rows = self._db.execute(
            "SELECT v.n, v.content_hash, v.title, v.fetched_at, v.fingerprint,"
            " length(coalesce(v.text, a.text)) FROM versions v JOIN articles a"
            " ON a.id = v.article_id WHERE v.article_id = ? ORDER BY v.n",
            (article_id,),
        ).fetchall()
        return [Version(*r) for r in rows]

    def version_text(self, article_id: str, n: int) -> str | None:
        """The text of version `n` of the article (None when it has no such version)."""
        row = self._db.execute(
            "SELECT coalesce(v.text, a.text) FROM versions v JOIN articles a"
            " ON a.id = v.article_id WHERE v.article_id = ? AND v.n = ?",
            (article_id, n),
        ).fetchone()
        return None if row is None else str(row[0])

    def text_of(self, article_id: str, content_hash: str) -> str | None:
        """The text of the article's version with this hash: where an old citation points."""
        row = self._db.execute(
            "SELECT coalesce(v.text, a.text) FROM versions v JOIN articles a"
            " ON a.id = v.article_id WHERE v.article_id = ? AND v.content_hash = ?"
            " ORDER BY v.n DESC LIMIT 1",
            (article_id, content_hash),
        ).fetchone()
        return None if row is None else str(row[0])

    def _keep_version(self, article: Article, fingerprint: str | None) -> None:
        """Record the text and title `article` brings: a new version when either is not the
        latest one's (the latest's text moves into its row first), else its fingerprint."""
        latest = self._db.execute(
            "SELECT n, content_hash, title FROM versions WHERE article_id = ?"
            " ORDER BY n DESC LIMIT 1",
            (article.id,),
        ).fetchone()
        if latest is not None and latest[1] == article.content_hash and latest[2] == article.title:
            self._db.execute(
                "UPDATE versions SET fingerprint = ? WHERE article_id = ? AND n = ?",
                (fingerprint, article.id, latest[0]),
            )
            return
        if latest is not None:
            self._db.execute(
                "UPDATE versions SET text = (SELECT text FROM articles WHERE id = ?)"
                " WHERE article_id = ? AND n = ?",
                (article.id, article.id, latest[0]),
            )
        self._db.execute(
            "INSERT INTO versions (article_id, n, content_hash, title, text, fetched_at,"
            " fingerprint) VALUES (?, ?, ?, ?, NULL, ?, ?)",
            (
                article.id,
                (latest[0] if latest else 0) + 1,
                article.content_hash,
                article.title,
                now(),
                fingerprint,
            ),
        )

    def current_outputs(self, article_ids: Sequence[str]) -> dict[tuple[str, str], str]:
        """(article id, task) -> the JSON of the kept output of the article's current text."""
        sql = (
            "SELECT o.article_id, o.task, o.data FROM outputs o JOIN articles a"
            " ON a.id = o.article_id AND a.content_hash = o.content_hash WHERE o.article_id IN"
        )
        return {(r[0], r[1]): r[2] for r in self._rows_of(sql, article_ids)}
