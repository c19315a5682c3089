"""Summaries and claims of one article: segments -> prompt windows -> model -> grounding -> merge.

Every quote the model gives is located in the stored article text by `grounding`; a point or
claim without a verified quote is dropped (or, when asked, kept and marked unverified). Articles
that do not fit the model's context are processed in windows of segments and merged.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import zip_longest
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, Field, create_model

from summarizer.analysis import prompts
from summarizer.analysis.checking import (
    Source,
    Statement,
    check_statements,
    composed,
    joined_support,
    recheck,
)
from summarizer.analysis.citing import ArticleGrounder, PointReply, at_most, outcome
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
from summarizer.errors import ContextOverflow
from summarizer.grounding import sentences
from summarizer.models import Article, Chunk, KeyPoint, Summary

if TYPE_CHECKING:
    from summarizer.llm import Ollama

R = TypeVar("R", bound=BaseModel)
Length = Literal["short", "medium", "long"]
# Key points and summary sentences by --length.
LENGTHS: dict[str, tuple[int, int]] = {"short": (3, 2), "medium": (5, 3), "long": (8, 5)}


class SummaryReply(BaseModel):
    headline: str
    summary: str
    key_points: list[PointReply]


class MergeReply(BaseModel):
    headline: str
    summary: str
    point_ids: list[str] = Field(description='ids of the key points to keep, like "p2"')


@functools.cache
def bounded(reply_model: type[R], field: str, n: int) -> type[R]:
    """`reply_model` with at most `n` items in its list `field` (the schema's maxItems, from
    --length), under the same name."""
    from pydantic.fields import FieldInfo

    original = reply_model.model_fields[field]
    merged = FieldInfo.merge_field_infos(original, at_most(n))  # its description kept
    fields: dict[str, Any] = {field: (original.annotation, merged)}
    return create_model(reply_model.__name__, __base__=reply_model, **fields)


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
    windows = plan_article_windows(llm, prompt, segments, calls, points=str(n_points), **base)
    points_each = n_points if len(windows) == 1 else max(2, math.ceil(n_points / len(windows)) + 1)

    reply_model: type[SummaryReply] = bounded(SummaryReply, "key_points", points_each)

    def run(window: list[Segment]) -> SummaryReply:
        return calls.run(
            llm,
            reply_model,
            prompt,
            segments=render_segments(window),
            points=str(points_each),
            **base,
        )

    replies = per_window(run, windows)
    per_part: list[list[KeyPoint]] = []
    for _, reply in replies:
        per_part.append([])
        for p in reply.key_points:
            citations, missing = grounder.ground(p.citations)
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
    sources = {article.id: Source(article.text, article.title)}
    checked = _check(llm, calls, sources, headline, summary, points)
    kept = [
        p.model_copy(update={"support": s.support})
        for p, s in zip(points, checked.points, strict=True)
        if grounder.keep(p.citations, keep_unverified, s.support)
    ][:n_points]
    # What is shown stands on the quotes that are shown: those of the points kept.
    shown = [c for p in kept for c in p.citations]
    for statement in [checked.headline, *checked.summary]:
        recheck(statement, shown, sources)
    head, para = checked.headline.support, joined_support(checked.summary)
    headline_source: Literal["model", "title"] = "model"
    summary_source: Literal["model", "key_points"] = "model"
    if head is not None and head.verdict != "supported":
        headline, headline_source = article.title, "title"
    if para is not None and para.verdict != "supported":
        summary, summary_source = composed(kept), "key_points"
    said, message = outcome(grounder.counts, "key points")
    return Summary(
        **provenance(llm, article, prompt, calls, len(replies)),
        length=length,
        headline=headline,
        summary=summary,
        headline_source=headline_source,
        summary_source=summary_source,
        headline_support=head,
        summary_support=para,
        key_points=kept,
        counts=grounder.counts,
        outcome=said,
        outcome_message=message,
    )


@dataclass
class _Checked:
    headline: Statement
    summary: list[Statement]
    points: list[Statement]


def _check(
    llm: Ollama,
    calls: CallLog,
    sources: dict[str, Source],
    headline: str,
    summary: str,
    points: list[KeyPoint],
) -> _Checked:
    """Support verdicts for the points, the headline and each sentence of the summary, in one
    model call; the headline and summary stand on the quotes of every point."""
    everything = sorted(
        {(c.start, c.end): c for p in points for c in p.citations}.values(), key=lambda c: c.start
    )
    checked = _Checked(
        headline=Statement(headline, everything),
        summary=[Statement(s, everything) for s in sentences(summary)],
        points=[Statement(p.text, p.citations) for p in points],
    )
    statements = [checked.headline, *checked.summary, *checked.points]
    check_statements(llm, calls, statements, sources, llm.settings.support)
    return checked


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
                bounded(MergeReply, "point_ids", n_points),
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
                return first.headline, first.summary, points
    chosen: list[KeyPoint] = []
    for pid in reply.point_ids:
        index = int(pid[1:]) - 1 if pid[:1] == "p" and pid[1:].isdigit() else -1
        if 0 <= index < len(points) and points[index] not in chosen:
            chosen.append(points[index])
    # Then the rest, in order: they stand in for chosen ones the support check drops.
    chosen += [p for p in points if p not in chosen]
    return reply.headline, reply.summary, chosen
