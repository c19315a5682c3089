"""Hybrid retrieval: dense (Chroma) and lexical (BM25 over the chunk texts, SQLite FTS5) search,
fused by reciprocal rank, with at most a few chunks per article."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from summarizer.models import Article, Chunk

if TYPE_CHECKING:
    from summarizer.embed import Embedder
    from summarizer.store import Corpus

Mode = Literal["hybrid", "dense", "lexical"]
# Reciprocal rank fusion: score = sum of 1 / (RRF_K + rank) over the rankings a chunk is in.
RRF_K = 60
# Candidates taken from each ranking before fusion.
CANDIDATES = 60
PER_ARTICLE = 2

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
_STOPWORD_TEXT = """
a an and are as at be been but by can could did do does for from had has have how i if in into is
it its me my no not of on or our she so than that the their them then there these they this to was
we were what when where which while who whom why will with would you your about after also any
between both each more most other some such only own same too very just
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def terms(query: str, limit: int = 32) -> list[str]:
    """The query's words for lexical search: lower-cased, stopwords dropped, each once."""
    words = [w.lower() for w in _WORD.findall(query)]
    kept = [w for w in words if w not in _STOPWORDS] or words
    return list(dict.fromkeys(kept))[:limit]


@dataclass(frozen=True)
class Filters:
    """Which articles retrieval may return; empty means all."""

    sources: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    article_ids: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.sources or self.since or self.until or self.article_ids)


@dataclass(frozen=True)
class Retrieved:
    """A retrieved chunk, its article, and how it ranked."""

    chunk: Chunk
    article: Article
    score: float
    dense_rank: int | None = None
    lexical_rank: int | None = None


class Retriever:
    """Searches one corpus; the embedder must be the one its vectors were made with."""

    def __init__(self, corpus: Corpus, embedder: Embedder) -> None:
        self.corpus = corpus
        self.embedder = embedder

    def close(self) -> None:
        """Close the embedder (the corpus belongs to the caller)."""
        self.embedder.close()

    def search(
        self,
        query: str,
        k: int = 8,
        filters: Filters | None = None,
        *,
        mode: Mode = "hybrid",
        per_article: int = PER_ARTICLE,
        exclude: frozenset[str] = frozenset(),
    ) -> list[Retrieved]:
        """The `k` best chunks for `query`, at most `per_article` from any one article."""
        allowed: list[str] | None = None
        if filters is not None and filters.active:
            allowed = self.corpus.catalog.select_ids(
                sources=filters.sources,
                since=filters.since,
                until=filters.until,
                ids=filters.article_ids,
            )
            if not allowed:
                return []
        n = max(CANDIDATES, k * 4) + 4 * len(exclude)
        # (slot, ranking): slot 0 holds dense ranks, slot 1 lexical ones, whichever ran.
        rankings: list[tuple[int, list[tuple[str, str]]]] = []
        if mode in ("hybrid", "dense"):
            rankings.append((0, self._dense(query, n, allowed)))
        if mode in ("hybrid", "lexical"):
            lexical = self.corpus.catalog.lexical(terms(query), n, allowed)
            rankings.append((1, [(chunk_id, article_id) for chunk_id, article_id, _ in lexical]))
        fused: dict[str, float] = {}
        ranks: dict[str, list[int | None]] = {}
        owner: dict[str, str] = {}
        for which, ranking in rankings:
            for rank, (chunk_id, article_id) in enumerate(ranking, 1):
                if article_id in exclude:
                    continue
                fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
                ranks.setdefault(chunk_id, [None, None])[which] = rank
                owner[chunk_id] = article_id
        order = sorted(fused, key=lambda c: -fused[c])
        picked: list[str] = []
        per: dict[str, int] = {}
        for chunk_id in order:
            article_id = owner[chunk_id]
            if per.get(article_id, 0) >= per_article:
                continue
            per[article_id] = per.get(article_id, 0) + 1
            picked.append(chunk_id)
            if len(picked) == k:
                break
        return self._load(picked, fused, ranks)

    def _dense(self, query: str, n: int, allowed: list[str] | None) -> list[tuple[str, str]]:
        where: dict[str, Any] | None = None
        if allowed is not None:
            where = (
                {"article_id": {"$in": allowed}} if len(allowed) > 1 else {"article_id": allowed[0]}
            )
        vector = self.embedder.embed([query])[0]
        return [(h.chunk_id, h.article_id) for h in self.corpus.search(vector, n, where)]

    def _load(
        self,
        picked: list[str],
        fused: dict[str, float],
        ranks: dict[str, list[int | None]],
    ) -> list[Retrieved]:
        spans = self.corpus.catalog.chunk_spans(picked)
        articles = self.corpus.catalog.many(spans[c][0] for c in picked if c in spans)
        out = []
        for chunk_id in picked:
            if chunk_id not in spans or spans[chunk_id][0] not in articles:
                continue  # removed since the search: never return what is not stored
            article_id, index, start, end = spans[chunk_id]
            article = articles[article_id]
            dense, lexical = ranks[chunk_id]
            out.append(
                Retrieved(
                    chunk=Chunk(
                        id=chunk_id,
                        article_id=article_id,
                        index=index,
                        start=start,
                        end=end,
                        text=article.text[start:end],
                    ),
                    article=article,
                    score=round(fused[chunk_id], 6),
                    dense_rank=dense,
                    lexical_rank=lexical,
                )
            )
        return out
