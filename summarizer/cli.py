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


class Group(click.Group):
    """Turns expected failures into one line on stderr and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from summarizer.errors import SummarizerError

        try:
            return super().invoke(ctx)
        except SummarizerError as e:
            message = f"error: {e.message}"
            if e.hint:
                message += f" ({e.hint})"
            click.echo(message, err=True)
            ctx.exit(2 if isinstance(e, _usage_errors()) else 1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


def _usage_errors() -> tuple[type[Exception], ...]:
    from summarizer.errors import ConfigError

    return (ConfigError,)


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
@click.option("--max-bytes", type=int, help="Largest file or page accepted (default 10 MiB).")
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
def remove(article_ids: tuple[str, ...], **opts: Any) -> None:
    """Remove articles (their text and their chunks) from the corpus."""
    from summarizer import pipeline

    for removed in pipeline.remove(settings_from(opts), list(article_ids)):
        click.echo(f"removed {removed.id}  {removed.title}")


@cli.command()
@store_options
def reindex(**opts: Any) -> None:
    """Re-embed every stored article with the configured embedder."""
    from summarizer import pipeline, render

    with render.IngestProgress(quiet=False) as progress:
        n_articles, n_chunks, embedder = pipeline.reindex(settings_from(opts), progress=progress)
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
@click.option(
    "--length",
    type=click.Choice(["short", "medium", "long"]),
    default="medium",
    show_default=True,
    help="3, 5 or 8 key points.",
)
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


def main() -> None:
    cli(prog_name="summarizer")
