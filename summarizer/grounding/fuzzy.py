"""Pure: fuzzy matches of a quote in an article: candidate windows by C alignment, refined to
word boundaries, then guarded (numbers, dates, names and negations must agree); elided quotes
("a ... b") matched fragment by fragment."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from itertools import pairwise

from summarizer.grounding.folding import (
    Folded,
    Hit,
    Span,
    fold_quote,
    fuzzable,
    normal_hits,
    rank,
)
from summarizer.grounding.guard import agrees, edges_agree, facts, soft, substitution
from summarizer.words import strip_span

# How far apart two fragments of an elided quote ("a ... b") may be, in characters.
MAX_GAP = 300
# Fuzzy alignments examined per search, and how far below the threshold a raw window may score
# before its boundaries are refined to whole words.
CANDIDATES = 4
_RAW_SLACK = 10.0


class Search:
    """Fuzzy search of one article: candidate windows by C alignment, refined, then guarded."""

    def __init__(self, text: str, folded: Folded, vocab: frozenset[str], threshold: float):
        self.text, self.folded, self.vocab, self.threshold = text, folded, vocab, threshold

    def fuzzy(self, quote: str, lo: int, hi: int, limit: int) -> list[Hit]:
        """Guarded matches of `quote` (soft-normalised) in folded[lo:hi], best first."""
        nquote = fold_quote(quote)
        refined = []
        for start, end in self._windows(nquote, lo, hi, limit):
            span = _refine(nquote, self.folded.text, start, end)
            if span is not None and span[2] >= self.threshold:
                refined.append(span)
        refined.sort(key=lambda s: -s[2])
        hits: list[Hit] = []
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
            nspan = self.folded.text[nstart:nend]
            if not (
                edges_agree(nquote, nspan)
                and substitution(nquote, nspan) is None
                and agrees(quote, self.text[start:end], self.vocab)
            ):
                rejected.append((start, end))
                continue
            hits.append(Hit(start, end, nstart, nend, score))
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


def chain(fragments: list[str], search: Search, prefer: Sequence[Span]) -> Hit | None:
    """Each fragment of an elided quote, in order and close together, or None."""
    text, folded = search.text, search.folded
    n = len(folded.text)
    nfragments = [fold_quote(f) for f in fragments]
    firsts = fragment_hits(fragments[0], nfragments[0], search, 0, n)
    best: tuple[tuple[int, int, int], Hit] | None = None
    for first in firsts:
        chain = [first]
        for fragment, nfragment in zip(fragments[1:], nfragments[1:], strict=True):
            prev = chain[-1]
            hi = min(n, prev.nend + MAX_GAP + len(nfragment) * 5 // 4 + 2)
            nexts = fragment_hits(fragment, nfragment, search, prev.nend, hi, after=prev)
            if not nexts:
                break
            chain.append(nexts[0])
        else:
            # An elision may skip words, names and figures, never a negation.
            gaps = (facts(soft(text[a.end : b.start])) for a, b in pairwise(chain))
            if any(fact.startswith("!") for facts in gaps for fact in facts):
                continue
            start, end = chain[0].start, chain[-1].end
            key = (-rank(start, end, prefer), end - start, start)
            if best is None or key < best[0]:
                score = min(h.score for h in chain)
                best = (key, Hit(start, end, chain[0].nstart, chain[-1].nend, score))
    return None if best is None else best[1]


def fragment_hits(
    fragment: str, nfragment: str, search: Search, lo: int, hi: int, after: Hit | None = None
) -> list[Hit]:
    """Where one fragment may be: every candidate for the first fragment; for a later one (`after`
    the previous), the nearest exact-after-normalising one, else the best fuzzy one."""

    def fits(hit: Hit) -> bool:
        return after is None or (hit.start >= after.end and hit.nstart - after.nend <= MAX_GAP)

    limit = 50 if after is None else 1
    hits = []
    for hit in normal_hits(nfragment, search.text, search.folded, lo, hi):
        if fits(hit):
            hits.append(hit)
            if len(hits) >= limit:
                break
    if fuzzable(fragment) and (after is None or not hits):
        seen = {(h.start, h.end) for h in hits}
        for hit in search.fuzzy(fragment, lo, hi, CANDIDATES if after is None else 2):
            if (hit.start, hit.end) not in seen and fits(hit):
                hits.append(hit)
    return hits
