"""Grounding, pure: every quote a model gives is located in the stored text and pinned to a span.

`locate` finds a quote exactly, then after normalising both sides (folding), then by a guarded
fuzzy alignment (fuzzy) that forgives spacing, punctuation, spelling slips and elisions but never a
different number, date, name or negation (guard). `cite` turns what it found into a Citation whose
quote is always `text[start:end]`: the article's own words, never the model's. `check_support`
(support) then judges whether a statement says what its quotes say.
"""

from summarizer.grounding.details import Evidence
from summarizer.grounding.folding import fold_article
from summarizer.grounding.fuzzy import MAX_GAP
from summarizer.grounding.guard import facts, vocabulary
from summarizer.grounding.locate import (
    DEFAULT_THRESHOLD,
    GroundingStats,
    Located,
    chunk_for,
    cite,
    locate,
)
from summarizer.grounding.support import (
    VERDICT_RANK,
    Verdict,
    check_support,
    sentence_around,
    sentences,
    worst_verdict,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "MAX_GAP",
    "VERDICT_RANK",
    "Evidence",
    "GroundingStats",
    "Located",
    "Verdict",
    "check_support",
    "chunk_for",
    "cite",
    "clear_caches",
    "facts",
    "fold_article",
    "locate",
    "sentence_around",
    "sentences",
    "worst_verdict",
]


def clear_caches() -> None:
    """Forget the articles folded and the vocabularies read so far (for timing a cold start)."""
    fold_article.cache_clear()
    vocabulary.cache_clear()
