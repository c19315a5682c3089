"""Commands on the versions of articles: refresh, history, diff."""

from __future__ import annotations

import sys
from typing import Any

import click

from summarizer.cli.app import cli
from summarizer.cli.options import (
    json_option,
    model_options,
    model_settings,
    settings_from,
    store_options,
)
from summarizer.config import iso_date


@cli.command()
@click.argument("article_ids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every article stored from a URL.")
@click.option("--since", metavar="DATE", help="URL articles dated DATE or later.")
@click.option("--feed", metavar="NAME", help="URL articles stored from this feed's entries.")
@model_options
@store_options
@json_option
def refresh(
    article_ids: tuple[str, ...],
    every: bool,
    since: str | None,
    feed: str | None,
    as_json: bool,
    **opts: Any,
) -> None:
    """Read articles' sources again and keep what changed as a new version.

    Pages are fetched with a conditional GET (a 304 costs nothing); a text that changed only in
    whitespace or a date stamp is not a new version. A changed article is re-embedded, and its
    summaries and claims are made again on the new text, reporting first the quotes it no longer
    has, then the points and claims added and dropped. Exit status 1 if any item failed.
    """
    from summarizer import render
    from summarizer.corpus import report_lines
    from summarizer.errors import ConfigError
    from summarizer.progress import IngestProgress
    from summarizer.refresh import refresh as run_refresh
    from summarizer.refresh import select

    if article_ids and (every or since or feed):
        raise ConfigError("name article ids or give --all/--since/--feed, not both")
    opts.pop("out", None)
    settings = model_settings(opts)
    since = iso_date(since, "--since")
    among = None
    if feed:
        from summarizer.feeds import open_ledger

        with open_ledger(settings) as ledger:
            among = {e.article_id for e in ledger.entries([ledger.feed(feed).id]) if e.article_id}
    articles = select(settings, article_ids, every=every, since=since, among=among)
    with IngestProgress(quiet=as_json) as progress, progress.model_calls():
        report = run_refresh(settings, articles, progress)
    if as_json:
        render.print_json([r.as_dict() for r in report.items])
    for item in report.items:
        r = item.result
        if r.status == "updated" and not as_json:  # failures: one line each, from the progress
            click.echo(
                f"{r.article_id}  version {item.version} (+{item.added_words}/-"
                f"{item.removed_words} words)  {r.title}"
            )
            for line in report_lines(item.changes):
                click.echo(f"  {line}")
    click.echo(report.summary_line(), err=True)
    if report.failed:
        sys.exit(1)


@cli.command()
@click.argument("article_id")
@store_options
@json_option
def history(article_id: str, as_json: bool, **opts: Any) -> None:
    """The versions of an article: when each was fetched, its size and the words it changed."""
    from summarizer import pipeline, render

    rows = pipeline.history(settings_from(opts), article_id)
    if as_json:
        render.print_json(rows)
        return
    for row in rows:
        change = (
            "first" if row["n"] == 1 else f"+{row['words_added']}/-{row['words_removed']} words"
        )
        title = " (title changed)" if row["title_changed"] else ""
        click.echo(f"{row['n']:>3}  {row['fetched_at']}  {row['chars']:>7,} chars  {change}{title}")


@cli.command()
@click.argument("article_id")
@click.argument("a", type=click.IntRange(1), required=False)
@click.argument("b", type=click.IntRange(1), required=False)
@store_options
@json_option
def diff(article_id: str, a: int | None, b: int | None, as_json: bool, **opts: Any) -> None:
    """What changed between versions A and B of an article (the latest two by default; with
    only A, A against the latest), word by word: [-removed-]{+added+}."""
    from summarizer import pipeline, render
    from summarizer.corpus import render_diff

    found = pipeline.version_diff(settings_from(opts), article_id, a, b)
    if as_json:
        render.print_json(found.as_dict())
        return
    click.echo(f"{found.article_id}: version {found.a} → {found.b}")
    click.echo(render_diff(found.changes, found.title_change))
