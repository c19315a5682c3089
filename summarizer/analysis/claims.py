"""The factual claims of one article: segments -> prompt windows -> model -> grounding -> merge.

Every quote is located in the stored article text; a claim without a verified quote is dropped
(or, when asked, kept and marked unverified). Claims from overlapping windows are merged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel

from summarizer.analysis import prompts
from summarizer.analysis.checking import Source, Statement, check_statements
from summarizer.analysis.citing import ArticleGrounder, QuoteRef, at_most, cites, outcome
from summarizer.analysis.windows import (
    CallLog,
    Segment,
    fenced,
    per_window,
    plan_article_windows,
    provenance,
    render_segments,
    segments_of,
)
from summarizer.grounding import VERDICT_RANK
from summarizer.models import Article, Chunk, Claim, ClaimKind, ClaimSet, Support

if TYPE_CHECKING:
    from summarizer.llm import Ollama

MAX_CLAIMS = 15
# Near-duplicate claims from overlapping windows: token-set similarity of the statements.
DUPLICATE_SIMILARITY = 88.0


class ClaimReply(BaseModel):
    statement: str
    kind: ClaimKind
    asserted_by: str
    hedged: bool
    date: str | None = None
    place: str | None = None
    citations: list[QuoteRef] = cites()


class ClaimsReply(BaseModel):
    claims: list[ClaimReply] = at_most(MAX_CLAIMS)


def extract_claims(
    llm: Ollama,
    article: Article,
    chunks: Sequence[Chunk],
    *,
    keep_unverified: bool = False,
) -> ClaimSet:
    """The article's factual claims, each with verified citations; duplicates across windows
    merged."""
    prompt = prompts.load("claims")
    segments = segments_of(article.text)
    grounder = ArticleGrounder(article, chunks, segments)
    calls = CallLog()
    title = fenced(article.title, "article")
    windows = plan_article_windows(
        llm, prompt, segments, calls, title=title, max_claims=str(MAX_CLAIMS)
    )

    def run(window: list[Segment]) -> ClaimsReply:
        return calls.run(
            llm,
            ClaimsReply,
            prompt,
            title=title,
            segments=render_segments(window),
            max_claims=str(MAX_CLAIMS),
        )

    replies = per_window(run, windows)
    claims: list[Claim] = []
    for _, reply in replies:
        for c in reply.claims:
            citations, missing = grounder.ground(c.citations)
            claims.append(
                Claim(
                    **c.model_dump(exclude={"citations"}),
                    citations=citations,
                    verified=bool(citations),
                    unverified_quotes=missing if keep_unverified else [],
                )
            )
    statements = [Statement(c.statement, c.citations) for c in claims]
    sources = {article.id: Source(article.text, article.title)}
    check_statements(llm, calls, statements, sources, llm.settings.support)
    kept = [
        c.model_copy(update={"support": s.support})
        for c, s in zip(claims, statements, strict=True)
        if grounder.keep(c.citations, keep_unverified, s.support)
    ]
    said, message = outcome(grounder.counts, "claims")
    return ClaimSet(
        **provenance(llm, article, prompt, calls, len(replies)),
        claims=merge_claims(kept),
        counts=grounder.counts,
        outcome=said,
        outcome_message=message,
    )


def merge_claims(claims: list[Claim]) -> list[Claim]:
    """Drop near-duplicate claims (from overlapping windows), keeping every citation once.

    Two claims are the same when their statements are nearly the same words in the same order
    with the same numbers, dates and negations ("will not freeze" is never "will freeze"), or
    when they cite exactly the same passages.
    """
    from rapidfuzz import fuzz

    from summarizer.grounding import facts

    def same(a: Claim, b: Claim) -> bool:
        if a.citations and {(c.start, c.end) for c in a.citations} == {
            (c.start, c.end) for c in b.citations
        }:
            return True
        x, y = a.statement.lower(), b.statement.lower()
        return fuzz.token_sort_ratio(x, y) >= DUPLICATE_SIMILARITY and facts(x) == facts(y)

    kept: list[Claim] = []
    for claim in claims:
        twin = next((k for k in kept if same(k, claim)), None)
        if twin is None:
            kept.append(claim)
            continue
        spans = {(c.start, c.end): c for c in [*twin.citations, *claim.citations]}
        merged = twin.model_copy(
            update={
                "citations": [spans[k] for k in sorted(spans)],
                "verified": twin.verified or claim.verified,
                "support": _better(twin.support, claim.support),
            }
        )
        kept[kept.index(twin)] = merged
    return kept


def _better(a: Support | None, b: Support | None) -> Support | None:
    """The verdict of the better-backed twin: either one's quotes are now the claim's."""
    if a is None or b is None:
        return a or b
    return a if VERDICT_RANK[a.verdict] >= VERDICT_RANK[b.verdict] else b
