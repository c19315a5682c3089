"""Summaries of one article: numbered sentences -> windows -> model -> citations -> checks.

Every key point cites sentences of the article by their ids (held to the prompt's ids by the
server's grammar); a point its sentences do not back in full is shown as those sentences
themselves, verbatim and marked as the article's words, where they stand on their own (else a
partly backed point is shown marked, an unsupported one dropped; with --keep-unverified both are
kept and marked). Articles that do not fit the model's context are processed in windows of
sentences and merged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import zip_longest
from typing import TYPE_CHECKING, Literal, TypeVar

from pydantic import BaseModel, Field

from summarizer.analysis import prompts
from summarizer.analysis.checking import (
    Source,
    Statement,
    check_statements,
    composed,
    joined_support,
    recheck,
)
from summarizer.analysis.citing import (
    ArticleGrounder,
    PointReply,
    bounded,
    citing_only,
    outcome,
)
from summarizer.analysis.verbatim import ARTICLE_SUPPORT, OwnWords, in_place
from summarizer.analysis.windows import (
    CallLog,
    Window,
    article_windows,
    fenced,
    per_window,
    provenance,
)
from summarizer.errors import ContextOverflow
from summarizer.grounding import sentences
from summarizer.llm import json_schema
from summarizer.models import Article, Chunk, Citation, KeyPoint, Summary

if TYPE_CHECKING:
    from summarizer.llm import Ollama

R = TypeVar("R", bound=BaseModel)
Length = Literal["short", "medium", "long"]
# Key points and summary sentences by --length.
LENGTHS: dict[str, tuple[int, int]] = {"short": (3, 2), "medium": (5, 3), "long": (8, 5)}


class SummaryReply(BaseModel):
    # The points first: a small model that loops in its summary has written them already (and
    # what it wrote before a loop is used).
    key_points: list[PointReply]
    headline: str = ""
    summary: str = ""


class MergeReply(BaseModel):
    headline: str
    summary: str
    point_ids: list[str] = Field(description='ids of the key points to keep, like "p2"')


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
    calls = CallLog(affinity=article.id)
    windows = article_windows(llm, article, calls)
    calls.expect(len(windows) + (len(windows) > 1))  # a call per window, then their merge
    segments = [s for w in windows for s in w.segments]
    grounder = ArticleGrounder(article, chunks, segments)
    points_each = n_points if len(windows) == 1 else max(2, math.ceil(n_points / len(windows)) + 1)
    values = {"summary_sentences": str(n_sentences), "points": str(points_each)}

    def run(window: Window) -> SummaryReply:
        # As many points as asked for (the window's sentences allowing): an empty list, or one
        # point where five were asked, is the easiest reply a small model can give.
        least = min(points_each, len(window.ids))
        reply_model: type[SummaryReply] = bounded(SummaryReply, "key_points", points_each, least)
        schema = citing_only(json_schema(reply_model), window.ids)
        # The grammar asks for every field; a reply cut after its points is still read.
        schema["required"] = list(schema["properties"])
        return calls.run_with(llm, reply_model, prompt, values, window=window, schema=schema)

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
    sources = {article.id: Source.of(article)}
    window = windows[0] if len(windows) == 1 else None
    checked = _check(llm, calls, sources, headline, summary, points, window)
    points = [
        p.model_copy(update={"support": s.support})
        for p, s in zip(points, checked.points, strict=True)
    ]
    own = OwnWords(article, segments, grounder.spans)
    kept = in_place(points, grounder, own, keep_unverified, _as_point, limit=n_points)
    # What is shown stands on the sentences that are shown: those of the points kept.
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


def _as_point(point: KeyPoint, sentence: Citation) -> KeyPoint:
    """The article's own sentence shown in place of a point it does not back in full."""
    return KeyPoint(
        text=sentence.quote,
        citations=[sentence],
        support=ARTICLE_SUPPORT,
        statement_source="article",
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
    window: Window | None,
) -> _Checked:
    """Support verdicts for the points, the headline and each sentence of the summary, in one
    model call (on the article's `window`, when it is read in one); the headline and summary
    stand on the sentences of every point."""
    everything = sorted(
        {(c.start, c.end): c for p in points for c in p.citations}.values(), key=lambda c: c.start
    )
    checked = _Checked(
        headline=Statement(headline, everything),
        summary=[Statement(s, everything) for s in sentences(summary)],
        points=[Statement(p.text, p.citations) for p in points],
    )
    statements = [checked.headline, *checked.summary, *checked.points]
    check_statements(llm, calls, statements, sources, llm.settings.support, window=window)
    return checked


def _merge_summaries(
    llm: Ollama,
    calls: CallLog,
    article: Article,
    replies: list[tuple[Window, SummaryReply]],
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
