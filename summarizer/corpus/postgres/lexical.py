"""The PostgreSQL catalog's lexical index: each chunk's stems as a weighted tsvector (its text's
at weight A, its article's title's at B) and as postings, and BM25 computed in SQL exactly as
SQLite's FTS5 computes it, from corpus statistics kept in step with the chunks: in how many
chunks each stem is, how many chunks and words there are. (`ts_rank_cd` would be simpler, but it
ranks by how dense the terms are, not by how rare: no BM25.)"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from summarizer.corpus.catalog import TITLE_WEIGHT
from summarizer.corpus.postgres.connection import Connection
from summarizer.corpus.postgres.schema import WORDS

if TYPE_CHECKING:
    from summarizer.corpus.postgres.connection import Conn
    from summarizer.models import Article, Chunk

# FTS5's bm25() constants.
K1 = 1.2
B = 0.75
_TOKEN = re.compile(r"[^\W_]+")
_WEIGHED = (
    f"setweight(to_tsvector('{WORDS}', %s), 'A') || setweight(to_tsvector('{WORDS}', %s), 'B')"
)


def tokens(text: str) -> list[str]:
    """The words of `text` as SQLite's unicode61 tokenizer cuts them (diacritics dropped): the
    parser of PostgreSQL is given only these, so that "1.5", "e-mail" or "bbc.co.uk" are the
    same words in both catalogs and match the query terms `retrieve.terms` makes."""
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    return _TOKEN.findall(plain)


# A phrase's occurrences in a chunk, by column: the starts at which each of its stems (in
# order) stands at the next position, in the same column (weight), as an FTS5 phrase matches.
_OCCURRENCES = """(SELECT count(*) FILTER (WHERE o.w = 'A') AS a,
  count(*) FILTER (WHERE o.w = 'B') AS b
 FROM (SELECT x.pos - ph.i AS start, x.w FROM unnest(c.words) AS u
  JOIN unnest(%(phrase{i})s::text[]) WITH ORDINALITY AS ph (lexeme, i) ON ph.lexeme = u.lexeme
  CROSS JOIN LATERAL unnest(u.positions, u.weights) AS x (pos, w)
  GROUP BY 1, 2 HAVING count(DISTINCT ph.i) = cardinality(%(phrase{i})s::text[])) AS o)"""


def _quoted(stem: str) -> str:
    return "'" + stem.replace("\\", "\\\\").replace("'", "''") + "'"


def _phrase_query(stems: Sequence[str]) -> str:
    """A tsquery for the stems in this order, in one column (weight) or the other."""
    return " | ".join(
        "(" + " <-> ".join(f"{_quoted(s)}:{w}" for s in stems) + ")" for w in ("A", "B")
    )


class Lexical(Connection):
    """BM25 over the chunks' stems: words from the postings (`chunk_words`), phrases from the
    positions in the GIN-indexed tsvectors (`chunks.words`)."""

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
        split = [words for words in (tokens(t) for t in terms) if words]
        if not split or (article_ids is not None and not article_ids):
            return []
        return self._run(lambda conn: _bm25(conn, split, n, article_ids, title_weight))


def _bm25(
    conn: Conn,
    split: list[list[str]],
    n: int,
    article_ids: Sequence[str] | None,
    title_weight: float,
) -> list[tuple[str, str, float]]:
    """The `n` best chunks for the terms (each as its words): a one-word term is a stem, scored
    from its postings; a term of several words ("facebook's": facebook, s) is a phrase, as FTS5
    takes a quoted term, scored from the positions of its stems."""
    flat = [w for words in split for w in words]
    rows = conn.execute(
        f"SELECT s.lexeme, coalesce(w.chunks, 0), c.chunks, c.tokens"
        f" FROM unnest(%s::text[]) WITH ORDINALITY AS t (word, i)"
        f" LEFT JOIN LATERAL (SELECT lexeme FROM unnest(to_tsvector('{WORDS}', t.word)) LIMIT 1)"
        f" AS s ON TRUE LEFT JOIN word_counts w ON w.word = s.lexeme CROSS JOIN counters c"
        f" ORDER BY t.i",
        (flat,),
    ).fetchall()
    total, length = int(rows[0][2]), int(rows[0][3])
    stems = iter((r[0], int(r[1])) for r in rows)
    words: list[tuple[str, int]] = []  # a stem two terms share counts twice, as in FTS5
    phrases: list[list[str]] = []
    for term in split:
        got = [next(stems) for _ in term]
        if any(stem is None or df == 0 for stem, df in got):
            continue  # a stem no chunk holds: the term matches nothing
        if len(got) == 1:
            words.append(got[0])
        else:
            phrases.append([stem for stem, _ in got])
    if not words and not phrases:
        return []
    params: dict[str, Any] = {
        "words": [w for w, _ in words],
        # FTS5: idf = log((N - n + 0.5) / (n + 0.5)), at least 1e-6.
        "idf": [max(math.log((total - df + 0.5) / (df + 0.5)), 1e-6) for _, df in words],
        "title": float(title_weight),
        "total": total,
        "avgdl": max(length / max(total, 1), 1e-9),
        "k1": K1,
        "b": B,
        "n": n,
        "ids": list(article_ids or ()),
    }
    only = article_ids is not None
    ctes = []
    hits = [
        "SELECT p.chunk, q.idf, p.in_text + %(title)s * p.in_title AS f, p.tokens"
        " FROM unnest(%(words)s::text[], %(idf)s::float8[]) AS q (word, idf)"
        " JOIN chunk_words p ON p.word = q.word"
        + (
            " WHERE p.chunk IN (SELECT key FROM chunks WHERE article_id = ANY(%(ids)s))"
            if only
            else ""
        )
    ]
    for i, phrase in enumerate(phrases):
        params[f"phrase{i}"], params[f"query{i}"] = phrase, _phrase_query(phrase)
        # In how many chunks the phrase is counts all chunks, as in FTS5, not those asked for.
        ctes.append(
            f"phrase{i} AS (SELECT c.key AS chunk, c.article_id, c.tokens, o.a, o.b FROM chunks c"
            f" CROSS JOIN LATERAL {_OCCURRENCES.format(i=i)} AS o"
            f" WHERE c.words @@ %(query{i})s::tsquery)"
        )
        hits.append(
            f"SELECT chunk, (SELECT greatest(ln((%(total)s - count(*) + 0.5)"
            f" / (count(*) + 0.5)), 1e-6) FROM phrase{i}), a + %(title)s * b, tokens"
            f" FROM phrase{i}" + (" WHERE article_id = ANY(%(ids)s)" if only else "")
        )
    ctes.append("hits (chunk, idf, f, tokens) AS (" + " UNION ALL ".join(hits) + ")")
    # Ties in chunk order (FTS5: rowid order); the ids of the first `n` only are read.
    found = conn.execute(
        "WITH " + ", ".join(ctes) + ", scored AS (SELECT chunk, sum(idf * (f * (%(k1)s + 1))"
        " / (f + %(k1)s * (1 - %(b)s + %(b)s * tokens / %(avgdl)s))) AS score FROM hits"
        " GROUP BY chunk ORDER BY score DESC, chunk LIMIT %(n)s)"
        " SELECT c.id, c.article_id, s.score FROM scored s JOIN chunks c ON c.key = s.chunk"
        " ORDER BY s.score DESC, s.chunk",
        params,
    ).fetchall()
    return [(r[0], r[1], float(r[2])) for r in found]


def index_chunks(conn: Conn, article: Article, chunks: list[Chunk]) -> None:
    """Store the chunk spans of `article` with their words, and count them in the statistics
    (the article's earlier chunks are gone: `unindex`)."""
    title = tokens(article.title)
    rows = []
    total = 0
    for c in chunks:
        words = tokens(c.text)
        total += len(words) + len(title)
        rows.append(
            (c.id, c.article_id, c.index, c.start, c.end, len(words) + len(title),
             " ".join(words), " ".join(title))
        )  # fmt: skip
    if not rows:
        return
    with conn.cursor() as cur:
        cur.executemany(
            'INSERT INTO chunks (id, article_id, idx, start, "end", tokens, words)'
            f" VALUES (%s, %s, %s, %s, %s, %s, {_WEIGHED})",
            rows,
        )
    # The postings, and the statistics counted from them; sorted, so that writers would take
    # the rows' locks in one order (they are serialised by the write counter anyway).
    conn.execute(
        "WITH posted AS (INSERT INTO chunk_words (word, chunk, in_text, in_title, tokens)"
        "  SELECT u.lexeme, c.key, cardinality(array_positions(u.weights, 'A')),"
        "  cardinality(array_positions(u.weights, 'B')), c.tokens"
        "  FROM chunks c CROSS JOIN LATERAL unnest(c.words) AS u WHERE c.article_id = %s"
        "  RETURNING word)"
        " INSERT INTO word_counts (word, chunks) SELECT word, count(*) FROM posted"
        " GROUP BY word ORDER BY word"
        " ON CONFLICT (word) DO UPDATE SET chunks = word_counts.chunks + excluded.chunks",
        (article.id,),
    )
    conn.execute(
        "UPDATE counters SET chunks = chunks + %s, tokens = tokens + %s", (len(rows), total)
    )


def unindex(conn: Conn, article_id: str) -> None:
    """Delete the article's chunk spans and their postings, and take their stems out of the
    statistics."""
    gone = conn.execute(
        "WITH gone AS (DELETE FROM chunks WHERE article_id = %s RETURNING key, tokens, words),"
        " stems AS (SELECT g.key, u.lexeme FROM gone g CROSS JOIN LATERAL unnest(g.words) AS u),"
        " unposted AS (DELETE FROM chunk_words p USING stems s"
        "  WHERE p.word = s.lexeme AND p.chunk = s.key),"
        " counted AS (SELECT lexeme, count(*) AS n FROM stems GROUP BY lexeme),"
        " counts AS (UPDATE word_counts w SET chunks = w.chunks - counted.n FROM counted"
        "  WHERE w.word = counted.lexeme RETURNING w.word, w.chunks)"
        " SELECT (SELECT count(*) FROM gone), (SELECT coalesce(sum(tokens), 0) FROM gone),"
        " (SELECT array_agg(word) FROM counts WHERE chunks <= 0)",
        (article_id,),
    ).fetchone()
    if gone is None or not gone[0]:
        return
    conn.execute(
        "UPDATE counters SET chunks = chunks - %s, tokens = tokens - %s", (gone[0], gone[1])
    )
    if gone[2]:  # stems no chunk holds any more
        conn.execute("DELETE FROM word_counts WHERE word = ANY(%s) AND chunks <= 0", (gone[2],))
