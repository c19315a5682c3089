"""Click commands: parse options -> call the pipeline -> render.

The one place where SummarizerError becomes a one-line message and an exit status. Only click
is imported at module level so that `summarizer --help` answers instantly; every command imports
what it needs when it runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from summarizer.config import Settings

F = TypeVar("F", bound=Callable[..., Any])
INTERRUPTED = 130  # the exit status after Ctrl-C, as shells report SIGINT


class Group(click.Group):
    """Turns expected failures into one line on stderr and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        import sqlite3

        from summarizer.errors import ConfigError, SummarizerError

        try:
            return super().invoke(ctx)
        except SummarizerError as e:
            message = f"error: {e.message}"
            if e.hint:
                message += f" ({e.hint})"
            click.echo(message, err=True)
            ctx.exit(2 if isinstance(e, ConfigError) else 1)
        except sqlite3.Error as e:  # the catalog, the ledger or the reply cache
            click.echo(
                f"error: database: {e} (is the disk full, or the data dir read-only?)", err=True
            )
            ctx.exit(1)
        except OSError as e:
            where = f": {e.filename}" if e.filename else ""
            click.echo(f"error: {e.strerror or e}{where}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(INTERRUPTED)


def store_options(f: F) -> F:
    """Options of every command that opens the corpus."""
    f = click.option(
        "--home",
        type=click.Path(file_okay=False),
        help="Data directory (default: the platform's user data dir; env SUMMARIZER_HOME).",
    )(f)
    f = click.option(
        "--chroma-url",
        metavar="URL",
        help="Use a Chroma server (chroma run) instead of the embedded store "
        "(env SUMMARIZER_CHROMA_URL).",
    )(f)
    f = click.option(
        "--embedder",
        metavar="NAME",
        help="chroma:all-MiniLM-L6-v2 (default), ollama:MODEL, or hash:DIM "
        "(env SUMMARIZER_EMBEDDER).",
    )(f)
    f = click.option(
        "--ollama-host",
        metavar="HOSTS",
        help="Ollama host(s), comma-separated (env OLLAMA_HOST).",
    )(f)
    return f


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(f)


def settings_from(opts: dict[str, Any]) -> Settings:
    """Settings from the environment with the command's store options applied."""
    from summarizer.config import Settings

    return Settings.from_env(
        home=opts.pop("home", None),
        chroma_url=opts.pop("chroma_url", None),
        embedder=opts.pop("embedder", None),
        ollama_hosts=opts.pop("ollama_host", None),
    )


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="summarizer")
def cli() -> None:
    """Turn news articles into a searchable local corpus, with citations to the exact words."""


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@store_options
@json_option
@click.option(
    "--max-bytes",
    type=click.IntRange(1),
    help="Largest file or page accepted (default 10 MiB).",
)
def ingest(sources: tuple[str, ...], as_json: bool, max_bytes: int | None, **opts: Any) -> None:
    """Add files, directories, globs or http(s) URLs to the corpus.

    Unchanged sources are skipped, changed ones replace their old text. Exit status 1 if any item
    failed; the others are still stored.
    """
    from dataclasses import replace

    from summarizer import pipeline, render

    settings = settings_from(opts)
    if max_bytes is not None:
        settings = replace(settings, max_bytes=max_bytes)
    with render.IngestProgress(quiet=as_json) as progress:
        report = pipeline.ingest(settings, list(sources), progress=progress)
    if as_json:
        render.print_json([r.as_dict() for r in report.results])
    click.echo(report.summary_line(), err=True)
    if report.failed:
        sys.exit(1)


@cli.command(name="list")
@store_options
@json_option
def list_(as_json: bool, **opts: Any) -> None:
    """List the articles in the corpus."""
    from summarizer import pipeline, render

    articles = pipeline.list_articles(settings_from(opts))
    if as_json:
        render.print_json([a.summary_dict() for a in articles])
    else:
        render.print_article_table(articles)


@cli.command()
@click.argument("article_id")
@store_options
@json_option
def show(article_id: str, as_json: bool, **opts: Any) -> None:
    """Show one article: its metadata and exact stored text."""
    from summarizer import pipeline, render

    article = pipeline.get_article(settings_from(opts), article_id)
    if as_json:
        render.print_json(article.full_dict())
    else:
        render.print_article(article)


@cli.command()
@click.argument("query")
@click.option("-k", "k", default=5, show_default=True, type=click.IntRange(1, 1000))
@store_options
@json_option
def search(query: str, k: int, as_json: bool, **opts: Any) -> None:
    """Semantic search over the corpus: the passages closest to QUERY."""
    from summarizer import pipeline, render

    hits = pipeline.search(settings_from(opts), query, k=k)
    if as_json:
        render.print_json([h.as_dict() for h in hits])
    else:
        render.print_hits(hits)


@cli.command()
@click.argument("article_ids", nargs=-1, required=True)
@store_options
@json_option
def remove(article_ids: tuple[str, ...], as_json: bool, **opts: Any) -> None:
    """Remove articles (their text and their chunks) from the corpus.

    Every id is checked first: an unknown one removes nothing.
    """
    from summarizer import pipeline, render

    removed = []
    for article in pipeline.remove(settings_from(opts), list(article_ids)):
        removed.append({"id": article.id, "title": article.title, "source": article.source})
        if not as_json:
            click.echo(f"removed {article.id}  {article.title}")
    if as_json:
        render.print_json(removed)


@cli.command()
@store_options
@json_option
def reindex(as_json: bool, **opts: Any) -> None:
    """Re-embed every stored article with the configured embedder."""
    from summarizer import pipeline, render

    with render.IngestProgress(quiet=as_json) as progress:
        n_articles, n_chunks, embedder = pipeline.reindex(settings_from(opts), progress=progress)
    if as_json:
        render.print_json({"articles": n_articles, "chunks": n_chunks, "embedder": embedder})
    else:
        click.echo(f"reindexed {n_articles} articles ({n_chunks} chunks) with {embedder}", err=True)


@cli.command()
@click.option("--model", metavar="NAME", help="Ollama chat model (env SUMMARIZER_MODEL).")
@store_options
@json_option
def doctor(model: str | None, as_json: bool, **opts: Any) -> None:
    """Check the Ollama host(s), the models, the store and the embedder; list the fixes."""
    from dataclasses import asdict, replace

    from summarizer import render
    from summarizer.doctor import check_ollama, check_store, fixes

    settings = settings_from(opts)
    settings = replace(settings, model=model or settings.model)
    checks = check_ollama(settings) + check_store(settings)
    needed = fixes(checks)
    if as_json:
        render.print_json(
            {"ok": not needed, "checks": [asdict(c) for c in checks], "fixes": needed}
        )
    else:
        for c in checks:
            click.echo(f"{'ok  ' if c.ok else 'FAIL'}  {c.name}: {c.detail}")
        if needed:
            click.echo("\nTo fix:")
            for fix in needed:
                click.echo(f"  - {fix}")
    if needed:
        sys.exit(1)


def model_options(f: F) -> F:
    """Options of every command that asks the model."""
    f = click.option("--model", metavar="NAME", help="Ollama chat model (env SUMMARIZER_MODEL).")(f)
    f = click.option(
        "--no-cache", is_flag=True, help="Ask the model again, even for a cached reply."
    )(f)
    f = click.option(
        "--out", type=click.Path(dir_okay=False, writable=True), help="Write the output to FILE."
    )(f)
    f = click.option(
        "--parallel",
        type=click.IntRange(1, 64),
        help="Requests in flight per Ollama host (env SUMMARIZER_PARALLEL, default 2; match the "
        "server's OLLAMA_NUM_PARALLEL).",
    )(f)
    return f


def check_out(out: str | None) -> None:
    """Fail before any model work when the output file cannot be written."""
    import os
    from pathlib import Path

    from summarizer.errors import ConfigError

    if out is None:
        return
    parent = Path(out).expanduser().resolve().parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ConfigError(f"--out {out}: the directory {parent} does not exist or is not writable")


def length_option(f: F) -> F:
    return click.option(
        "--length",
        type=click.Choice(["short", "medium", "long"]),
        default="medium",
        show_default=True,
        help="Key points per summary: 3, 5 or 8.",
    )(f)


def keep_option(f: F) -> F:
    return click.option(
        "--keep-unverified",
        is_flag=True,
        help="Keep points and claims none of whose quotes is in the article, marked unverified.",
    )(f)


def _model_settings(opts: dict[str, Any]) -> Settings:
    """Settings with the store and model options applied (popped from `opts`)."""
    from dataclasses import replace

    model, parallel, no_cache = opts.pop("model"), opts.pop("parallel"), opts.pop("no_cache")
    base = settings_from(opts)
    return replace(
        base,
        model=model or base.model,
        parallel=parallel or base.parallel,
        use_cache=base.use_cache and not no_cache,
    )


def _analyze(task: str, sources: tuple[str, ...], as_json: bool, opts: dict[str, Any]) -> None:
    from summarizer import pipeline, render

    out, keep = opts.pop("out"), opts.pop("keep_unverified")
    check_out(out)
    length = opts.pop("length", "medium")
    corroborate = opts.pop("corroborate", False)
    settings = _model_settings(opts)
    results = pipeline.analyze(
        settings,
        list(sources),
        task,
        length=length,
        keep_unverified=keep,
        corroborate=corroborate,
    )
    for r in results:
        if r.error:
            click.echo(f"error: {r.source}: {r.error}", err=True)
    done = [r.output for r in results if r.output is not None]
    if as_json:
        data = [o.model_dump(mode="json") for o in done]
        text = render.json_text(data[0] if len(sources) == 1 and data else data)
    else:
        text = "\n\n".join(render.markdown(o) for o in done)
    render.emit(text, out, markdown=not as_json)
    if any(r.error for r in results):
        sys.exit(1)


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@length_option
@keep_option
@model_options
@store_options
@json_option
def summarize(sources: tuple[str, ...], as_json: bool, **opts: Any) -> None:
    """Summarise articles: a headline, a summary and key points with verified quotes.

    SOURCE is an article id, a file or a URL (ingested first when new). Every quote is located in
    the stored article and pinned to its character range; points without one are dropped.
    """
    _analyze("summarize", sources, as_json, opts)


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@click.option(
    "--corroborate",
    is_flag=True,
    help="Search the rest of the corpus for each claim and list the passages of other "
    "articles that report it too.",
)
@keep_option
@model_options
@store_options
@json_option
def claims(sources: tuple[str, ...], as_json: bool, **opts: Any) -> None:
    """List the factual claims of articles, each with who asserts it and verified quotes.

    SOURCE is an article id, a file or a URL (ingested first when new).
    """
    _analyze("claims", sources, as_json, opts)


@cli.command()
@click.argument("question")
@click.option(
    "-k",
    "k",
    default=8,
    show_default=True,
    type=click.IntRange(1, 50),
    help="Passages given to the model.",
)
@click.option(
    "--source",
    "sources",
    multiple=True,
    metavar="TEXT",
    help="Only articles whose source, URL or site contains TEXT (repeatable).",
)
@click.option("--since", metavar="DATE", help="Only articles dated on or after DATE (YYYY-MM-DD).")
@click.option("--until", metavar="DATE", help="Only articles dated on or before DATE.")
@click.option(
    "--article",
    "article_ids",
    multiple=True,
    metavar="ID",
    help="Only this article (repeatable; an id prefix is enough).",
)
@model_options
@store_options
@json_option
def ask(question: str, k: int, as_json: bool, **opts: Any) -> None:
    """Answer QUESTION from the corpus, every statement cited, or say the corpus does not.

    Passages are retrieved by meaning and by words (fused), at most two per article; the model
    answers from them, and only quotes found in those passages are kept as citations.
    """
    from summarizer import pipeline, render
    from summarizer.retrieve import Filters

    settings = _model_settings(opts)
    out = opts.pop("out")
    check_out(out)
    filters = Filters(
        sources=tuple(opts.pop("sources")),
        since=_iso_date(opts.pop("since"), "--since"),
        until=_iso_date(opts.pop("until"), "--until"),
        article_ids=tuple(pipeline.get_article(settings, a).id for a in opts.pop("article_ids")),
    )
    answer = pipeline.ask(settings, question, k=k, filters=filters)
    if as_json:
        render.emit(render.json_text(answer.model_dump(mode="json")), out, markdown=False)
    else:
        render.emit(render.answer_markdown(answer), out, markdown=True)


def _iso_date(value: str | None, option: str) -> str | None:
    from datetime import date

    from summarizer.errors import ConfigError

    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ConfigError(f"{option} {value!r} is not a date like 2022-03-01") from None


@cli.command()
@click.argument("kind", type=click.Choice(["summary", "claims"]))
def schema(kind: str) -> None:
    """Print the JSON schema of `summarize --json` or `claims --json` output (one article)."""
    from summarizer import render
    from summarizer.models import ClaimSet, Summary

    model = Summary if kind == "summary" else ClaimSet
    click.echo(render.json_text(model.model_json_schema()))


# --- feed jobs (feeds group, run) -------------------------------------------------------------


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
    from summarizer.ledger import Ledger

    with Ledger.open(settings_from(opts)) as ledger:
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
    from summarizer.ledger import Ledger

    with Ledger.open(settings_from(opts)) as ledger:
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
    from summarizer.batch import run_lock
    from summarizer.ledger import Ledger

    settings = settings_from(opts)
    # Not under a run's feet: its entries would vanish while it works on them.
    with run_lock(settings), Ledger.open(settings) as ledger:
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
    from summarizer.feed_lists import read_feed_list
    from summarizer.ledger import Ledger
    from summarizer.sources import read_bytes

    data = read_bytes(Path(file), 10 * 1024 * 1024)
    added, known, failed = [], 0, 0
    with Ledger.open(settings_from(opts)) as ledger:
        for listed in read_feed_list(data, file):
            if isinstance(listed, FeedError):
                failed += 1
                click.echo(f"error: {listed.message}", err=True)
                continue
            if ledger.feed_for_url(listed.url) is not None:
                known += 1
                continue
            try:
                feed = ledger.add_feed(listed.url, listed.name, unique=True)
            except FeedError as e:  # this line only: the rest is imported
                failed += 1
                click.echo(f"error: {listed.where}: {e.message}", err=True)
                continue
            added.append(feed)
            if not as_json:
                click.echo(f"added feed {feed.name}: {feed.url}")
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

    from summarizer import render
    from summarizer.batch import RunOptions
    from summarizer.batch import run as run_feeds
    from summarizer.errors import ConfigError

    options = RunOptions(
        feeds=tuple(opts.pop("feed_names")),
        retry_failed=opts.pop("retry_failed"),
        since=_iso_date(opts.pop("since"), "--since"),
        limit=opts.pop("limit"),
        allow_private=opts.pop("allow_private"),
        length=opts.pop("length"),
        keep_unverified=opts.pop("keep_unverified"),
    )
    out, digest, max_bytes = opts.pop("out"), opts.pop("digest"), opts.pop("max_bytes")
    settings = _model_settings(opts)
    if digest and not Path(digest).resolve().parent.is_dir():
        raise ConfigError(f"cannot write the digest {digest}: no such directory")
    if max_bytes is not None:
        settings = replace(settings, max_bytes=max_bytes)
    with render.JsonLines(out) as lines, render.BatchProgress() as progress:
        report = run_feeds(settings, options, emit=lines.write, progress=progress)
    failed = report.any_failed
    if digest:
        generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        try:
            Path(digest).write_text(render.digest_markdown(report, generated), encoding="utf-8")
            click.echo(f"wrote {digest}", err=True)
        except OSError as e:
            click.echo(f"error: cannot write the digest {digest}: {e.strerror or e}", err=True)
            failed = True
    if out:
        click.echo(f"appended {lines.count} lines to {out}", err=True)
    click.echo(report.summary_line(), err=True)
    if failed:
        sys.exit(1)


def main() -> None:
    try:
        cli(prog_name="summarizer")
    except SystemExit as e:
        if e.code == INTERRUPTED:
            _exit_now_if_threads_remain(INTERRUPTED)
        raise


def _exit_now_if_threads_remain(status: int) -> None:
    """After Ctrl-C, exit at once when worker threads still wait on a model reply or a page:
    Python would otherwise wait for them at exit, minutes later. The main thread has unwound
    and closed everything by now, and stored work is safe against a kill at any point."""
    import os
    import threading

    main = threading.main_thread()
    if any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
