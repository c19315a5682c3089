"""Pure: text normalised for matching, with a map back to the original offsets, and the
word-aligned occurrences of a normalised quote in it."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import NamedTuple

from summarizer.grounding.guard import TYPOGRAPHY, WORD
from summarizer.words import strip_span

Span = tuple[int, int]

# Shorter quotes match too many places to be fuzzed: exact or normalised only.
MIN_FUZZY_CHARS = 15
MIN_FUZZY_WORDS = 3
# Occurrences of one string examined before giving up on finding a preferred one.
MAX_OCCURRENCES = 200

# What the fast path cannot copy as is: white space other than one plain space, non-ASCII, an
# ASCII letter carrying a combining mark (decomposed accents must compose as NFKC would).
_SPECIAL = re.compile(r"\s{2,}|[^\S ]|[^\x00-\x7f]|[\x00-\x7f](?=[\u0300-\u036f])")
ELLIPSIS = re.compile(r"\s*(?:\[\s*\.{2,}\s*\]|\(\s*\.{2,}\s*\)|\.{3,})\s*")
_OUTER = " \n\"'.,;:"


class Folded(NamedTuple):
    """Normalised text; `starts[i]:ends[i]` is the original span character i came from."""

    text: str
    starts: list[int]
    ends: list[int]


def fold(text: str) -> Folded:
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
    return Folded("".join(parts), starts, ends)


@lru_cache(maxsize=4)
def fold_article(text: str) -> Folded:
    # Callers locate many quotes in one article at a time: fold it once. (~1.5 MB of offsets
    # for a 20,000-character article, hence only a few.)
    return fold(text)


def fold_quote(quote: str) -> str:
    return fold(quote).text.strip()


def strip_outer(text: str) -> str:
    """Without the quotation marks and end punctuation a model often wraps a quote in."""
    return text.strip(_OUTER)


def has_word(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def fuzzable(text: str) -> bool:
    return len(text) >= MIN_FUZZY_CHARS and len(WORD.findall(text)) >= MIN_FUZZY_WORDS


# --- exact and normalised matches ------------------------------------------------------------


class Hit(NamedTuple):
    start: int  # span of the original text
    end: int
    nstart: int  # span of the folded text
    nend: int
    score: float


def aligned(text: str, start: int, end: int) -> bool:
    """True when the span cuts no word in two."""
    if start > 0 and text[start - 1].isalnum() and text[start].isalnum():
        return False
    return not (end < len(text) and text[end - 1].isalnum() and text[end].isalnum())


def rank(start: int, end: int, prefer: Sequence[Span]) -> int:
    """2 inside a preferred span, 1 overlapping one, 0 elsewhere."""
    if any(lo <= start and end <= hi for lo, hi in prefer):
        return 2
    return 1 if any(start < hi and lo < end for lo, hi in prefer) else 0


def normal_hits(nquote: str, text: str, folded: Folded, lo: int, hi: int) -> Iterable[Hit]:
    """Word-aligned occurrences of a folded quote within folded[lo:hi], in original offsets."""
    if not nquote:
        return
    i = folded.text.find(nquote, lo, hi)
    for _ in range(MAX_OCCURRENCES):
        if i < 0:
            return
        end = i + len(nquote)
        start, stop = strip_span(text, folded.starts[i], folded.ends[end - 1])
        if start < stop and aligned(text, start, stop):
            yield Hit(start, stop, i, end, 100.0)
        i = folded.text.find(nquote, i + 1, hi)
