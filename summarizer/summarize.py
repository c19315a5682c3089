"""Summaries and claims of one article: segments -> prompt windows -> model -> grounding -> merge.

Every quote the model gives is located in the stored article text by `grounding`; a point or
claim without a verified quote is dropped (or, when asked, kept and marked unverified). Articles
that do not fit the model's context are processed in windows of segments and merged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import zip_longest
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, Field

from summarizer import prompts
from summarizer.chunking import segment_spans
from summarizer.errors import ContextOverflow
from summarizer.grounding import cite
from summarizer.llm_budget import estimate_messages
from summarizer.models import (
    Article,
    Chunk,
    Citation,
    Claim,
    ClaimKind,
    ClaimSet,
    Counts,
    KeyPoint,
    Summary,
)

if TYPE_CHECKING:
    from summarizer.llm import Ollama

Length = Literal["short", "medium", "long"]
# Key points and summary sentences by --length.
LENGTHS: dict[str, tuple[int, int]] = {"short": (3, 2), "medium": (5, 3), "long": (8, 5)}
MAX_CLAIMS = 15
# A citation quotes at least this many words: shorter ones support nothing checkable.
MIN_QUOTE_WORDS = 3
# Reserved for the reply (JSON with quotes is verbose): a third of the window, within these.
NUM_PREDICT = (512, 1536)
# Near-duplicate claims from overlapping windows: token-set similarity of the statements.
DUPLICATE_SIMILARITY = 88.0

R = TypeVar("R", bound=BaseModel)


# --- what the model is asked to fill (sent as the JSON schema `format`) ----------------------


class QuoteRef(BaseModel):
    segment_id: str = Field(description='the id of the segment quoted, like "s3"')
    quote: str = Field(description="words copied exactly from that segment")


def _cites() -> Any:
    # minItems guides the model; a point with no citation is dropped in code, not re-asked.
    return Field(default_factory=list, json_schema_extra={"minItems": 1})


class PointReply(BaseModel):
    text: str
    citations: list[QuoteRef] = _cites()


class SummaryReply(BaseModel):
    headline: str
    summary: str
    key_points: list[PointReply]


class ClaimReply(BaseModel):
    statement: str
    kind: ClaimKind
    asserted_by: str
    hedged: bool
    date: str | None = None
    place: str | None = None
    citations: list[QuoteRef] = _cites()


class ClaimsReply(BaseModel):
    claims: list[ClaimReply]


class MergeReply(BaseModel):
    headline: str
    summary: str
    point_ids: list[str] = Field(description='ids of the key points to keep, like "p2"')


# --- segments and windows --------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    id: str
    start: int
    end: int
    line: str  # as shown to the model: one line, white space collapsed, fences defused


def fenced(text: str, tag: str) -> str:
    """`text` on one line, unable to close (or open) the `<tag>` fence it is put in."""
    line = " ".join(text.split())
    return line.replace(f"</{tag}", f"<\\/{tag}").replace(f"<{tag}", f"<\\{tag}")


def segments_of(text: str) -> list[Segment]:
    return [
        Segment(f"s{i}", start, end, fenced(text[start:end], "article"))
        for i, (start, end) in enumerate(segment_spans(text), 1)
    ]


def render_segments(segments: Sequence[Segment]) -> str:
    return "\n".join(f"[{s.id}] {s.line}" for s in segments)


def plan_windows(
    segments: Sequence[Segment], fixed_tokens: int, budget_tokens: int, num_ctx: int = 0
) -> list[list[Segment]]:
    """Consecutive runs of segments, each fitting the prompt budget with the fixed text."""
    from summarizer.llm_budget import estimate_tokens

    room = budget_tokens - fixed_tokens
    windows: list[list[Segment]] = [[]]
    used = 0
    for seg in segments:
        cost = estimate_tokens(f"[{seg.id}] {seg.line}\n")
        if cost > room:
            raise ContextOverflow(
                f"one segment of the article needs ~{cost} tokens; the model's budget leaves "
                f"{max(room, 0)} for the article",
                hint="use a model with a longer context or raise SUMMARIZER_NUM_CTX",
                estimate=fixed_tokens + cost,
                budget=budget_tokens,
                num_ctx=num_ctx,
            )
        if used + cost > room and windows[-1]:
            windows.append([])
            used = 0
        windows[-1].append(seg)
        used += cost
    return [w for w in windows if w]


# --- grounding of one reply ------------------------------------------------------------------


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

    def keep(self, citations: list[Citation], keep_unverified: bool) -> bool:
        """Count a point or claim; whether to keep it (with a verified citation, or if asked)."""
        self.counts.produced += 1
        if citations:
            self.counts.verified += 1
            return True
        if keep_unverified:
            self.counts.unverified_kept += 1
            return True
        self.counts.dropped += 1
        return False


class ArticleGrounder(Grounder):
    """Quotes of one article, found anywhere in it, in the cited segment first."""

    def __init__(self, article: Article, chunks: Sequence[Chunk], segments: Sequence[Segment]):
        super().__init__()
        self.article = article
        self.spans = [(c.id, c.start, c.end) for c in chunks]
        self.by_id = {s.id: (s.start, s.end) for s in segments}

    def find(self, ref: QuoteRef) -> Citation | None:
        prefer = [self.by_id[ref.segment_id]] if ref.segment_id in self.by_id else []
        return cite(self.article.id, self.article.text, self.spans, ref.quote, prefer)


# --- the tasks -------------------------------------------------------------------------------


@dataclass
class CallLog:
    """Counts the model calls of one task (and the chat requests they took: a repair or a
    retry with more room is a second request of the same call) and keeps their warnings."""

    calls: int = 0
    cached: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0
    digest: str = ""
    warnings: list[str] | None = None

    def run(self, llm: Ollama, reply_model: type[R], prompt: prompts.Prompt, **values: str) -> R:
        system, user = prompt.render(**values)
        result = llm.structured(
            reply_model,
            prompt_id=prompt.id,
            prompt_version=str(prompt.version),
            system=system,
            user=user,
            num_predict=num_predict(llm),
        )
        self.calls += 1
        self.cached += int(result.record.cache_hit)
        self.requests += result.record.attempts
        self.prompt_tokens += result.record.prompt_eval_count
        self.output_tokens += result.record.eval_count
        self.digest = result.record.digest
        for warning in result.record.warnings:
            self.note(warning)
        return result.reply

    def note(self, warning: str) -> None:
        if self.warnings is None:
            self.warnings = []
        self.warnings.append(warning)


def num_predict(llm: Ollama) -> int:
    low, high = NUM_PREDICT
    return max(low, min(high, llm.num_ctx() // 3))


def _windows(
    llm: Ollama, prompt: prompts.Prompt, segments: list[Segment], **values: str
) -> list[list[Segment]]:
    """Windows of segments whose rendered prompts fit the model's budget."""
    system, user = prompt.render(segments="", **values)
    fixed = estimate_messages(
        [{"role": "system", "content": system}, {"role": "user", "content": user}]
    )
    budget = llm.budget(num_predict=num_predict(llm))
    return plan_windows(segments, fixed, budget.prompt_tokens, budget.num_ctx)


def _per_window(
    run: Callable[[list[Segment]], R], windows: list[list[Segment]]
) -> list[tuple[list[Segment], R]]:
    """Call the model on each window; a window the server still finds too long is halved."""
    out: list[tuple[list[Segment], R]] = []
    queue = list(windows)
    while queue:
        window = queue.pop(0)
        try:
            out.append((window, run(window)))
        except ContextOverflow:
            if len(window) < 2:
                raise
            half = len(window) // 2
            queue[:0] = [window[:half], window[half:]]
    return out


def summarize(
    llm: Ollama,
    article: Article,
    chunks: Sequence[Chunk],
    *,
    length: Length = "medium",
    keep_unverified: bool = False,
) -> Summary:
    """A headline, a summary paragraph and cited key points of one article."""
    n_points, n_sentences = LENGTHS[length]
    prompt = prompts.load("summarize")
    segments = segments_of(article.text)
    grounder = ArticleGrounder(article, chunks, segments)
    calls = CallLog()
    base = {"title": fenced(article.title, "article"), "summary_sentences": str(n_sentences)}
    windows = _windows(llm, prompt, segments, points=str(n_points), **base)
    per_window = n_points if len(windows) == 1 else max(2, math.ceil(n_points / len(windows)) + 1)

    def run(window: list[Segment]) -> SummaryReply:
        return calls.run(
            llm,
            SummaryReply,
            prompt,
            segments=render_segments(window),
            points=str(per_window),
            **base,
        )

    replies = _per_window(run, windows)
    per_part: list[list[KeyPoint]] = []
    for _, reply in replies:
        per_part.append([])
        for p in reply.key_points:
            citations, missing = grounder.ground(p.citations)
            if grounder.keep(citations, keep_unverified):
                per_part[-1].append(
                    KeyPoint(
                        text=p.text,
                        citations=citations,
                        verified=bool(citations),
                        unverified_quotes=missing if keep_unverified else [],
                    )
                )
    # Round robin over the parts, so that a shortened list still speaks of the whole article.
    points = [p for rank in zip_longest(*per_part) for p in rank if p is not None]
    headline, summary = replies[0][1].headline, replies[0][1].summary
    if len(replies) > 1:
        headline, summary, points = _merge_summaries(llm, calls, article, replies, points, n_points)
    return Summary(
        **_provenance(llm, article, prompt, calls, len(replies)),
        length=length,
        headline=headline,
        summary=summary,
        key_points=points[:n_points],
        counts=grounder.counts,
    )


def _merge_summaries(
    llm: Ollama,
    calls: CallLog,
    article: Article,
    replies: list[tuple[list[Segment], SummaryReply]],
    points: list[KeyPoint],
    n_points: int,
) -> tuple[str, str, list[KeyPoint]]:
    """One headline and summary from the windows' partial ones; the best verified points kept."""
    prompt = prompts.load("summarize_merge")
    parts = [
        fenced(f"Part {i}: {r.headline}. {r.summary}", "parts")
        for i, (_, r) in enumerate(replies, 1)
    ]
    offered = len(points)
    while True:
        numbered = "\n".join(
            f"[p{i}] {fenced(p.text, 'parts')}" for i, p in enumerate(points[:offered], 1)
        )
        try:
            reply = calls.run(
                llm,
                MergeReply,
                prompt,
                title=fenced(article.title, "parts"),
                parts="\n".join(parts),
                points=numbered,
                count=str(n_points),
            )
            break
        except ContextOverflow:
            # Nothing was sent. Offer fewer points (the best of every part come first), then
            # fewer parts; at worst keep the first part's own summary.
            if offered > n_points:
                offered = max(n_points, offered // 2)
            elif len(parts) > 1:
                parts = parts[: len(parts) // 2]
            else:
                calls.note(
                    "the merged summary would not fit the model's context: "
                    "the headline and summary are those of the article's first part"
                )
                first = replies[0][1]
                return first.headline, first.summary, points[:n_points]
    chosen: list[KeyPoint] = []
    for pid in reply.point_ids:
        index = int(pid[1:]) - 1 if pid[:1] == "p" and pid[1:].isdigit() else -1
        if 0 <= index < len(points) and points[index] not in chosen:
            chosen.append(points[index])
    for p in points:  # the model chose too few (or unknown ids): fill up in article order
        if len(chosen) >= n_points:
            break
        if p not in chosen:
            chosen.append(p)
    return reply.headline, reply.summary, chosen[:n_points]


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
    windows = _windows(llm, prompt, segments, title=title, max_claims=str(MAX_CLAIMS))

    def run(window: list[Segment]) -> ClaimsReply:
        return calls.run(
            llm,
            ClaimsReply,
            prompt,
            title=title,
            segments=render_segments(window),
            max_claims=str(MAX_CLAIMS),
        )

    replies = _per_window(run, windows)
    claims: list[Claim] = []
    for _, reply in replies:
        for c in reply.claims:
            citations, missing = grounder.ground(c.citations)
            if grounder.keep(citations, keep_unverified):
                claims.append(
                    Claim(
                        **c.model_dump(exclude={"citations"}),
                        citations=citations,
                        verified=bool(citations),
                        unverified_quotes=missing if keep_unverified else [],
                    )
                )
    return ClaimSet(
        **_provenance(llm, article, prompt, calls, len(replies)),
        claims=merge_claims(claims),
        counts=grounder.counts,
    )


def merge_claims(claims: list[Claim]) -> list[Claim]:
    """Drop near-duplicate claims (from overlapping windows), keeping every citation once.

    Two claims are the same when their statements are nearly the same words in the same order
    with the same numbers, dates and negations ("will not freeze" is never "will freeze"), or
    when they cite exactly the same passages.
    """
    from rapidfuzz import fuzz

    from summarizer.guard import facts

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
            }
        )
        kept[kept.index(twin)] = merged
    return kept


def _provenance(
    llm: Ollama, article: Article, prompt: prompts.Prompt, calls: CallLog, windows: int
) -> dict[str, Any]:
    return {
        "article_id": article.id,
        "title": article.title,
        "source": article.source,
        "url": article.url,
        "content_hash": article.content_hash,
        "model": llm.settings.model,
        "model_digest": calls.digest,
        "prompt_id": prompt.id,
        "prompt_version": prompt.version,
        "calls": calls.calls,
        "cached_calls": calls.cached,
        "windows": windows,
        "requests": calls.requests,
        "prompt_tokens": calls.prompt_tokens,
        "output_tokens": calls.output_tokens,
        "warnings": list(dict.fromkeys(calls.warnings or [])),
    }
