"""Commands of a fleet on a shared database: `db upgrade` (make or migrate its tables) and
`workers` (who is working, on what)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from summarizer.cli.app import cli
from summarizer.cli.options import json_option, settings_from, store_options

if TYPE_CHECKING:
    from summarizer.config import Settings

# The parts that keep tables in the shared database, in the order `db upgrade` makes them.
PARTS = ("catalog", "ledger", "reply_cache", "fleet")


def _shared(settings: Settings) -> str:
    from summarizer.errors import ConfigError

    if not settings.database_url:
        raise ConfigError(
            "no shared database: this command is for SUMMARIZER_DATABASE_URL / --database-url",
            hint="the data dir's SQLite files are made and migrated by every command itself",
        )
    return settings.database_url


@cli.group()
def db() -> None:
    """The shared PostgreSQL database (SUMMARIZER_DATABASE_URL)."""


@db.command(name="upgrade")
@store_options
@json_option
def db_upgrade(as_json: bool, **opts: Any) -> None:
    """Make the shared database's tables, or migrate them to this version of summarizer.

    Every command does it too when it opens the database; run it once after an upgrade, before
    the workers start, so that none of them waits for another's migration. Safe to run on
    several machines at once: one migrates, the others wait for it.
    """
    from summarizer.corpus import open_catalog
    from summarizer.database import connect, shown
    from summarizer.feeds import open_ledger
    from summarizer.feeds.fleet import Fleet
    from summarizer.llm.pg_cache import PgReplyCache

    settings = settings_from(opts)
    url = _shared(settings)
    database = connect(url)
    before = {part: database.version(part) for part in PARTS}
    open_catalog(settings).close()
    open_ledger(settings).close()
    cache = PgReplyCache(url)
    len(cache)  # made on first use
    cache.close()
    Fleet.of(settings)
    after = {part: database.version(part) for part in PARTS}
    if as_json:
        versions = {p: {"was": before[p], "now": after[p]} for p in PARTS}
        click.echo(json.dumps({"database": shown(url), "schema": versions}, indent=2))
        return
    for part in PARTS:
        was, now = before[part], after[part]
        state = f"schema {now} (made)" if was == 0 else f"schema {was} -> {now}"
        click.echo(f"{part}: {state if was != now else f'schema {now}, up to date'}")
    click.echo(f"database {shown(url)} ready", err=True)


@cli.command()
@click.option("--all", "show_all", is_flag=True, help="Also the workers that have stopped.")
@store_options
@json_option
def workers(show_all: bool, as_json: bool, **opts: Any) -> None:
    """The workers of the shared database (`summarizer run` processes): who is alive, and which
    feeds and entries each holds.

    A worker not seen for a lease's length (SUMMARIZER_LEASE_SECONDS) is shown as gone: killed,
    or its machine down; what it held is free for the others, which take it over.
    """
    from summarizer.feeds import open_ledger
    from summarizer.feeds.fleet import Fleet

    settings = settings_from(opts)
    _shared(settings)
    rows = Fleet.of(settings).workers(stopped=show_all)
    with open_ledger(settings) as ledger:
        feeds = {f.id: f.name for f in ledger.feeds()}
        held = [i for row in rows for i in row.holds.get("entry", [])]
        labels = {e.id: e.label for e in ledger.entries(ids=held)} if held else {}
    if as_json:
        out = [
            {
                "name": r.name, "alive": r.alive, "started_at": r.started_at,
                "seen_at": r.seen_at, "stopped_at": r.stopped_at, "done": r.done,
                "failed": r.failed,
                "feeds": [feeds.get(i, str(i)) for i in r.holds.get("feed", [])],
                "entries": [{"id": i, "label": labels.get(i)} for i in r.holds.get("entry", [])],
            }
            for r in rows
        ]  # fmt: skip
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no worker is running" + ("" if show_all else " (--all: those that stopped)"))
        return
    for r in rows:
        state = (
            f"stopped {r.stopped_at}" if r.stopped_at
            else "working" if r.alive else f"gone (last seen {r.seen_at})"
        )  # fmt: skip
        click.echo(f"{r.name}: {state}; started {r.started_at}; {r.done} done, {r.failed} failed")
        for i in r.holds.get("feed", []):
            click.echo(f"  reading feed {feeds.get(i, i)}")
        for i in r.holds.get("entry", []):
            click.echo(f"  processing {labels.get(i, f'entry {i}')}")
