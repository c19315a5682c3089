"""Terminal and JSON output: tables, article views, search hits and the ingest progress bar."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from summarizer.models import Article, SearchHit
    from summarizer.pipeline import ItemResult


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def _failure_line(result: ItemResult) -> str:
    item = f"{result.item}: " if result.item else ""
    return f"error: {item}{result.reason}"


class IngestProgress:
    """A progress bar on a terminal, nothing but the failure lines in a pipe."""

    def __init__(self, quiet: bool = False) -> None:
        self.tty = sys.stderr.isatty() and not quiet
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> IngestProgress:
        if self.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[item]}", style="dim"),
                console=_console(stderr=True),
                transient=True,
            )
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def begin(self, total: int) -> None:
        if self._bar is not None:
            self._task = self._bar.add_task("ingest", total=total, item="")

    def advance(self, result: ItemResult) -> None:
        if result.status == "failed":
            self.note(_failure_line(result))
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=1, item=_shorten(result.item, 50))

    def note(self, message: str) -> None:
        if self._bar is not None:
            self._bar.console.print(message, markup=False)
        else:
            click.echo(message, err=True)


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
