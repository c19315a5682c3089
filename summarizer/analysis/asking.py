"""Questions over the corpus and corroboration of claims: retrieve passages, ask the model, and
keep only what the retrieved passages verifiably say."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from summarizer.analysis import prompts
from summarizer.analysis.checking import (
    Statement,
    check_statements,
    composed,
    joined_support,
    recheck,
    rules,
)
from summarizer.analysis.citing import (
    PointReply,
    QuoteRef,
    at_most,
    citing_only,
    outcome,
)
from summarizer.analysis.claims import MAX_CLAIMS
from summarizer.analysis.passages import (
    PassageGrounder,
    fit,
    passage,
    passages_shown,
    quoted_passages,
    text_of,
)
from summarizer.analysis.windows import CallLog, fenced
from summarizer.errors import ContextOverflow, DegenerateReply, InvalidReply, OutputTruncated
from summarizer.grounding import sentences
from summarizer.llm import json_schema
from summarizer.models import (
    Answer,
    AnswerPoint,
    Citation,
    ClaimSet,
    Conflict,
    Corroboration,
    Outcome,
    RetrievedSource,
)

if TYPE_CHECKING:
    from summarizer.corpus import Filters, Retrieved, Retriever
    from summarizer.llm import Ollama

NOT_FOUND = "The corpus does not say."
# The model answered, but nothing of its answer is backed by the passages: not "the corpus does
# not say" (the retrieved passages may well say it), but that the model's answer is not shown.
NO_ANSWER = "The model gave no answer that the retrieved passages back."
# The model found no answer, but passages match the question: said, and the best of them shown.
NOT_ANSWERED = "The model found no answer in the passages retrieved."
# A passage (with its article's title) that holds this share of the question's words, two of
# them at least, matches it: only when none does is "the corpus does not say" said. Chosen on
# the written questions of the retrieval benchmark: 85% of the passages holding their answers
# hold a quarter of their words, 4% of the best passage of another article does (a passage
# shown in vain costs a reader a glance; "the corpus does not say" said wrongly, the answer).
MATCHING_SHARE = 0.25
SHOWN_PASSAGES = 3
CORROBORATION_PASSAGES = 3
# The answer's lists, at most (bounds in the reply schema).
MAX_POINTS, MAX_CONFLICTS, MAX_SIDES = 6, 3, 3
# Reranking (`--rerank`): the model orders a shortlist of twice the passages asked for (10 to
# 20), reading each passage's title and first words; its reply is a short list of ids.
SHORTLIST = (10, 20)
RERANK_WORDS = 60
RERANK_REPLY_TOKENS = 200
KEPT = "the fused order is kept"


class ConflictReply(BaseModel):
    topic: str
    sides: list[PointReply] = at_most(MAX_SIDES)


class AnswerReply(BaseModel):
    found: bool
    answer: str
    points: list[PointReply] = at_most(MAX_POINTS)
    conflicts: list[ConflictReply] = at_most(MAX_CONFLICTS, optional=True)


class SupportReply(BaseModel):
    claim: int = Field(ge=1, description="the claim's number, e.g. 2 for Claim 2")
    segment_id: str = Field(description='the id of the passage, like "c3"')
    quote: str = Field(description="words copied exactly from that passage")


class CorroborateReply(BaseModel):
    supports: list[SupportReply] = at_most(MAX_CLAIMS * CORROBORATION_PASSAGES)


class RerankReply(BaseModel):
    segment_ids: list[str] = at_most(SHORTLIST[1])


def _statement(grounder: PassageGrounder, reply: PointReply) -> Statement:
    citations, _ = grounder.ground(reply.citations)
    return Statement(reply.text, citations)


def _point(grounder: PassageGrounder, s: Statement) -> AnswerPoint | None:
    if not grounder.keep(s.citations, keep_unverified=False, support=s.support):
        return None
    return AnswerPoint(text=s.text, citations=list(s.citations), support=s.support)


def shortlist(k: int) -> int:
    """How many passages are retrieved for the model to rerank when `k` are wanted: twice `k`,
    10 to 20, and never fewer than `k`."""
    low, high = SHORTLIST
    return max(k, min(high, max(low, 2 * k)))


def _shortlist_lines(retrieved: Sequence[Retrieved]) -> str:
    lines = []
    for i, r in enumerate(retrieved, 1):
        words = r.chunk.text.split()
        text = " ".join(words[:RERANK_WORDS]) + (" …" if len(words) > RERANK_WORDS else "")
        lines.append(f"[c{i}] {fenced(r.article.title, 'passages')}: {fenced(text, 'passages')}")
    return "\n".join(lines)


def rerank(
    llm: Ollama, question: str, retrieved: list[Retrieved], calls: CallLog
) -> list[Retrieved]:
    """`retrieved` in the model's order: the passages it names as helping to answer `question`
    first, in its order (their `model_rank`), then the others in the fused order. A reply it
    could not make usable (invalid, looping, cut, naming no passage) or a shortlist of which not
    one passage fits leaves the fused order, with a warning in `calls` (as is a shortlist only
    partly shown); an unreachable server or a missing model is an error."""
    if len(retrieved) < 2:
        return retrieved
    prompt = prompts.load("rerank")
    try:
        shown = fit(
            llm,
            prompt,
            retrieved,
            shown=_shortlist_lines,
            reply_tokens=RERANK_REPLY_TOKENS,
            question=question,
        )
        values = {"passages": _shortlist_lines(shown), "question": question}
        reply = calls.run_with(llm, RerankReply, prompt, values, reply_tokens=RERANK_REPLY_TOKENS)
    except (ContextOverflow, InvalidReply, DegenerateReply, OutputTruncated) as e:
        calls.note(f"reranking: {e.message}; {KEPT}")
        return retrieved
    if len(shown) < len(retrieved):
        calls.note(
            f"reranking: only {len(shown)} of the {len(retrieved)} passages fit the model's "
            "context; the others follow in the fused order"
        )
    by_id = {f"c{i}": r for i, r in enumerate(shown, 1)}
    named = dict.fromkeys(s.strip().strip("[]").lower() for s in reply.segment_ids)
    picked = [by_id[i] for i in named if i in by_id]
    if not picked:
        calls.note(f"reranking: the model named none of the passages; {KEPT}")
        return retrieved
    first = {r.chunk.id for r in picked}
    ordered = [replace(r, model_rank=n) for n, r in enumerate(picked, 1)]
    return ordered + [r for r in retrieved if r.chunk.id not in first]


def reranked_search(
    llm: Ollama,
    retriever: Retriever,
    question: str,
    k: int,
    calls: CallLog,
    filters: Filters | None = None,
) -> list[Retrieved]:
    """The model's first `k` of the shortlist retrieved for `question`."""
    return rerank(llm, question, retriever.search(question, shortlist(k), filters), calls)[:k]


def ask(
    llm: Ollama,
    retriever: Retriever,
    question: str,
    *,
    k: int = 8,
    filters: Filters | None = None,
    reranked: bool = False,
) -> Answer:
    """A cited answer from the `k` passages retrieved for `question` (with `reranked`, the
    model's first `k` of a longer shortlist), or found=False."""
    prompt = prompts.load("answer")
    calls = CallLog()
    if reranked:
        retrieved = reranked_search(llm, retriever, question, k, calls, filters)
    else:
        retrieved = retriever.search(question, k, filters)
    base: dict[str, Any] = {
        "question": question,
        "model": llm.settings.model,
        "prompt_id": prompt.id,
        "prompt_version": prompt.version,
    }
    if not retrieved:
        return Answer(
            **base,
            answer=f"{NOT_FOUND} No passage matches the question"
            + (" and the filters." if filters is not None and filters.active else "."),
            found=False,
            points=[],
            outcome="not_in_corpus",
        )
    retrieved = fit(llm, prompt, retrieved, question=question)
    grounder = PassageGrounder(retrieved)
    values = {"passages": passages_shown(retrieved), "question": question}
    schema = citing_only(json_schema(AnswerReply), grounder.ids)
    reply = calls.run_with(llm, AnswerReply, prompt, values, schema=schema)
    if not reply.found:
        # The model found no answer: whatever points it gave besides are neither shown nor
        # counted (nor checked).
        reply = reply.model_copy(update={"answer": "", "points": [], "conflicts": []})
    points = [_statement(grounder, r) for r in reply.points]
    # The sides of conflicts are counted apart: the answer's counts are of its points.
    apart = PassageGrounder(retrieved)
    sides = [[_statement(apart, r) for r in c.sides] for c in reply.conflicts]
    everything = sorted(
        {(c.article_id, c.start, c.end): c for p in points for c in p.citations}.values(),
        key=lambda c: (c.article_id, c.start),
    )
    said = [Statement(s, everything) for s in sentences(reply.answer)]
    check_statements(
        llm,
        calls,
        [*said, *points, *(s for group in sides for s in group)],
        grounder.sources(),
        llm.settings.support,
    )
    shown = [_point(grounder, p) for p in points]
    kept = [p for p in shown if p is not None]
    conflicts = []
    for c, group in zip(reply.conflicts, sides, strict=True):
        verified = [s for s in (_point(apart, x) for x in group) if s is not None]
        if len(verified) >= 2:  # one verified side is no disagreement
            conflicts.append(Conflict(topic=c.topic, sides=verified))
    found = reply.found and bool(kept)
    matching = [r for r in retrieved if _matches(question, r)]
    for statement in said:
        recheck(statement, [c for p in kept for c in p.citations], grounder.sources())
    support = joined_support(said) if found else None
    answer_source: Literal["model", "points"] = "model"
    counts = grounder.counts
    came_to: Outcome = "ok"
    message = None
    if found:
        answer = reply.answer
        if support is not None and support.verdict != "supported":
            answer, answer_source = composed(kept), "points"
            if not answer:  # its points only partly backed: no answer to give
                found = False
                came_to = "nothing_supported"
                message = (
                    "the model gave no statements that the retrieved passages fully support: "
                    f"{counts.partial} only partly"
                )
                answer = NO_ANSWER
    elif reply.found:
        came_to, message = outcome(counts, "statements", "the retrieved passages support")
        answer = NO_ANSWER
        if counts.produced == 0:
            why = "it gave no statements with citations"
        elif counts.quotes_verified == 0:
            why = "none of its citations is in the retrieved passages"
        else:
            why = "none of its statements is backed by the passages it cites"
        calls.note(f"the model answered, but {why}")
    elif matching:
        # Passages match the question, and the model found nothing in them: that is said, not
        # that the corpus does not say it (a small model often misses what is there).
        answer, came_to = NOT_ANSWERED, "not_answered"
        message = (
            f"the model found no answer in the {len(retrieved)} passages retrieved; "
            f"the {min(len(matching), SHOWN_PASSAGES)} that best match the question are shown"
        )
    else:
        # Nothing retrieved holds the question's words, and the model found no answer either.
        answer, came_to = NOT_FOUND, "not_in_corpus"
    shown_passages = [] if found else [passage(r) for r in matching[:SHOWN_PASSAGES]]
    return Answer(
        **base,
        answer=answer,
        found=found,
        answer_source=answer_source,
        answer_support=support,
        points=kept if found else [],
        conflicts=conflicts if found else [],
        passages=shown_passages,
        retrieved=[
            RetrievedSource(
                segment_id=f"c{i}",
                article_id=r.article.id,
                chunk_id=r.chunk.id,
                title=r.article.title,
                source=r.article.source,
                date=r.article.date,
                start=r.chunk.start,
                end=r.chunk.end,
                score=r.score,
                model_rank=r.model_rank,
            )
            for i, r in enumerate(retrieved, 1)
        ],
        model_digest=calls.digest,
        calls=calls.calls,
        cached_calls=calls.cached,
        counts=counts,
        warnings=list(dict.fromkeys(calls.warnings or [])),
        outcome=came_to,
        outcome_message=message,
    )


def _matches(question: str, r: Retrieved) -> bool:
    from summarizer.corpus import matched_terms

    held, of = matched_terms(question, text_of(r))
    return of > 0 and held / of >= MATCHING_SHARE and held >= min(2, of)


def corroborate(llm: Ollama, retriever: Retriever, claims: ClaimSet) -> ClaimSet:
    """Each claim with the passages of other articles that report the same, verified."""
    if not claims.claims:
        return claims
    prompt = prompts.load("corroborate")
    exclude = frozenset({claims.article_id})
    retrieved: list[Retrieved] = []
    seen: set[str] = set()
    for claim in claims.claims:
        for r in retriever.search(
            claim.statement, CORROBORATION_PASSAGES, per_article=1, exclude=exclude
        ):
            if r.chunk.id not in seen:
                seen.add(r.chunk.id)
                retrieved.append(r)
    if not retrieved:
        return claims
    listed = "\n".join(
        f"Claim {i}: {fenced(c.statement, 'passages')}" for i, c in enumerate(claims.claims, 1)
    )
    retrieved = fit(llm, prompt, retrieved, shown=quoted_passages, claims=listed)
    calls = CallLog()
    passages = quoted_passages(retrieved)
    reply = calls.run(llm, CorroborateReply, prompt, claims=listed, passages=passages)
    grounder = PassageGrounder(retrieved)
    support: dict[int, dict[tuple[str, int, int], Citation]] = {}
    for s in reply.supports:
        if not 1 <= s.claim <= len(claims.claims):
            continue
        citations, _ = grounder.ground([QuoteRef(segment_id=s.segment_id, quote=s.quote)])
        for citation in citations:
            if citation.article_id != claims.article_id:
                key = (citation.article_id, citation.start, citation.end)
                support.setdefault(s.claim, {})[key] = citation
    updated = []
    sources, mode = grounder.sources(), llm.settings.support
    for i, claim in enumerate(claims.claims, 1):
        # A passage counts as reporting the claim only when it backs the claim's words too.
        found = []
        for c in support.get(i, {}).values():
            verdict = None if mode == "off" else rules(claim.statement, [c], sources)
            if verdict is None or verdict.verdict != "unsupported":
                found.append(Corroboration(**c.model_dump(), support=verdict))
        updated.append(
            claim.model_copy(
                update={
                    "corroborations": found,
                    "corroborated_by": len({c.article_id for c in found}),
                }
            )
        )
    return claims.model_copy(
        update={
            "claims": updated,
            "calls": claims.calls + calls.calls,
            "cached_calls": claims.cached_calls + calls.cached,
            "warnings": list(dict.fromkeys([*claims.warnings, *(calls.warnings or [])])),
        }
    )
