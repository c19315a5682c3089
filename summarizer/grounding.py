"""Pure: checks every quote against the source text and pins it to a span.

A model's quote is located in the stored article in three steps, stopping at the first that
succeeds: the exact string; the string after both sides are normalised (Unicode NFKC, whitespace,
typographic quotes and dashes, case, invisible characters), mapped back to the original offsets;
then a fuzzy alignment above a threshold, which forgives spacing, punctuation, spelling slips and
elisions but never a different number, date, name or negation. Whatever is returned carries the
article's own words: `Located.quote == text[start:end]`.
"""

from __future__ import annotations

import heapq
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Literal, NamedTuple

from summarizer.chunking import strip_span
from summarizer.guard import (
    TYPOGRAPHY,
    WORD,
    agrees,
    edges_agree,
    facts,
    soft,
    vocabulary,
)
from summarizer.models import Citation

Method = Literal["exact", "normalized", "fuzzy"]
Span = tuple[int, int]

DEFAULT_THRESHOLD = 90.0
# Shorter quotes match too many places to be fuzzed: exact or normalised only.
MIN_FUZZY_CHARS = 15
MIN_FUZZY_WORDS = 3
# How far apart two fragments of an elided quote ("a ... b") may be, in characters.
MAX_GAP = 300
# Fuzzy alignments examined per search, and how far below the threshold a raw window may score
# before its boundaries are refined to whole words.
_CANDIDATES = 4
_RAW_SLACK = 10.0
# A fuzzy match inside the cited segments wins over a better one elsewhere within this margin.
_PREFER_SLACK = 3.0
# Occurrences of one string examined before giving up on finding a preferred one.
_MAX_OCCURRENCES = 200


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
    if not text or not _has_word(stripped):
        return None
    found = _best(_exact_hits(stripped, text), prefer)
    if found is not None:
        return _located(text, found, "exact")

    folded = _fold_article(text)
    softened = soft(quote)
    core = _strip_outer(softened)
    if not _has_word(core):
        return None
    for variant in dict.fromkeys((softened, core)):
        hits = _normal_hits(_fold_quote(variant), text, folded, 0, len(folded.text))
        found = _best(hits, prefer)
        if found is not None:
            return _located(text, found, "normalized")

    if not _fuzzable(core):
        return None
    search = _Search(text, folded, vocabulary(text), threshold)
    fragments = [f for f in map(_strip_outer, _ELLIPSIS.split(core)) if _has_word(f)]
    if len(fragments) > 1:
        found = _chain(fragments, search, prefer)
        if found is not None:
            return _located(text, found, "fuzzy")
    whole = fragments[0] if len(fragments) == 1 else core
    hits = search.fuzzy(whole, 0, len(folded.text), _CANDIDATES)
    if not hits:
        return None
    top = max(h.score for h in hits)
    close = [h for h in hits if h.score >= top - _PREFER_SLACK]
    found = min(close, key=lambda h: (-_rank(h.start, h.end, prefer), -h.score, h.start))
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


# --- normalisation -------------------------------------------------------------------------

# What the fast path cannot copy as is: white space other than one plain space, non-ASCII, an
# ASCII letter carrying a combining mark (decomposed accents must compose as NFKC would).
_SPECIAL = re.compile(r"\s{2,}|[^\S ]|[^\x00-\x7f]|[\x00-\x7f](?=[\u0300-\u036f])")
_ELLIPSIS = re.compile(r"\s*(?:\[\s*\.{2,}\s*\]|\(\s*\.{2,}\s*\)|\.{3,})\s*")
_OUTER = " \n\"'.,;:"


class _Folded(NamedTuple):
    """Normalised text; `starts[i]:ends[i]` is the original span character i came from."""

    text: str
    starts: list[int]
    ends: list[int]


def _fold(text: str) -> _Folded:
    """NFKC, typographic quotes/dashes to ASCII, whitespace runs to one space, case-folded."""
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    n, pos, last_space = len(text), 0, False
    while pos < n:
        m = _SPECIAL.search(text, pos)
        i = m.start() if m else n
        if last_space and i > pos and text[pos] == " ":  # a space after a dropped character
            ends[-1] = pos = pos + 1
        if i > pos:  # plain ASCII, the bulk of most articles, in one step
            parts.append(text[pos:i].lower())
            starts.extend(range(pos, i))
            ends.extend(range(pos + 1, i + 1))
            last_space = text[i - 1] == " "
        if m is None:
            break
        if text[i].isspace():
            j, piece = m.end(), " "
        else:
            j = i + 1
            while j < n and unicodedata.combining(text[j]):
                j += 1
            piece = (
                ""
                if unicodedata.category(text[i]) == "Cf"
                else unicodedata.normalize("NFKC", text[i:j].translate(TYPOGRAPHY)).casefold()
            )
        for ch in piece:
            if ch.isspace():
                if last_space:
                    ends[-1] = j
                    continue
                ch, last_space = " ", True
            else:
                last_space = False
            parts.append(ch)
            starts.append(i)
            ends.append(j)
        pos = j
    return _Folded("".join(parts), starts, ends)


@lru_cache(maxsize=4)
def _fold_article(text: str) -> _Folded:
    # Callers locate many quotes in one article at a time: fold it once. (~1.5 MB of offsets
    # for a 20,000-character article, hence only a few.)
    return _fold(text)


def _fold_quote(quote: str) -> str:
    return _fold(quote).text.strip()


def _strip_outer(text: str) -> str:
    """Without the quotation marks and end punctuation a model often wraps a quote in."""
    return text.strip(_OUTER)


def _has_word(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _fuzzable(text: str) -> bool:
    return len(text) >= MIN_FUZZY_CHARS and len(WORD.findall(text)) >= MIN_FUZZY_WORDS


# --- exact and normalised matches ------------------------------------------------------------


class _Hit(NamedTuple):
    start: int  # span of the original text
    end: int
    nstart: int  # span of the folded text
    nend: int
    score: float


def _aligned(text: str, start: int, end: int) -> bool:
    """True when the span cuts no word in two."""
    if start > 0 and text[start - 1].isalnum() and text[start].isalnum():
        return False
    return not (end < len(text) and text[end - 1].isalnum() and text[end].isalnum())


def _rank(start: int, end: int, prefer: Sequence[Span]) -> int:
    """2 inside a preferred span, 1 overlapping one, 0 elsewhere."""
    if any(lo <= start and end <= hi for lo, hi in prefer):
        return 2
    return 1 if any(start < hi and lo < end for lo, hi in prefer) else 0


def _best(hits: Iterable[_Hit], prefer: Sequence[Span]) -> _Hit | None:
    """The first hit of the highest rank."""
    best: _Hit | None = None
    best_rank = -1
    for hit in hits:
        rank = _rank(hit.start, hit.end, prefer)
        if rank > best_rank:
            best, best_rank = hit, rank
        if best_rank == 2 or not prefer:
            break
    return best


def _exact_hits(quote: str, text: str) -> Iterable[_Hit]:
    i = text.find(quote)
    for _ in range(_MAX_OCCURRENCES):
        if i < 0:
            return
        if _aligned(text, i, i + len(quote)):
            yield _Hit(i, i + len(quote), -1, -1, 100.0)
        i = text.find(quote, i + 1)


def _normal_hits(nquote: str, text: str, folded: _Folded, lo: int, hi: int) -> Iterable[_Hit]:
    """Word-aligned occurrences of a folded quote within folded[lo:hi], in original offsets."""
    if not nquote:
        return
    i = folded.text.find(nquote, lo, hi)
    for _ in range(_MAX_OCCURRENCES):
        if i < 0:
            return
        end = i + len(nquote)
        start, stop = strip_span(text, folded.starts[i], folded.ends[end - 1])
        if start < stop and _aligned(text, start, stop):
            yield _Hit(start, stop, i, end, 100.0)
        i = folded.text.find(nquote, i + 1, hi)


def _located(text: str, hit: _Hit, method: Method) -> Located:
    start, end = (hit.start, hit.end) if method == "exact" else _balance(text, hit.start, hit.end)
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


# --- fuzzy matches ---------------------------------------------------------------------------


class _Search:
    """Fuzzy search of one article: candidate windows by C alignment, refined, then guarded."""

    def __init__(self, text: str, folded: _Folded, vocab: frozenset[str], threshold: float):
        self.text, self.folded, self.vocab, self.threshold = text, folded, vocab, threshold

    def fuzzy(self, quote: str, lo: int, hi: int, limit: int) -> list[_Hit]:
        """Guarded matches of `quote` (soft-normalised) in folded[lo:hi], best first."""
        nquote = _fold_quote(quote)
        refined = []
        for start, end in self._windows(nquote, lo, hi, limit):
            span = _refine(nquote, self.folded.text, start, end)
            if span is not None and span[2] >= self.threshold:
                refined.append(span)
        refined.sort(key=lambda s: -s[2])
        hits: list[_Hit] = []
        rejected: list[Span] = []
        for nstart, nend, score in refined:
            start, end = strip_span(
                self.text, self.folded.starts[nstart], self.folded.ends[nend - 1]
            )
            if start >= end or any(h.start == start and h.end == end for h in hits):
                continue
            # A worse alignment overlapping a rejected one is the same passage read more
            # loosely (say, without the "not" the quote dropped): it must not sneak through.
            if any(start < b and a < end for a, b in rejected):
                continue
            if not (
                edges_agree(nquote, self.folded.text[nstart:nend])
                and agrees(quote, self.text[start:end], self.vocab)
            ):
                rejected.append((start, end))
                continue
            hits.append(_Hit(start, end, nstart, nend, score))
        return hits

    def _windows(self, nquote: str, lo: int, hi: int, limit: int) -> list[Span]:
        """Up to `limit` disjoint raw windows, best first, that align with the quote."""
        from rapidfuzz import fuzz

        ntext, size = self.folded.text, len(nquote)
        cutoff = self.threshold - _RAW_SLACK
        # Similarity >= cutoff needs at least this many characters on the text side.
        shortest = int(size * cutoff / (200 - cutoff))

        def align(a: int, b: int) -> tuple[float, int, int, int, int] | None:
            if b - a < max(shortest, 1):
                return None
            piece = ntext[a:b]
            if b - a <= size:
                score = fuzz.ratio(nquote, piece, score_cutoff=cutoff)
                return (-score, a, b, a, b) if score else None
            found = fuzz.partial_ratio_alignment(nquote, piece, score_cutoff=cutoff)
            if found is None:
                return None
            return (-found.score, a + found.dest_start, a + found.dest_end, a, b)

        heap: list[tuple[float, int, int, int, int]] = []
        out: list[Span] = []
        first = align(lo, hi)
        if first is not None:
            heap.append(first)
        while heap and len(out) < limit:
            _, start, end, a, b = heapq.heappop(heap)
            out.append((start, end))
            for piece in ((a, start), (end, b)):
                found = align(*piece)
                if found is not None:
                    heapq.heappush(heap, found)
        return out


def _is_start(text: str, p: int) -> bool:
    if p >= len(text) or text[p].isspace():
        return False
    return p == 0 or text[p - 1].isspace() or (text[p].isalnum() and not text[p - 1].isalnum())


def _is_end(text: str, p: int) -> bool:
    if p <= 0 or text[p - 1].isspace():
        return False
    return p == len(text) or text[p].isspace() or (text[p - 1].isalnum() and not text[p].isalnum())


def _refine(nquote: str, ntext: str, start: int, end: int) -> tuple[int, int, float] | None:
    """Move a raw window's ends to the word boundaries nearby that best match the whole quote."""
    from rapidfuzz import fuzz

    # A similarity of 90 allows the span to differ in length by ~20%; look that far and a bit.
    reach = len(nquote) // 4 + 8
    n = len(ntext)
    starts = [
        p for p in range(max(0, start - reach), min(n, start + reach) + 1) if _is_start(ntext, p)
    ]
    ends = [p for p in range(max(0, end - reach), min(n, end + reach) + 1) if _is_end(ntext, p)]
    if not starts or not ends:
        return None
    best_start = min(starts, key=lambda p: abs(p - start))
    best_end = min(ends, key=lambda p: abs(p - end))
    best = fuzz.ratio(nquote, ntext[best_start:best_end]) if best_start < best_end else 0.0
    for _ in range(2):  # coordinate ascent, starts then ends, twice: settles in practice
        for p in starts:
            if p < best_end and (score := fuzz.ratio(nquote, ntext[p:best_end])) > best:
                best, best_start = score, p
        for p in ends:
            if p > best_start and (score := fuzz.ratio(nquote, ntext[best_start:p])) > best:
                best, best_end = score, p
    if best_start >= best_end:
        return None
    return best_start, best_end, best


def _chain(fragments: list[str], search: _Search, prefer: Sequence[Span]) -> _Hit | None:
    """Each fragment of an elided quote, in order and close together, or None."""
    text, folded = search.text, search.folded
    n = len(folded.text)
    nfragments = [_fold_quote(f) for f in fragments]
    firsts = _fragment_hits(fragments[0], nfragments[0], search, 0, n)
    best: tuple[tuple[int, int, int], _Hit] | None = None
    for first in firsts:
        chain = [first]
        for fragment, nfragment in zip(fragments[1:], nfragments[1:], strict=True):
            prev = chain[-1]
            hi = min(n, prev.nend + MAX_GAP + len(nfragment) * 5 // 4 + 2)
            nexts = _fragment_hits(fragment, nfragment, search, prev.nend, hi, after=prev)
            if not nexts:
                break
            chain.append(nexts[0])
        else:
            # An elision may skip words, names and figures, never a negation.
            gaps = (facts(soft(text[a.end : b.start])) for a, b in pairwise(chain))
            if any(fact.startswith("!") for facts in gaps for fact in facts):
                continue
            start, end = chain[0].start, chain[-1].end
            key = (-_rank(start, end, prefer), end - start, start)
            if best is None or key < best[0]:
                score = min(h.score for h in chain)
                best = (key, _Hit(start, end, chain[0].nstart, chain[-1].nend, score))
    return None if best is None else best[1]


def _fragment_hits(
    fragment: str, nfragment: str, search: _Search, lo: int, hi: int, after: _Hit | None = None
) -> list[_Hit]:
    """Where one fragment may be: every candidate for the first fragment; for a later one (`after`
    the previous), the nearest exact-after-normalising one, else the best fuzzy one."""

    def fits(hit: _Hit) -> bool:
        return after is None or (hit.start >= after.end and hit.nstart - after.nend <= MAX_GAP)

    limit = 50 if after is None else 1
    hits = []
    for hit in _normal_hits(nfragment, search.text, search.folded, lo, hi):
        if fits(hit):
            hits.append(hit)
            if len(hits) >= limit:
                break
    if _fuzzable(fragment) and (after is None or not hits):
        seen = {(h.start, h.end) for h in hits}
        for hit in search.fuzzy(fragment, lo, hi, _CANDIDATES if after is None else 2):
            if (hit.start, hit.end) not in seen and fits(hit):
                hits.append(hit)
    return hits
