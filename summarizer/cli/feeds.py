"""Feed commands: the `feeds` group (add, list, remove, import) and `run`, the feed job."""

from __future__ import annotations

import sys
from typing import Any

import click

from summarizer.cli.app import cli
from summarizer.cli.options import (
    json_option,
    keep_option,
    length_option,
    model_options,
    model_settings,
    out_option,
    settings_from,
    store_options,
)
from summarizer.config import iso_date


@cli.group()
def feeds() -> None:
    """Register the RSS, Atom and JSON feeds that `summarizer run` reads."""


@feeds.command(name="add")
@click.argument("url")
@click.option("--name", metavar="NAME", help="Short name for --feed and remove (default: host).")
@store_options
@json_option
def feeds_add(url: str, name: str | None, as_json: bool, **opts: Any) -> None:
    """Register the feed at URL (nothing is fetched until `summarizer run`)."""
    from summarizer import render
    from summarizer.feeds import open_ledger

    with open_ledger(settings_from(opts)) as ledger:
        feed = ledger.add_feed(url, name)
    if as_json:
        render.print_json(feed.as_dict())
    else:
        click.echo(f"added feed {feed.name}: {feed.url}")


@feeds.command(name="list")
@store_options
@json_option
def feeds_list(as_json: bool, **opts: Any) -> None:
    """List the feeds, with their entries by status and the last fetch's error."""
    from summarizer import render
    from summarizer.feeds import open_ledger

    with open_ledger(settings_from(opts)) as ledger:
        rows, counts = ledger.feeds(), ledger.counts()
    listed = [{**f.as_dict(), "entries": counts.get(f.id, {})} for f in rows]
    if as_json:
        render.print_json(listed)
    else:
        render.print_feed_table(listed)


@feeds.command(name="remove")
@click.argument("names", nargs=-1, required=True)
@store_options
def feeds_remove(names: tuple[str, ...], **opts: Any) -> None:
    """Forget feeds and their ledger entries (their articles stay in the corpus)."""
    from summarizer.feeds import open_ledger, run_lock

    settings = settings_from(opts)
    # Not under a run's feet: its entries would vanish while it works on them.
    with run_lock(settings), open_ledger(settings) as ledger:
        ledger.feeds(names)  # every name must exist before anything is removed
        for name in names:
            feed, n = ledger.remove_feed(name)
            click.echo(f"removed feed {feed.name} ({feed.url}) and its {n} ledger entries")


@feeds.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@store_options
@json_option
def feeds_import(file: str, as_json: bool, **opts: Any) -> None:
    """Register the feeds listed in FILE: OPML, or one URL per line (optionally followed by a
    name; lines starting with # are comments). Feeds already registered are skipped."""
    from pathlib import Path

    from summarizer import render
    from summarizer.errors import FeedError
    from summarizer.feeds import open_ledger, read_feed_list
    from summarizer.reading import read_bytes

    data = read_bytes(Path(file), 10 * 1024 * 1024)
    added, known, failed = [], 0, 0
    with open_ledger(settings_from(opts)) as ledger:
        for listed in read_feed_list(data, file):
            if isinstance(listed, FeedError):
                failed += 1
                click.echo(f"error: {listed.message}", err=True)
                continue
            if ledger.feed_for_url(listed.url) is not None:
                known += 1
                continue
            try:
                feed = ledger.add_feed(listed.url, listed.name, unique=not listed.chosen)
            except FeedError as e:  # this line only: the rest is imported
                failed += 1
                click.echo(f"error: {listed.where}: {e.message}", err=True)
                continue
            added.append(feed)
            if not as_json:
                renamed = listed.name and feed.name != listed.name
                said = f" (the name {listed.name!r} is taken)" if renamed else ""
                click.echo(f"added feed {feed.name}: {feed.url}{said}")
    if as_json:
        render.print_json([f.as_dict() for f in added])
    click.echo(f"import: {len(added)} added, {known} already registered, {failed} failed", err=True)
    if failed:
        sys.exit(1)


@cli.command()
@click.option(
    "--feed", "feed_names", multiple=True, metavar="NAME", help="Only this feed (repeatable)."
)
@click.option("--retry-failed", is_flag=True, help="Also retry the entries that failed before.")
@click.option(
    "--recheck",
    type=click.IntRange(1),
    metavar="DAYS",
    help="Also read again the pages of entries done in the last DAYS days (those whose feed item "
    "was updated always are); a changed article becomes a new version.",
)
@click.option(
    "--since",
    metavar="DATE",
    help="Only entries published on or after DATE (YYYY-MM-DD), and those without a date.",
)
@click.option(
    "--limit", type=click.IntRange(1), metavar="N", help="Process at most N entries this run."
)
@click.option(
    "--digest",
    type=click.Path(dir_okay=False, writable=True),
    metavar="FILE.md",
    help="Also write a Markdown digest of this run's stories, grouped by feed and story.",
)
@click.option(
    "--allow-private",
    is_flag=True,
    help="Allow feeds and pages on loopback, private and link-local addresses (intranets).",
)
@length_option
@click.option(
    "--max-bytes",
    type=click.IntRange(1),
    help="Largest feed or page accepted (default 10 MiB).",
)
@keep_option
@out_option
@model_options
@store_options
def run(**opts: Any) -> None:
    """Read the feeds; fetch, store, summarise and extract the claims of every new entry.

    Writes one JSON line per processed entry to stdout, or appends them to --out FILE. Only what
    is new is processed: entries already seen, and copies of a story already seen (same link,
    same article, or nearly the same text), are not. A run that is stopped, even killed, resumes
    where it stopped. Entries left by --since or --limit stay pending for the next run. Exit
    status 1 if any feed or entry failed; the others are still processed.
    """
    from dataclasses import replace
    from datetime import UTC, datetime
    from pathlib import Path

    from summarizer.errors import ConfigError
    from summarizer.feeds import JsonLines, RunOptions, digest_markdown, keep_digest
    from summarizer.feeds import run as run_feeds
    from summarizer.progress import BatchProgress

    options = RunOptions(
        feeds=tuple(opts.pop("feed_names")),
        retry_failed=opts.pop("retry_failed"),
        since=iso_date(opts.pop("since"), "--since"),
        limit=opts.pop("limit"),
        length=opts.pop("length"),
        keep_unverified=opts.pop("keep_unverified"),
        recheck=opts.pop("recheck"),
    )
    out, digest, max_bytes = opts.pop("out"), opts.pop("digest"), opts.pop("max_bytes")
    # The entries' articles record the permission their pages were fetched with.
    settings = replace(model_settings(opts), allow_private=opts.pop("allow_private"))
    if digest and not Path(digest).resolve().parent.is_dir():
        raise ConfigError(f"cannot write the digest {digest}: no such directory")
    if max_bytes is not None:
        settings = replace(settings, max_bytes=max_bytes)
    with JsonLines(out) as lines, BatchProgress() as progress, progress.model_calls():
        report = run_feeds(settings, options, emit=lines.write, progress=progress)
    failed = report.any_failed
    started = datetime.now(UTC)
    generated = started.strftime("%Y-%m-%d %H:%M UTC")
    text = digest_markdown(report, generated)
    try:  # kept for the editor's view, whether or not --digest asked for a file
        keep_digest(settings.home, text, started.strftime("%Y%m%dT%H%M%SZ"))
    except OSError as e:
        click.echo(f"warning: cannot keep the digest in the data dir: {e.strerror or e}", err=True)
    if digest:
        try:
            Path(digest).write_text(text, encoding="utf-8")
            click.echo(f"wrote {digest}", err=True)
        except OSError as e:
            click.echo(f"error: cannot write the digest {digest}: {e.strerror or e}", err=True)
            failed = True
    if out:
        click.echo(f"appended {lines.count} lines to {out}", err=True)
    click.echo(report.summary_line(), err=True)
    if report.error is not None:
        raise report.error  # after what the run did: told like any error, and exit 1
    if failed:
        sys.exit(1)
