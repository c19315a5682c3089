"""Pure: checks every quote against the source text and pins it to a span.

A model's quote is located in the stored article in three steps, stopping at the first that
succeeds: the exact string; the string after both sides are normalised (Unicode NFKC, whitespace,
typographic quotes and dashes, case, invisible characters), mapped back to the original offsets;
then a fuzzy alignment above a threshold, which forgives spacing, punctuation, spelling slips and
elisions but never a different number, date, name or negation. Whatever is returned carries the
article's own words: `Located.quote == text[start:end]`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from summarizer.grounding.folding import (
    ELLIPSIS,
    MAX_OCCURRENCES,
    Hit,
    Span,
    aligned,
    fold_article,
    fold_quote,
    fuzzable,
    has_word,
    normal_hits,
    rank,
    strip_outer,
)
from summarizer.grounding.fuzzy import CANDIDATES, Search, chain
from summarizer.grounding.guard import reversed_after, soft, vocabulary
from summarizer.models import Citation
from summarizer.words import strip_span

Method = Literal["exact", "normalized", "fuzzy"]

DEFAULT_THRESHOLD = 90.0
# A fuzzy match inside the cited segments wins over a better one elsewhere within this margin.
_PREFER_SLACK = 3.0


@dataclass(frozen=True)
class Located:
    """Where a quote was found: `quote == text[start:end]` of the searched text, never empty."""

    start: int
    end: int
    quote: str
    method: Method
    score: float

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end or len(self.quote) != self.end - self.start:
            raise ValueError(f"not a span of the text: {self.start}:{self.end}")


@dataclass
class GroundingStats:
    """Quotes the model produced, those verified against the article, and those dropped."""

    produced: int = 0
    verified: int = 0
    dropped: int = 0

    def record(self, verified: bool) -> None:
        """Count one produced quote as verified or dropped."""
        self.produced += 1
        if verified:
            self.verified += 1
        else:
            self.dropped += 1

    def add(self, other: GroundingStats) -> GroundingStats:
        """Add another tally to this one (in place); returns self."""
        self.produced += other.produced
        self.verified += other.verified
        self.dropped += other.dropped
        return self

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def locate(
    quote: str,
    text: str,
    *,
    prefer: Sequence[Span] = (),
    threshold: float = DEFAULT_THRESHOLD,
) -> Located | None:
    """Find `quote` in `text`, or None when it cannot be verified.

    `prefer` holds the spans the model cited: when the quote occurs several times, an occurrence
    inside (then overlapping) one of them wins over the first. `threshold` is the least fuzzy
    similarity (0-100) accepted.
    """
    if not 0 < threshold <= 100:
        raise ValueError(f"threshold must be in (0, 100], not {threshold}")
    stripped = quote.strip()
    if not text or not has_word(stripped):
        return None
    found = _best(_exact_hits(stripped, text), prefer)
    if found is not None:
        return _located(text, found, "exact")

    folded = fold_article(text)
    softened = soft(quote)
    core = strip_outer(softened)
    if not has_word(core):
        return None
    for variant in dict.fromkeys((softened, core)):
        hits = normal_hits(fold_quote(variant), text, folded, 0, len(folded.text))
        found = _best(hits, prefer)
        if found is not None:
            return _located(text, found, "normalized")

    if not fuzzable(core):
        return None
    search = Search(text, folded, vocabulary(text), threshold)
    fragments = [f for f in map(strip_outer, ELLIPSIS.split(core)) if has_word(f)]
    if len(fragments) > 1:
        found = chain(fragments, search, prefer)
        if found is not None:
            return _located(text, found, "fuzzy")
    whole = fragments[0] if len(fragments) == 1 else core
    hits = search.fuzzy(whole, 0, len(folded.text), CANDIDATES)
    if not hits:
        return None
    top = max(h.score for h in hits)
    close = [h for h in hits if h.score >= top - _PREFER_SLACK]
    found = min(close, key=lambda h: (-rank(h.start, h.end, prefer), -h.score, h.start))
    return _located(text, found, "fuzzy")


def chunk_for(start: int, chunks: Sequence[tuple[str, int, int]]) -> str:
    """The id of the first chunk `(id, start, end)` containing offset `start` (chunks overlap).

    An offset in no chunk (a gap the chunker left between chunks) gets the nearest chunk.
    """
    if not chunks:
        raise ValueError("no chunks to cite")
    for chunk_id, lo, hi in chunks:
        if lo <= start < hi:
            return chunk_id
    nearest = min(chunks, key=lambda c: min(abs(start - c[1]), abs(start - (c[2] - 1))))
    return nearest[0]


def cite(
    article_id: str,
    text: str,
    chunks: Sequence[tuple[str, int, int]],
    quote: str,
    prefer: Sequence[Span] = (),
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> Citation | None:
    """A citation carrying the article's own words for `quote`, or None when it is not there."""
    found = locate(quote, text, prefer=prefer, threshold=threshold)
    if found is None:
        return None
    return Citation(
        article_id=article_id,
        chunk_id=chunk_for(found.start, chunks),
        start=found.start,
        end=found.end,
        quote=found.quote,
    )


def _best(hits: Iterable[Hit], prefer: Sequence[Span]) -> Hit | None:
    """The first hit of the highest rank."""
    best: Hit | None = None
    best_rank = -1
    for hit in hits:
        hit_rank = rank(hit.start, hit.end, prefer)
        if hit_rank > best_rank:
            best, best_rank = hit, hit_rank
        if best_rank == 2 or not prefer:
            break
    return best


def _exact_hits(quote: str, text: str) -> Iterable[Hit]:
    i = text.find(quote)
    for _ in range(MAX_OCCURRENCES):
        if i < 0:
            return
        if aligned(text, i, i + len(quote)):
            yield Hit(i, i + len(quote), -1, -1, 100.0)
        i = text.find(quote, i + 1)


def _located(text: str, hit: Hit, method: Method) -> Located | None:
    """The hit as a citation, taken on to the end of its clause when the article goes on with a
    word that reverses it; None when that clause is too long to cite."""
    start, end = (hit.start, hit.end) if method == "exact" else _balance(text, hit.start, hit.end)
    extended = reversed_after(text, end)
    if extended == -1:
        return None
    if extended is not None:
        end = strip_span(text, start, extended)[1]
    return Located(start, end, text[start:end], method, round(hit.score, 2))


def _balance(text: str, start: int, end: int) -> Span:
    """Take in the closing (or opening) quotation mark of a quotation the span opens (closes).

    The model's own quotation marks are stripped before matching, so a span can stop at
    `...to do so` inside `“...to do so,”`; the citation reads better with the mark.
    """
    inner = text[start:end]
    for opening, closing in (("“", "”"), ("«", "»"), ('"', '"')):
        if opening == closing:  # a lone straight mark opens when it starts a word
            lone = inner.count(opening) % 2 == 1
            p = inner.rfind(opening)
            opened = lone and (p == 0 or inner[p - 1].isspace())
            closed = lone and not opened
        else:
            opened = inner.count(opening) > inner.count(closing)
            closed = inner.count(closing) > inner.count(opening)
        if opened:
            if text[end : end + 1] == closing:
                end += 1
            elif text[end : end + 2] in (f"{c}{closing}" for c in ".,!?\u00a0\u202f "):
                end += 2
        elif closed and start > 0 and text[start - 1] == opening:
            start -= 1
    return start, end
