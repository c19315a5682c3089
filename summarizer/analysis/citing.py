"""A reply's quotes -> verified citations: what the model is asked to cite (QuoteRef), and the
grounders that locate each quote in the stored text and count what survives."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from summarizer.grounding import cite
from summarizer.models import Article, Chunk, Citation, Counts, Outcome, Support

if TYPE_CHECKING:
    from summarizer.analysis.windows import Segment

# A citation quotes at least this many words: shorter ones support nothing checkable.
MIN_QUOTE_WORDS = 3
# Quotes asked for per statement, at most: a bound in every reply schema, against loops.
MAX_CITATIONS = 3


def outcome(
    counts: Counts, what: str, backed_by: str = "the article supports"
) -> tuple[Outcome, str | None]:
    """ "ok" when a statement backed by its quotes is shown; else what the model gave instead,
    in one line: "the model gave no claims that the article supports: 3 given, 3 without a
    quote found; quotes: 0 found, 4 not found"."""
    usable = counts.verified - counts.unsupported - counts.unsupported_kept
    if usable > 0:
        return "ok", None
    if counts.produced == 0:
        return "nothing_given", f"the model gave no {what}"
    parts = [f"{counts.produced} given"]
    without = counts.dropped + counts.unverified_kept
    if without:
        parts.append(f"{without} without a quote found")
    unsupported = counts.unsupported + counts.unsupported_kept
    if unsupported:
        parts.append(f"{unsupported} not backed by {'its' if unsupported == 1 else 'their'} quotes")
    return "nothing_supported", (
        f"the model gave no {what} that {backed_by}: {', '.join(parts)}; quotes: "
        f"{counts.quotes_verified} found, {counts.quotes_dropped} not found"
    )


class QuoteRef(BaseModel):
    segment_id: str = Field(description='the id of the segment quoted, like "s3"')
    quote: str = Field(description="words copied exactly from that segment")


def cites() -> Any:
    # minItems guides the model; a point with no citation is dropped in code, not re-asked.
    return Field(default_factory=list, json_schema_extra={"minItems": 1, "maxItems": MAX_CITATIONS})


def at_most(n: int, *, optional: bool = False) -> Any:
    """A list field of a reply schema with at most `n` items: a model that would go on (a small
    one repeating an item until num_predict) is held to it by the server's grammar; longer
    lists are still accepted, and cut in code. Required unless `optional`."""
    if optional:
        return Field(default_factory=list, json_schema_extra={"maxItems": n})
    return Field(json_schema_extra={"maxItems": n})


class PointReply(BaseModel):
    text: str
    citations: list[QuoteRef] = cites()


class Grounder:
    """Locates a reply's quotes and counts what survives; subclasses say where to look."""

    def __init__(self) -> None:
        self.counts = Counts()

    def find(self, ref: QuoteRef) -> Citation | None:
        raise NotImplementedError

    def ground(self, refs: Sequence[QuoteRef]) -> tuple[list[Citation], list[str]]:
        """Verified citations (deduplicated, in text order) and the quotes that were not found.

        A quote of fewer than MIN_QUOTE_WORDS words is never a citation: "Binance" is in the
        article, but it supports nothing a person could check.
        """
        found: dict[tuple[str, int, int], Citation] = {}
        missing: list[str] = []
        for ref in refs:
            self.counts.quotes_produced += 1
            long_enough = len(ref.quote.split()) >= MIN_QUOTE_WORDS
            citation = self.find(ref) if long_enough else None
            if citation is None:
                self.counts.quotes_dropped += 1
                missing.append(ref.quote)
            else:
                self.counts.quotes_verified += 1
                found.setdefault((citation.article_id, citation.start, citation.end), citation)
        return [found[k] for k in sorted(found)], missing

    def keep(
        self, citations: Sequence[Citation], keep_unverified: bool, support: Support | None = None
    ) -> bool:
        """Count a statement; whether to show it: with a verified citation and not unsupported
        by it, or anyway when asked to keep the unverified (then marked)."""
        self.counts.produced += 1
        if not citations:
            if keep_unverified:
                self.counts.unverified_kept += 1
                return True
            self.counts.dropped += 1
            return False
        self.counts.verified += 1
        verdict = support.verdict if support is not None else None
        if verdict == "unsupported":
            if keep_unverified:
                self.counts.unsupported_kept += 1
                return True
            self.counts.unsupported += 1
            return False
        if verdict == "partial":
            self.counts.partial += 1
        elif verdict == "supported":
            self.counts.supported += 1
        return True


class ArticleGrounder(Grounder):
    """Quotes of one article, found anywhere in it, in the cited segment first."""

    def __init__(self, article: Article, chunks: Sequence[Chunk], segments: Sequence[Segment]):
        super().__init__()
        self.article = article
        self.spans = [(c.id, c.start, c.end) for c in chunks]
        self.by_id = {s.id: (s.start, s.end) for s in segments}

    def find(self, ref: QuoteRef) -> Citation | None:
        prefer = [self.by_id[ref.segment_id]] if ref.segment_id in self.by_id else []
        found = cite(self.article.id, self.article.text, self.spans, ref.quote, prefer)
        return found and found.model_copy(update={"content_hash": self.article.content_hash})
