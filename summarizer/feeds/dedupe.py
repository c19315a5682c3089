"""Pure: is this article text the same story as one already seen?

A text is cut into shingles (runs of 5 words, lower-cased, punctuation ignored) and every shingle
whose 64-bit hash is divisible by 8 is kept. Two texts keep the same sample of what they share, so
the share of the smaller sample found in the other estimates containment: how much of the shorter
text is in the longer one. Syndicated copies (another headline, a byline, a trimmed ending, a few
edited words) score 0.65 and above; different stories on the same subject stay below 0.4.

But items of one templated feed share most of their words (release notes, changesets): two texts
whose titles carry other figures ("PostGIS 3.5.0" / "PostGIS 3.5.0beta1"), or whose shorter text
has a figure the other lacks, are two stories however alike their words.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from summarizer.words import TOKEN

SHINGLE_WORDS = 5
SAMPLE_MODULUS = 8
# Containment at or above this is the same story.
SAME_STORY = 0.6
# Too few sampled shingles give no reliable estimate (a text of under ~60 words): such texts are
# only matched by their exact content hash.
MIN_SAMPLE = 6


def _hash(shingle: str) -> int:
    digest = hashlib.blake2b(shingle.encode("utf-8"), digest_size=8).digest()
    # Signed, so that it fits SQLite's INTEGER.
    return int.from_bytes(digest, "big", signed=True)


def shingle_sample(text: str) -> frozenset[int]:
    """The sampled shingle hashes of `text` (empty for a text too short to have any)."""
    words = TOKEN.findall(text.lower())
    if len(words) < SHINGLE_WORDS:
        return frozenset()
    sample = set()
    for i in range(len(words) - SHINGLE_WORDS + 1):
        h = _hash(" ".join(words[i : i + SHINGLE_WORDS]))
        if h % SAMPLE_MODULUS == 0:
            sample.add(h)
    return frozenset(sample)


def containment(shared: int, size_a: int, size_b: int) -> float:
    """The estimated share of the shorter text found in the other, from their samples."""
    smaller = min(size_a, size_b)
    return shared / smaller if smaller else 0.0


def same_story(shared: int, size_a: int, size_b: int) -> bool:
    """Whether two samples of these sizes that share `shared` hashes are one story."""
    if min(size_a, size_b) < MIN_SAMPLE:
        return False
    return containment(shared, size_a, size_b) >= SAME_STORY


def best_match(
    sample: frozenset[int], candidates: Iterable[tuple[int, int, int]]
) -> tuple[int, float] | None:
    """The candidate (id, containment) most like `sample`, if it is the same story.

    `candidates` are (id, shared hashes, sample size) rows, as an inverted index gives them.
    """
    best: tuple[int, float] | None = None
    for cid, shared, size in candidates:
        if not same_story(shared, len(sample), size):
            continue
        score = containment(shared, len(sample), size)
        if best is None or score > best[1] or (score == best[1] and cid < best[0]):
            best = (cid, score)
    return best


# A figure: a run of characters with a digit in it ("3.5.0beta1", "159552580", "£50bn", "2,400").
_FIGURE = re.compile(r"[^\s(),;:!?\"'“”‘’]*\d[^\s(),;:!?\"'“”‘’]*")


def figures(text: str) -> set[str]:
    """The figures of a text, lower-cased, without the full stop or comma that ends a sentence."""
    return {f.lower().rstrip(".,") for f in _FIGURE.findall(text)}


def other_figures(title_a: str, text_a: str, title_b: str, text_b: str) -> bool:
    """Whether two texts alike in words are two stories by their figures: each title has
    figures the other lacks ("3.5.0" / "3.5.0beta1"; a copy's own headline may say "three" for
    "3" or add "Updated 14:05"), or the shorter text has one the longer lacks (a trimmed copy
    keeps the figures it has)."""
    a, b = figures(title_a), figures(title_b)
    if a - b and b - a:
        return True
    shorter, longer = sorted((text_a, text_b), key=len)
    return bool(figures(shorter) - figures(longer))
