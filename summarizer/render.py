"""Terminal and JSON output: tables, article views, search hits, progress bars, feed job
output lines and digests."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, Self

import click

if TYPE_CHECKING:
    from summarizer.batch import RunReport
    from summarizer.ingest import ItemResult
    from summarizer.ledger import EntryRow
    from summarizer.models import (
        Answer,
        Article,
        Citation,
        ClaimSet,
        Counts,
        SearchHit,
        Summary,
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

        _console().print(Markdown(text))
    else:
        click.echo(text)


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def _failure_line(result: ItemResult) -> str:
    item = f"{result.item}: " if result.item else ""
    return f"error: {item}{result.reason}"


class ProgressBar:
    """A rich progress bar on a terminal; in a pipe (or when quiet) only the notes, as lines."""

    def __init__(self, quiet: bool = False) -> None:
        self.tty = sys.stderr.isatty() and not quiet
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Self:
        if self.tty:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description:<8}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[item]}", style="dim"),
                console=_console(stderr=True),
                transient=True,
            )
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def stage(self, total: int, description: str) -> None:
        """A new bar (the previous one hidden)."""
        if self._bar is not None:
            if self._task is not None:
                self._bar.update(self._task, visible=False)
            self._task = self._bar.add_task(description, total=total, item="")

    def step(self, label: str) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=1, item=label)

    def note(self, message: str) -> None:
        if self._bar is not None:
            self._bar.console.print(message, markup=False, highlight=False)
        else:
            click.echo(message, err=True)


class IngestProgress(ProgressBar):
    """Ingest's progress: one bar, a line per failed item."""

    def begin(self, total: int) -> None:
        self.stage(total, "ingest")

    def advance(self, result: ItemResult) -> None:
        if result.status == "failed":
            self.note(_failure_line(result))
        self.step(_shorten(result.item, 50))


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def print_article_table(articles: list[Article]) -> None:
    if not articles:
        click.echo("The corpus is empty: add articles with `summarizer ingest PATH|URL`.", err=True)
        return
    for a in articles:
        click.echo(f"{a.id}  {a.date or '-':<10}  {len(a.text):>7}  {a.title}")
    click.echo(f"{len(articles)} articles", err=True)


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
        click.echo(
            f"   {hit.article_id} [{hit.start}:{hit.end}]  score {hit.score:.3f}  {hit.source}"
        )
        snippet = " ".join(hit.text.split())
        click.echo(f"   {_clip(snippet, 400)}")
        click.echo("")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


# --- summaries and claims as Markdown ----------------------------------------------------------


def markdown(output: Summary | ClaimSet) -> str:
    from summarizer.models import Summary

    lines = []
    if isinstance(output, Summary):
        lines += [f"# {output.headline}", "", _provenance_line(output), "", output.summary, ""]
        lines += ["## Key points", ""]
        for n, point in enumerate(output.key_points, 1):
            mark = "" if point.verified else " **(unverified)**"
            lines.append(f"{n}. {point.text}{mark}")
            lines += _citation_lines(point.citations, point.unverified_quotes)
        what = "key points"
    else:
        lines += [f"# Claims: {output.title}", "", _provenance_line(output), ""]
        for n, claim in enumerate(output.claims, 1):
            facts = [claim.kind.replace("_", " "), f"asserted by {claim.asserted_by}"]
            if claim.hedged:
                facts.append("hedged")
            facts += [x for x in (claim.date, claim.place) if x]
            mark = "" if claim.verified else " **(unverified)**"
            lines.append(f"{n}. {claim.statement}{mark}  \n   *{'; '.join(facts)}*")
            lines += _citation_lines(claim.citations, claim.unverified_quotes)
            if claim.corroborated_by:
                others = "source" if claim.corroborated_by == 1 else "sources"
                lines.append(f"   *reported by {claim.corroborated_by} other {others}:*")
                lines += [
                    f"   > “{' '.join(c.quote.split())}” `{c.article_id} [{c.start}:{c.end}]`"
                    for c in claim.corroborations
                ]
        what = "claims"
    lines += ["", _counts_line(output.counts, what)]
    for warning in output.warnings:
        lines.append(f"*warning: {warning}*")
    return "\n".join(lines).rstrip()


def _provenance_line(o: Summary | ClaimSet) -> str:
    cached = f", {o.cached_calls} from cache" if o.cached_calls else ""
    return (
        f"*{o.title}* — `{o.article_id}` ({o.source}; sha256 {o.content_hash[:12]}) · "
        f"model {o.model} · prompt {o.prompt_id}.v{o.prompt_version} · "
        f"{o.calls} model call{'s' if o.calls != 1 else ''}{cached}"
    )


def _citation_lines(citations: list[Citation], unverified: list[str]) -> list[str]:
    lines = [f"   > “{' '.join(c.quote.split())}” `[{c.start}:{c.end}]`" for c in citations]
    lines += [f"   > ~~{' '.join(q.split())}~~ (not found in the article)" for q in unverified]
    return lines


def _counts_line(c: Counts, what: str) -> str:
    kept = f", {c.unverified_kept} kept unverified" if c.unverified_kept else ""
    return (
        f"*{c.verified} of {c.produced} {what} verified, {c.dropped} dropped{kept}; quotes: "
        f"{c.quotes_produced} given, {c.quotes_verified} found in the article, "
        f"{c.quotes_dropped} not found*"
    )


def answer_markdown(answer: Answer) -> str:
    lines = [f"**Q:** {answer.question}", "", answer.answer, ""]
    if answer.found:
        titles = {r.article_id: r.title for r in answer.retrieved}
        for n, point in enumerate(answer.points, 1):
            lines.append(f"{n}. {point.text}")
            lines += [
                f"   > “{' '.join(c.quote.split())}” — *{titles.get(c.article_id, c.article_id)}* "
                f"`{c.article_id} [{c.start}:{c.end}]`"
                for c in point.citations
            ]
        for conflict in answer.conflicts:
            lines += ["", f"**Sources disagree:** {conflict.topic}"]
            for side in conflict.sides:
                lines.append(f"- {side.text}")
                lines += [
                    f"  > “{' '.join(c.quote.split())}” `{c.article_id} [{c.start}:{c.end}]`"
                    for c in side.citations
                ]
    c = answer.counts
    lines += [
        "",
        f"*{len(answer.retrieved)} passages retrieved · model {answer.model} · prompt "
        f"{answer.prompt_id}.v{answer.prompt_version} · {c.verified} of {c.produced} statements "
        f"verified, {c.quotes_dropped} quotes not found in the passages*",
    ]
    lines += [f"*warning: {w}*" for w in answer.warnings]
    return "\n".join(lines).rstrip()


# --- feed jobs: progress, output lines and the digest ----------------------------------------


class BatchProgress(ProgressBar):
    """`summarizer run`'s progress: a bar per stage (feeds, then entries) on a terminal; in a
    pipe only the error and warning lines."""

    def begin(self, total: int, description: str) -> None:
        self.stage(total, description)

    def advance(self, label: str) -> None:
        self.step(_clip(label, 50))


def batch_record(
    entry: EntryRow,
    article: Article,
    summary: Summary,
    claims: ClaimSet,
    *,
    content_from: str,
    warnings: list[str],
) -> dict[str, Any]:
    """One output line of `summarizer run`: the entry, its stored article, the summary and the
    claims with their verified citations."""
    return {
        "entry_id": entry.id,
        "feed": entry.feed,
        "feed_url": entry.feed_url,
        "guid": entry.guid,
        "link": entry.link,
        "published": entry.published,
        "article_id": article.id,
        "url": article.url or entry.link,
        "title": article.title,
        "author": article.author or entry.author,
        "content_from": content_from,
        "content_hash": article.content_hash,
        "warnings": list(warnings),
        "summary": summary.model_dump(
            mode="json", include={"headline", "summary", "key_points", "length", "counts"}
        ),
        "claims": [c.model_dump(mode="json") for c in claims.claims],
        "claim_counts": claims.counts.model_dump(mode="json"),
        "model": summary.model,
        "model_digest": summary.model_digest,
        "prompts": {
            "summary": f"{summary.prompt_id}.v{summary.prompt_version}",
            "claims": f"{claims.prompt_id}.v{claims.prompt_version}",
        },
        "model_calls": summary.calls + claims.calls,
        "cached_calls": summary.cached_calls + claims.cached_calls,
        "output_warnings": list(dict.fromkeys([*summary.warnings, *claims.warnings])),
    }


def digest_markdown(report: RunReport, generated: str, *, max_claims: int = 5) -> str:
    """The run's stories in Markdown, grouped by feed, each with its copies in other places."""
    records = report.records
    feeds: dict[str, list[dict[str, Any]]] = {}
    for record in sorted(records, key=lambda r: (r["feed"], r["published"] or "", r["title"])):
        feeds.setdefault(record["feed"], []).append(record)
    copies = sum(len(c) for c in report.copies.values())
    lines = [
        "# Feed digest",
        "",
        f"*{generated} · {len(records)} stor{'y' if len(records) == 1 else 'ies'} from "
        f"{len(feeds)} feed{'s' if len(feeds) != 1 else ''} · {copies} copies linked · "
        f"{len(report.failures)} failed*",
    ]
    if not records:
        lines += ["", "Nothing new."]
    for feed, stories in feeds.items():
        lines += ["", f"## {feed}"]
        for r in stories:
            lines += ["", *_digest_story(r, report.copies.get(r["entry_id"], []), max_claims)]
    if report.failures:
        lines += ["", "## Failed", ""]
        lines += [f"- {label} — {reason}" for label, reason in report.failures]
    return "\n".join(lines) + "\n"


def _digest_story(r: dict[str, Any], copies: list[EntryRow], max_claims: int) -> list[str]:
    s = r["summary"]
    url = r["url"] or r["link"]
    head = f"[{_md(s['headline'])}]({url})" if url else _md(s["headline"])
    facts = [f"*{_md(r['title'])}*"]
    if r["published"]:
        facts.append(r["published"][:10])
    facts.append(f"`{r['article_id']}`")
    if r["content_from"] == "feed":
        facts.append("from the feed's own text")
    lines = [f"### {head}", "", " · ".join(facts), "", _md(s["summary"]), ""]
    for point in s["key_points"]:
        quote = point["citations"][0]["quote"] if point["citations"] else ""
        cited = f" — “{_md(' '.join(quote.split()))}”" if quote else ""
        lines.append(f"- {_md(point['text'])}{cited}")
    claims = r["claims"][:max_claims]
    if claims:
        lines += ["", f"**Claims** ({len(r['claims'])}):", ""]
        for c in claims:
            who = c["asserted_by"]
            lines.append(f"- {_md(c['statement'])} *({c['kind'].replace('_', ' ')}; {_md(who)})*")
    if copies:
        shown = ", ".join(
            f"[{_md(c.feed)}: {_md(c.title)}]({c.link})"
            if c.link
            else f"{_md(c.feed)}: {_md(c.title)}"
            for c in copies
        )
        lines += ["", f"*Also published as:* {shown}"]
    return lines


def _md(text: str) -> str:
    """Plain text safe inside Markdown: no line breaks, brackets and emphasis escaped."""
    text = " ".join(str(text).split())
    for ch in "\\`*_[]<>#|":
        text = text.replace(ch, "\\" + ch)
    return text


class JsonLines:
    """Output lines appended to FILE (created if need be), or printed to stdout; each one
    flushed as it is written, so that a killed run leaves only whole lines behind."""

    def __init__(self, out: str | None) -> None:
        self.out = out
        self.count = 0
        self._file: Any = None

    def __enter__(self) -> JsonLines:
        if self.out:
            from summarizer.errors import ConfigError

            try:
                self._file = open(self.out, "a", encoding="utf-8")
            except OSError as e:
                raise ConfigError(f"cannot write {self.out}: {e.strerror or e}") from None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._file is not None:
            self._file.close()

    def write(self, line: str) -> None:
        if self._file is not None:
            self._file.write(line + "\n")
            self._file.flush()
        else:
            click.echo(line)
            sys.stdout.flush()
        self.count += 1


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
