"""What the PostgreSQL catalog keeps beside each article's current text: the earlier versions of
its text and the summaries and claims made on each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from summarizer.corpus.catalog import Version, now
from summarizer.corpus.postgres.connection import Connection, wrote

if TYPE_CHECKING:
    from summarizer.corpus.postgres.connection import Conn
    from summarizer.models import Article


class Kept(Connection):
    """The versions and outputs tables of the catalog."""

    def save_output(self, article_id: str, task: str, content_hash: str, data: str) -> None:
        """Keep the latest output (JSON) of `task` ("summarize", "claims") for an article."""
        self._write(
            "INSERT INTO outputs (article_id, task, content_hash, made_at, data)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (article_id, task, content_hash)"
            " DO UPDATE SET made_at = excluded.made_at, data = excluded.data,"
            " made = nextval('outputs_made')",
            (article_id, task, content_hash, now(), data),
        )

    def output(
        self, article_id: str, task: str, content_hash: str | None = None
    ) -> tuple[str, str, str] | None:
        """(content_hash, made_at, JSON) of the output of `task` for the article: of the
        version with `content_hash` when given, else of its latest text if there is one, else
        the newest."""
        row = self._one(
            "SELECT o.content_hash, o.made_at, o.data FROM outputs o JOIN articles a"
            " ON a.id = o.article_id WHERE o.article_id = %s AND o.task = %s"
            " AND (%s::text IS NULL OR o.content_hash = %s)"
            " ORDER BY o.content_hash = a.content_hash DESC, o.made_at DESC, o.made DESC LIMIT 1",
            (article_id, task, content_hash, content_hash),
        )
        return None if row is None else (row[0], row[1], row[2])

    def current_outputs(self, article_ids: Sequence[str]) -> dict[tuple[str, str], str]:
        """(article id, task) -> the JSON of the kept output of the article's current text."""
        rows = self._all(
            "SELECT o.article_id, o.task, o.data FROM outputs o JOIN articles a"
            " ON a.id = o.article_id AND a.content_hash = o.content_hash"
            " WHERE o.article_id = ANY(%s)",
            (list(article_ids),),
        )
        return {(r[0], r[1]): r[2] for r in rows}

    # --- versions ---------------------------------------------------------------------------

    def versions(self, article_id: str) -> list[Version]:
        """The texts the article had, oldest first."""
        rows = self._all(
            "SELECT v.n, v.content_hash, v.title, v.fetched_at, v.fingerprint,"
            " length(coalesce(v.text, a.text)) FROM versions v JOIN articles a"
            " ON a.id = v.article_id WHERE v.article_id = %s ORDER BY v.n",
            (article_id,),
        )
        return [Version(*r) for r in rows]

    def version_text(self, article_id: str, n: int) -> str | None:
        """The text of version `n` of the article (None when it has no such version)."""
        row = self._one(
            "SELECT coalesce(v.text, a.text) FROM versions v JOIN articles a"
            " ON a.id = v.article_id WHERE v.article_id = %s AND v.n = %s",
            (article_id, n),
        )
        return None if row is None else str(row[0])

    def text_of(self, article_id: str, content_hash: str) -> str | None:
        """The text of the article's version with this hash: where an old citation points."""
        row = self._one(
            "SELECT coalesce(v.text, a.text) FROM versions v JOIN articles a"
            " ON a.id = v.article_id WHERE v.article_id = %s AND v.content_hash = %s"
            " ORDER BY v.n DESC LIMIT 1",
            (article_id, content_hash),
        )
        return None if row is None else str(row[0])

    def set_fingerprint(self, article_id: str, fingerprint: str | None) -> None:
        def go(conn: Conn) -> None:
            wrote(conn)
            conn.execute(
                "UPDATE articles SET fingerprint = %s WHERE id = %s", (fingerprint, article_id)
            )
            conn.execute(
                "UPDATE versions SET fingerprint = %s WHERE article_id = %s AND n ="
                " (SELECT max(n) FROM versions WHERE article_id = %s)",
                (fingerprint, article_id, article_id),
            )

        self._run(go)


def keep_version(conn: Conn, article: Article, fingerprint: str | None) -> None:
    """Record the text and title `article` brings: a new version when either is not the latest
    one's (the latest's text moves into its row first), else its fingerprint."""
    latest = conn.execute(
        "SELECT n, content_hash, title FROM versions WHERE article_id = %s ORDER BY n DESC LIMIT 1",
        (article.id,),
    ).fetchone()
    if latest is not None and latest[1] == article.content_hash and latest[2] == article.title:
        conn.execute(
            "UPDATE versions SET fingerprint = %s WHERE article_id = %s AND n = %s",
            (fingerprint, article.id, latest[0]),
        )
        return
    if latest is not None:
        conn.execute(
            "UPDATE versions SET text = (SELECT text FROM articles WHERE id = %s)"
            " WHERE article_id = %s AND n = %s",
            (article.id, article.id, latest[0]),
        )
    conn.execute(
        "INSERT INTO versions (article_id, n, content_hash, title, text, fetched_at,"
        " fingerprint) VALUES (%s, %s, %s, %s, NULL, %s, %s)",
        (
            article.id,
            (latest[0] if latest else 0) + 1,
            article.content_hash,
            article.title,
            now(),
            fingerprint,
        ),
    )
