"""Hybrid retrieval: dense (Chroma) and lexical (BM25 over the chunk texts and their titles,
SQLite FTS5) rankings, fused by score over a deep pool of candidates, with a preference for the
period a question names ("this week", "in March 2022"), and at most a few chunks per article."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from summarizer.corpus.catalog import TITLE_WEIGHT
from summarizer.models import Article, Chunk

if TYPE_CHECKING:
    from summarizer.corpus.embed import Embedder
    from summarizer.corpus.store import Corpus
    from summarizer.corpus.when import Period

Mode = Literal["hybrid", "dense", "lexical"]


@dataclass(frozen=True)
class Fusion:
    """How the dense and the lexical ranking are fused into one, and the period ranking with it.
    Defaults measured by bench/bench_retrieval.py.

    "rrf": a chunk's score is the sum, over the rankings it is in, of weight / (rrf_k + rank).
    "z": score-aware: the sum of weight * z, z being how far the chunk's score (cosine
    similarity, BM25) stands above the mean of its ranking's pool, in standard deviations, so a
    ranking whose top stands out (a rare name matched, a close paraphrase) counts for more than
    one whose scores are flat; a chunk missing from a ranking counts as its pool's last.
    """

    method: Literal["rrf", "z"] = "z"
    dense: float = 1.0
    lexical: float = 1.0
    rrf_k: int = 60
    # Candidates taken from each ranking before fusion and the per-article cap.
    pool: int = 100
    # At most this many chunks of one article, leaving room for others. With 2, 12% of the
    # written questions lost their answer from the first 10: a third or fourth chunk of the
    # right article held it.
    per_article: int = 4
    title_weight: float = TITLE_WEIGHT  # of a title's words in BM25, against the text's 1
    # The period ranking (candidates by how near their article's date is to the period the
    # question names, when it names one), fused by reciprocal rank with the fused text ranking.
    period: float = 1.0
    # Words remembered from a text ("trezeguet egypt footed shot box saved"): when one of the
    # lexical ranking's first 3 chunks holds at least `verbatim_share` of the query's terms, the
    # lexical ranking's weight is multiplied by `verbatim`, and the proximity ranking (how many of
    # the terms stand close together) joins the fusion with weight `verbatim`. A question in a
    # reader's own words rarely has that many of its terms in one chunk, and is fused as before.
    verbatim_share: float = 0.7
    verbatim: float = 4.0


FUSION = Fusion()

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
    model_rank: int | None = None  # its place in the model's order, when reranked


Ranking = list[tuple[str, str, float]]  # (chunk id, article id, score: higher is better)


@dataclass
class Candidates:
    """What the rankings found for one query, before fusion: the dense and the lexical ranking
    (either empty when its mode is off), the dates of the articles they hold, the query's terms
    and the texts of each ranking's first PROXIMITY_POOL chunks."""

    dense: Ranking
    lexical: Ranking
    dates: dict[str, str]
    terms: list[str] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)


PROXIMITY_POOL = 30  # chunks of each ranking the proximity ranking is made of


@dataclass(frozen=True)
class Fused:
    chunk_id: str
    article_id: str
    score: float
    dense_rank: int | None
    lexical_rank: int | None


def fuse(
    found: Candidates,
    k: int,
    fusion: Fusion = FUSION,
    *,
    asked: Period | None = None,
    per_article: int | None = None,
    exclude: frozenset[str] = frozenset(),
) -> list[Fused]:
    """Pure: the `k` best chunks of the fused rankings, at most `per_article` per article."""
    cap = fusion.per_article if per_article is None else per_article
    owner: dict[str, str] = {}
    ranks: dict[str, list[int | None]] = {}
    rankings = ((0, fusion.dense, found.dense), (1, fusion.lexical, found.lexical))
    kept: list[tuple[float, Ranking]] = []
    pooled: list[Ranking] = []
    for which, weight, ranking in rankings:
        ranking = [r for r in ranking[: fusion.pool] if r[1] not in exclude]
        pooled.append(ranking)
        for rank, (chunk_id, article_id, _) in enumerate(ranking, 1):
            ranks.setdefault(chunk_id, [None, None])[which] = rank
            owner[chunk_id] = article_id
        if ranking and weight:
            kept.append((weight, ranking))
    if fusion.method == "z" and fusion.verbatim and len(kept) == 2:
        kept = _verbatim(found, fusion, pooled, kept)
    fused = _z_scores(kept, owner) if fusion.method == "z" else _rrf(kept, fusion.rrf_k)
    if asked is not None and fusion.period:
        fused = _with_period(asked, fused, owner, found.dates, fusion)
    out: list[Fused] = []
    per: dict[str, int] = {}
    for chunk_id in sorted(fused, key=lambda c: -fused[c]):
        article_id = owner[chunk_id]
        if per.get(article_id, 0) >= cap:
            continue
        per[article_id] = per.get(article_id, 0) + 1
        dense, lexical = ranks[chunk_id]
        out.append(Fused(chunk_id, article_id, fused[chunk_id], dense, lexical))
        if len(out) == k:
            break
    return out


def _verbatim(
    found: Candidates, fusion: Fusion, pooled: list[Ranking], kept: list[tuple[float, Ranking]]
) -> list[tuple[float, Ranking]]:
    """The rankings to fuse, with the lexical one weighted up and the proximity ranking added
    when the query reads as words remembered from a text (see Fusion.verbatim_share)."""
    dense, lexical = pooled
    queried = {_stem(t) for t in found.terms}
    if not queried:
        return kept
    share = max((_held(queried, found.texts.get(c, "")) for c, _, _ in lexical[:3]), default=0.0)
    if share < fusion.verbatim_share:
        return kept
    near: dict[str, tuple[str, float]] = {}
    for chunk_id, article_id, _ in dense[:PROXIMITY_POOL] + lexical[:PROXIMITY_POOL]:
        near[chunk_id] = (article_id, _proximity(queried, found.texts.get(chunk_id, "")))
    proximity = sorted(((c, a, p) for c, (a, p) in near.items()), key=lambda r: -r[2])
    (dense_weight, _), (lexical_weight, _) = kept
    return [
        (dense_weight, dense),
        (lexical_weight * fusion.verbatim, lexical),
        (fusion.verbatim, proximity),
    ]


def _stem(word: str) -> str:
    """A word as matched against a query term: lower-cased, its first five letters."""
    return word.lower()[:5]


def matched_terms(query: str, text: str) -> tuple[int, int]:
    """How many of the query's words (stopwords aside, stemmed) `text` holds, of how many."""
    queried = {_stem(t) for t in terms(query)}
    return _holds(queried, text), len(queried)


def _holds(queried: set[str], text: str) -> int:
    """How many of the query's terms `text` holds."""
    return len(queried & {_stem(w) for w in _WORD.findall(text)})


def _held(queried: set[str], text: str) -> float:
    """The share of the query's terms that `text` holds."""
    return _holds(queried, text) / len(queried)


def _proximity(queried: set[str], text: str) -> float:
    """The most of the query's terms held in one window of `text` (twice as many words as
    there are terms, 6 at least), as a share of the terms."""
    window = max(6, 2 * len(queried))
    hits = [(i, s) for i, w in enumerate(_WORD.findall(text)) if (s := _stem(w)) in queried]
    best, first = 0, 0
    count: dict[str, int] = {}
    for at, term in hits:
        count[term] = count.get(term, 0) + 1
        while at - hits[first][0] >= window:
            gone = hits[first][1]
            count[gone] -= 1
            if not count[gone]:
                del count[gone]
            first += 1
        best = max(best, len(count))
    return best / len(queried)


def _rrf(rankings: list[tuple[float, Ranking]], rrf_k: int) -> dict[str, float]:
    fused: dict[str, float] = {}
    for weight, ranking in rankings:
        for rank, (chunk_id, _, _) in enumerate(ranking, 1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (rrf_k + rank)
    return fused


def _z_scores(rankings: list[tuple[float, Ranking]], owner: dict[str, str]) -> dict[str, float]:
    import statistics

    fused = dict.fromkeys(owner, 0.0)
    for weight, ranking in rankings:
        scores = [score for _, _, score in ranking]
        mean = statistics.fmean(scores)
        spread = statistics.pstdev(scores, mean) or 1.0
        z = {chunk_id: (score - mean) / spread for chunk_id, _, score in ranking}
        floor = min(z.values())
        for chunk_id in fused:
            fused[chunk_id] += weight * z.get(chunk_id, floor)
    return fused


def _with_period(
    asked: Period,
    fused: dict[str, float],
    owner: dict[str, str],
    dates: dict[str, str],
    fusion: Fusion,
) -> dict[str, float]:
    """The fused text ranking and the period ranking (the candidates by the distance of their
    article's date to the period asked about, within it first; undated ones are not in it),
    fused by reciprocal rank. Among candidates equally near, the better text score first."""
    from summarizer.corpus.when import parse_date

    order = sorted(fused, key=lambda c: -fused[c])
    out: dict[str, float] = {}
    rank, last = 0, None
    for position, chunk_id in enumerate(order, 1):
        if fused[chunk_id] != last:  # equal scores share a rank (copies of one text, say)
            rank, last = position, fused[chunk_id]
        out[chunk_id] = 1.0 / (fusion.rrf_k + rank)
    near: list[tuple[int, float, str]] = []
    for chunk_id in order:
        day = parse_date(dates.get(owner[chunk_id]))
        if day is not None:
            near.append((asked.distance(day), -fused[chunk_id], chunk_id))
    near.sort()
    for rank, (_, _, chunk_id) in enumerate(near, 1):
        out[chunk_id] += fusion.period / (fusion.rrf_k + rank)
    return out


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
        per_article: int | None = None,
        exclude: frozenset[str] = frozenset(),
        fusion: Fusion = FUSION,
        today: date | None = None,
    ) -> list[Retrieved]:
        """The `k` best chunks for `query`, at most `per_article` from any one article."""
        from summarizer.corpus.when import period

        asked = period(query, today) if mode == "hybrid" and fusion.period else None
        n = max(fusion.pool, k * 4) + 4 * len(exclude)
        found = self.candidates(
            query,
            n,
            filters,
            mode=mode,
            dated=asked is not None,
            title_weight=fusion.title_weight,
            exclude=exclude,
        )
        if found is None:
            return []
        fusion = replace(fusion, pool=n)
        picked = fuse(found, k, fusion, asked=asked, per_article=per_article, exclude=exclude)
        return self._load(picked)

    def candidates(
        self,
        query: str,
        n: int,
        filters: Filters | None = None,
        *,
        mode: Mode = "hybrid",
        dated: bool = False,
        title_weight: float = FUSION.title_weight,
        exclude: frozenset[str] = frozenset(),
    ) -> Candidates | None:
        """The first `n` of each ranking `mode` asks for, or None when the filters pass no
        article; `dated`: with the dates of the articles found; the texts are of the first
        chunks not of an `exclude`d article (the ones the fusion sees)."""
        allowed: list[str] | None = None
        if filters is not None and filters.active:
            allowed = self.corpus.catalog.select_ids(
                sources=filters.sources,
                since=filters.since,
                until=filters.until,
                ids=filters.article_ids,
            )
            if not allowed:
                return None
        texts: dict[str, str] = {}
        dense: Ranking = []
        if mode in ("hybrid", "dense"):
            dense = self._dense(query, n, allowed, texts, exclude)
        lexical: Ranking = []
        queried = terms(query)
        catalog = self.corpus.catalog
        if mode in ("hybrid", "lexical"):
            lexical = catalog.lexical(queried, n, allowed, title_weight=title_weight)
            shown = [c for c, a, _ in lexical if a not in exclude][:PROXIMITY_POOL]
            texts.update(catalog.chunk_texts([c for c in shown if c not in texts]))
        dates: dict[str, str] = {}
        if dated:
            dates = catalog.dates({a for _, a, _ in dense + lexical})
        return Candidates(dense, lexical, dates, queried, texts)

    def _dense(
        self,
        query: str,
        n: int,
        allowed: list[str] | None,
        texts: dict[str, str],
        exclude: frozenset[str],
    ) -> Ranking:
        """The dense ranking; the texts of its first chunks not of an `exclude`d article are
        put in `texts`."""
        where: dict[str, Any] | None = None
        if allowed is not None:
            where = (
                {"article_id": {"$in": allowed}} if len(allowed) > 1 else {"article_id": allowed[0]}
            )
        vector = self.embedder.embed([query])[0]
        hits = self.corpus.search(vector, n, where)
        shown = [h for h in hits if h.article_id not in exclude][:PROXIMITY_POOL]
        texts.update((h.chunk_id, h.text) for h in shown)
        return [(h.chunk_id, h.article_id, h.score) for h in hits]

    def _load(self, picked: list[Fused]) -> list[Retrieved]:
        spans = self.corpus.catalog.chunk_spans([f.chunk_id for f in picked])
        articles = self.corpus.catalog.many(
            spans[f.chunk_id][0] for f in picked if f.chunk_id in spans
        )
        out = []
        for f in picked:
            if f.chunk_id not in spans or spans[f.chunk_id][0] not in articles:
                continue  # removed since the search: never return what is not stored
            article_id, index, start, end = spans[f.chunk_id]
            article = articles[article_id]
            out.append(
                Retrieved(
                    chunk=Chunk(
                        id=f.chunk_id,
                        article_id=article_id,
                        index=index,
                        start=start,
                        end=end,
                        text=article.text[start:end],
                    ),
                    article=article,
                    score=round(f.score, 6),
                    dense_rank=f.dense_rank,
                    lexical_rank=f.lexical_rank,
                )
            )
        return out
