"""Terminal and JSON output: tables, article views, search hits, and summaries, claims and
answers as Markdown. (Progress bars are in `progress`, what `run` writes in `digest`.)"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from summarizer.progress import clip, console
from summarizer.words import counted

if TYPE_CHECKING:
    from summarizer.models import (
        Answer,
        Article,
        Citation,
        ClaimSet,
        Counts,
        SearchHit,
        Summary,
        Support,
    )


def json_text(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)


def print_json(data: Any) -> None:
    click.echo(json_text(data))


def emit(text: str, out: str | None, *, markdown: bool) -> None:
    """To FILE, or to stdout (Markdown rendered with rich on a terminal)."""
    if out:
        from pathlib import Path

        Path(out).write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {out}", err=True)
    elif markdown and sys.stdout.isatty():
        from rich.markdown import Markdown

        console().print(Markdown(text))
    else:
        click.echo(text)


def print_article_table(articles: list[Article]) -> None:
    if not articles:
        click.echo("The corpus is empty: add articles with `summarizer ingest PATH|URL`.", err=True)
        return
    tty = sys.stdout.isatty()
    width = console().width if tty else 0
    if tty:
        click.secho(f"{'id':<12}  {'date':<10}  {'chars':>7}  title", bold=True)
    for a in articles:
        line = f"{a.id}  {_list_date(a):<10}  {len(a.text):>7}  {a.title}"
        click.echo(clip(line, width) if width else line)
    click.echo(counted(len(articles), "articles"), err=True)


def _list_date(article: Article) -> str:
    """The article's own date; for a file without one, the file's modification date; else the
    day it was ingested."""
    import os
    from datetime import UTC, datetime

    if article.date:
        return article.date[:10]
    if article.url is None:
        try:
            mtime = os.stat(article.source).st_mtime
            return datetime.fromtimestamp(mtime, UTC).strftime("%Y-%m-%d")
        except (OSError, ValueError):
            pass
    return (article.ingested_at or "-")[:10]


def print_article(article: Article) -> None:
    fields = [
        ("id", article.id),
        ("title", article.title),
        ("source", article.source),
        ("url", article.url),
        ("author", article.author),
        ("date", article.date),
        ("site", article.site),
        ("extracted", article.method),
        ("ingested", article.ingested_at),
        ("updated", article.updated_at),
        ("chars", str(len(article.text))),
        ("sha256", article.content_hash),
    ]
    for name, value in fields:
        if value:
            click.echo(f"{name + ':':<10} {value}")
    for warning in article.warnings:
        click.echo(f"{'warning:':<10} {warning}")
    click.echo("")
    click.echo(article.text)


def print_hits(hits: list[SearchHit]) -> None:
    if not hits:
        click.echo("no results", err=True)
        return
    for n, hit in enumerate(hits, 1):
        click.secho(f"{n}. {hit.title}", bold=True)
        ranked = f"  model's {hit.model_rank}" if hit.model_rank is not None else ""
        click.echo(
            f"   {hit.article_id} [{hit.start}:{hit.end}]  score {hit.score:.3f}{ranked}"
            f"  {hit.source}"
        )
        snippet = " ".join(hit.text.split())
        click.echo(f"   {clip(snippet, 400)}")
        click.echo("")


# --- summaries and claims as Markdown ----------------------------------------------------------


def markdown(output: Summary | ClaimSet) -> str:
    from summarizer.models import Summary

    lines = []
    if isinstance(output, Summary) and output.outcome_message:
        # Nothing checkable: the title, what the model gave instead (the key points kept with
        # --keep-unverified, marked), the counts.
        lines += [f"# {output.headline}", "", _provenance_line(output), ""]
        lines += _outcome_lines(output.outcome_message)
        if output.key_points:
            lines += ["## Key points (kept unverified)", ""]
        lines += _point_lines(output)
        what = "key points"
    elif isinstance(output, Summary):
        lines += [f"# {output.headline}", "", _provenance_line(output), ""]
        if output.headline_source == "title":
            why = _why(output.headline_support)
            lines += [f"*The model's headline is not backed ({why}): the title is shown.*", ""]
        if output.summary_source == "key_points":
            why = _why(output.summary_support)
            lines += [f"*The model's summary is not backed ({why}): the key points are.*", ""]
        lines += [output.summary or "*(no summary: no key point is supported by its quotes)*", ""]
        lines += ["## Key points", ""]
        lines += _point_lines(output)
        what = "key points"
    else:
        lines += [f"# Claims: {output.title}", "", _provenance_line(output), ""]
        lines += _outcome_lines(output.outcome_message)
        for n, claim in enumerate(output.claims, 1):
            facts = [claim.kind.replace("_", " "), f"asserted by {claim.asserted_by}"]
            if claim.hedged:
                facts.append("hedged")
            facts += [x for x in (claim.date, claim.place) if x]
            shown = mark(claim.verified, claim.support)
            lines.append(f"{n}. {claim.statement}{shown}  \n   *{'; '.join(facts)}*")
            lines += _citation_lines(claim.citations, claim.unverified_quotes)
            if claim.corroborated_by:
                others = "source" if claim.corroborated_by == 1 else "sources"
                lines.append(f"   *reported by {claim.corroborated_by} other {others}:*")
                lines += [
                    f"   > {quoted(c.quote)} `{c.article_id} [{c.start}:{c.end}]`"
                    for c in claim.corroborations
                ]
        what = "claims"
    lines += ["", _counts_line(output.counts, what)]
    for warning in output.warnings:
        lines.append(f"*warning: {warning}*")
    return "\n".join(apart(lines)).rstrip()


def _point_lines(output: Summary) -> list[str]:
    lines = []
    for n, point in enumerate(output.key_points, 1):
        lines.append(f"{n}. {point.text}{mark(point.verified, point.support)}")
        lines += _citation_lines(point.citations, point.unverified_quotes)
    return lines


def _outcome_lines(message: str | None) -> list[str]:
    return [f"**Nothing to show: {message}.**", ""] if message else []


def _provenance_line(o: Summary | ClaimSet) -> str:
    cached = f", {o.cached_calls} from cache" if o.cached_calls else ""
    return (
        f"*{o.title}* — `{o.article_id}` ({o.source}; sha256 {o.content_hash[:12]}) · "
        f"model {o.model} · prompt {o.prompt_id}.v{o.prompt_version} · "
        f"{o.calls} model call{'s' if o.calls != 1 else ''}{cached}"
    )


_OPENING_QUOTES = "“\"‘'«„"


def quoted(quote: str) -> str:
    """A quote on one line between quotation marks, unless it brings its own (“We are…”)."""
    text = " ".join(quote.split())
    return text if text[:1] in _OPENING_QUOTES else f"“{text}”"


def apart(lines: list[str]) -> list[str]:
    """Quote lines (`> ...`) kept apart: consecutive ones would render as one paragraph."""
    out: list[str] = []
    for line in lines:
        if out and line.lstrip().startswith(">") and out[-1].lstrip().startswith(">"):
            out.append("")
        out.append(line)
    return out


def _citation_lines(citations: list[Citation], unverified: list[str]) -> list[str]:
    lines = [f"   > {quoted(c.quote)} `[{c.start}:{c.end}]`" for c in citations]
    lines += [f"   > ~~{' '.join(q.split())}~~ (not found in the article)" for q in unverified]
    return lines


def mark(verified: bool, support: Support | None) -> str:
    """What a reader must know about a statement shown: unverified, partial (and which of its
    words the quotes do not back) or unsupported."""
    if not verified:
        return " **(unverified)**"
    if support is not None and support.method == "article":
        return " *(the article's own words)*"
    if support is None or support.verdict == "supported":
        return ""
    if support.verdict == "partial":
        words = ", ".join(f"“{w}”" for w in support.unbacked[:6])
        return f" **(partly supported{': not backed: ' + words if words else ''})**"
    return f" **(unsupported: {_why(support)})**"


def _why(support: Support | None) -> str:
    if support is None or not support.reasons:
        return "its quotes do not say it"
    return "; ".join(support.reasons[:2])


def _counts_line(c: Counts, what: str) -> str:
    """ "5 claims: 2 supported, 1 partial, 1 not backed in full (shown as the 2 sentences it
    cites), 1 dropped as unsupported; citations: 12 found in the source, 2 not found"."""
    judged = c.supported or c.partial or c.unsupported or c.replaced
    parts = [f"{c.supported} supported"] if judged else []
    if c.partial:
        parts.append(f"{c.partial} partial")
    if c.replaced:
        they, cite = ("it", "cites") if c.replaced == 1 else ("they", "cite")
        sentences = "sentence" if c.article_sentences == 1 else "sentences"
        parts.append(
            f"{c.replaced} not backed in full (shown as the {c.article_sentences} {sentences} "
            f"{they} {cite}, verbatim)"
        )
    if c.unsupported:
        parts.append(f"{c.unsupported} dropped as unsupported")
    if c.unsupported_kept:
        parts.append(f"{c.unsupported_kept} unsupported kept")
    if c.dropped:
        parts.append(f"{c.dropped} dropped without a citation found")
    if c.unverified_kept:
        parts.append(f"{c.unverified_kept} kept unverified")
    if c.beyond:
        parts.append(f"{c.beyond} past the length asked for")
    if not parts:
        parts.append(f"{c.verified} with a citation found (support not checked)")
    return (
        f"*{counted(c.produced, what)}: {', '.join(parts)}; citations: {c.quotes_verified} found "
        f"in the source, {c.quotes_dropped} not found*"
    )


def answer_markdown(answer: Answer) -> str:
    lines = [f"**Q:** {answer.question}", ""]
    if answer.answer_source == "points":
        why = _why(answer.answer_support)
        lines += [f"*The model's answer is not backed ({why}): its points are.*", ""]
    lines += [answer.answer, ""]
    titles = {r.article_id: r.title for r in answer.retrieved}
    if answer.outcome == "not_answered" and answer.outcome_message:
        said = answer.outcome_message
        lines += [f"*{said[:1].upper()}{said[1:]}:*", ""]
    else:
        lines += _outcome_lines(answer.outcome_message)
    if answer.passages and answer.outcome != "not_answered":
        lines += ["*The passages that best match the question:*", ""]
    for n, c in enumerate(answer.passages, 1):
        lines.append(
            f"{n}. *{titles.get(c.article_id, c.article_id)}* `{c.article_id} [{c.start}:{c.end}]`"
        )
        lines.append(f"   > {' '.join(c.quote.split())}")
    if answer.found:
        for n, point in enumerate(answer.points, 1):
            lines.append(f"{n}. {point.text}{mark(True, point.support)}")
            lines += [
                f"   > {quoted(c.quote)} — *{titles.get(c.article_id, c.article_id)}* "
                f"`{c.article_id} [{c.start}:{c.end}]`"
                for c in point.citations
            ]
        for conflict in answer.conflicts:
            lines += ["", f"**Sources disagree:** {conflict.topic}"]
            for side in conflict.sides:
                lines.append(f"- {side.text}{mark(True, side.support)}")
                lines += [
                    f"  > {quoted(c.quote)} `{c.article_id} [{c.start}:{c.end}]`"
                    for c in side.citations
                ]
    lines += [
        "",
        f"*{counted(len(answer.retrieved), 'passages')} retrieved · model {answer.model} · prompt "
        f"{answer.prompt_id}.v{answer.prompt_version}*",
        _counts_line(answer.counts, "statements"),
    ]
    lines += [f"*warning: {w}*" for w in answer.warnings]
    return "\n".join(apart(lines)).rstrip()


def print_feed_table(feeds: list[dict[str, Any]]) -> None:
    if not feeds:
        click.echo("No feeds: add one with `summarizer feeds add URL`.", err=True)
        return
    for f in feeds:
        n = f["entries"]
        counts = " ".join(
            f"{n.get(s, 0)} {s}" for s in ("pending", "done", "failed", "duplicate") if n.get(s)
        )
        checked = f"checked {f['checked_at']}" if f["checked_at"] else "never checked"
        click.echo(f"{f['name']}  {f['url']}  ({counts or 'no entries'}; {checked})")
        if f["error"]:
            click.echo(f"    last error: {f['error']}")
    click.echo(f"{len(feeds)} feed{'s' if len(feeds) != 1 else ''}", err=True)
