"""The factual claims of one article: numbered sentences -> windows -> model -> citations.

Every claim cites sentences of the article by their ids (held to the prompt's ids by the
server's grammar). A claim its sentences do not back in full - or whose `asserted_by` is not
named in them, the two sentences before them or the title (nor "the publication") - is shown as
those sentences themselves, verbatim and marked as the article's words, with who asserts each as
the sentence says; claims from overlapping windows are merged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel

from summarizer.analysis import prompts
from summarizer.analysis.checking import Source, Statement, check_statements
from summarizer.analysis.citing import (
    ArticleGrounder,
    SentenceRef,
    at_most,
    bounded,
    cites,
    citing_only,
    outcome,
)
from summarizer.analysis.verbatim import ARTICLE_SUPPORT, PUBLICATION, OwnWords, in_place
from summarizer.analysis.windows import (
    CallLog,
    Window,
    article_windows,
    per_window,
    provenance,
)
from summarizer.grounding import VERDICT_RANK, sentence_around
from summarizer.grounding.statements import hedged, names_one_of
from summarizer.llm import json_schema
from summarizer.models import Article, Chunk, Citation, Claim, ClaimKind, ClaimSet, Support

if TYPE_CHECKING:
    from summarizer.llm import Ollama

MAX_CLAIMS = 15
# Near-duplicate claims from overlapping windows: token-set similarity of the statements.
DUPLICATE_SIMILARITY = 88.0
# Sentences before a cited one, and the title, where the one who asserts a claim may be named.
ASSERTER_CONTEXT = 2


class ClaimReply(BaseModel):
    statement: str
    kind: ClaimKind
    asserted_by: str
    hedged: bool
    date: str | None = None
    place: str | None = None
    citations: list[SentenceRef] = cites()


class ClaimsReply(BaseModel):
    claims: list[ClaimReply] = at_most(MAX_CLAIMS, at_least=1)


# Claims asked for at least, the window's sentences allowing: an empty list (or one claim) is the
# easiest reply a small model can give.
MIN_CLAIMS = 3


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
    calls = CallLog(affinity=article.id)
    windows = article_windows(llm, article, calls)
    calls.expect(len(windows))
    segments = [s for w in windows for s in w.segments]
    grounder = ArticleGrounder(article, chunks, segments)
    values = {"max_claims": str(MAX_CLAIMS)}

    def run(window: Window) -> ClaimsReply:
        least = min(MIN_CLAIMS, len(window.ids))
        reply_model: type[ClaimsReply] = bounded(ClaimsReply, "claims", MAX_CLAIMS, least)
        schema = citing_only(json_schema(reply_model), window.ids)
        return calls.run_with(llm, reply_model, prompt, values, window=window, schema=schema)

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
    sources = {article.id: Source.of(article)}
    window = windows[0] if len(windows) == 1 else None
    check_statements(llm, calls, statements, sources, llm.settings.support, window=window)
    claims = [
        c.model_copy(update={"support": _attributed(c, s.support, article)})
        for c, s in zip(claims, statements, strict=True)
    ]
    own = OwnWords(article, segments, grounder.spans)
    kept = in_place(claims, grounder, own, keep_unverified, lambda c, s: _as_claim(c, s, own))
    said, message = outcome(grounder.counts, "claims")
    return ClaimSet(
        **provenance(llm, article, prompt, calls, len(replies)),
        claims=merge_claims(kept),
        counts=grounder.counts,
        outcome=said,
        outcome_message=message,
    )


def _attributed(claim: Claim, support: Support | None, article: Article) -> Support | None:
    """The claim's verdict, unsupported when who asserts it is neither the publication nor
    named in its sentences, the two before them or the title."""
    if support is None or support.verdict == "unsupported" or not claim.citations:
        return support
    who = claim.asserted_by.strip()
    if not who or who.lower() in (PUBLICATION, "publication", "the article", "the author"):
        return support
    context = [article.title] + [
        sentence_around(article.text, c.start, c.end, before=ASSERTER_CONTEXT)
        for c in claim.citations
    ]
    if names_one_of(who, context) or re.search(rf"\b{re.escape(who)}\b", " ".join(context), re.I):
        return support
    return Support(
        verdict="unsupported",
        method=support.method,
        unbacked=[*support.unbacked, who],
        reasons=[*support.reasons, f"{who!r}, who it says asserts it, is not named there"],
    )


def _as_claim(claim: Claim, sentence: Citation, own: OwnWords) -> Claim | None:
    """The article's own sentence shown in place of a claim it does not back in full, with who
    asserts it as the sentence says (None when someone it does not name nearby speaks in it)."""
    who = own.asserted_by(sentence, claim.asserted_by)
    if who is None:
        return None
    return claim.model_copy(
        update={
            "statement": sentence.quote,
            "kind": _kind(claim.kind, sentence.quote),
            "asserted_by": who,
            # What the sentence says of itself, not what the model said of its own statement.
            "hedged": hedged(sentence.quote),
            "date": None,
            "place": None,
            "citations": [sentence],
            "unverified_quotes": [],
            "support": ARTICLE_SUPPORT,
            "statement_source": "article",
        }
    )


def _kind(given: ClaimKind, sentence: str) -> ClaimKind:
    """The model's kind of claim, where the sentence can be of it: a statistic has a figure, a
    direct quote quotation marks; else a reported fact."""
    if given == "statistic" and not any(ch.isdigit() for ch in sentence):
        return "reported_fact"
    if given == "direct_quote" and not any(q in sentence for q in '"“”‘'):
        return "reported_fact"
    return given


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
