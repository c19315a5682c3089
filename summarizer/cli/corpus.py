"""Corpus commands: ingest, list, show, search, remove, reindex, doctor."""

from __future__ import annotations

import sys
from typing import Any

import click

from summarizer.cli.app import cli
from summarizer.cli.options import (
    from_stdin,
    json_option,
    model_option,
    rerank_option,
    settings_from,
    store_options,
)


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@store_options
@json_option
@click.option(
    "--max-bytes",
    type=click.IntRange(1),
    help="Largest file or page accepted (default 10 MiB).",
)
@click.option(
    "--allow-private",
    is_flag=True,
    help="Allow pages on loopback, private and link-local addresses (intranets); recorded with "
    "each article, so that `refresh` may read it from there again.",
)
def ingest(
    sources: tuple[str, ...], as_json: bool, max_bytes: int | None, allow_private: bool, **opts: Any
) -> None:
    """Add files, directories, globs or http(s) URLs to the corpus.

    Unchanged sources are skipped, changed ones replace their old text. Pages (and their
    redirects) on private addresses are refused without --allow-private. Exit status 1 if any
    item failed; the others are still stored.
    """
    from dataclasses import replace

    from summarizer import pipeline, render
    from summarizer.progress import IngestProgress

    settings = replace(settings_from(opts), allow_private=allow_private)
    if max_bytes is not None:
        settings = replace(settings, max_bytes=max_bytes)
    with IngestProgress(quiet=as_json) as progress:
        report = pipeline.ingest(settings, from_stdin(settings, sources), progress=progress)
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
@click.option(
    "--version", "n", type=click.IntRange(1), metavar="N", help="Version N (see `history`)."
)
@store_options
@json_option
def show(article_id: str, n: int | None, as_json: bool, **opts: Any) -> None:
    """Show one article: its metadata and exact stored text (of its latest version)."""
    from summarizer import pipeline, render

    article = pipeline.get_version(settings_from(opts), article_id, n)
    if as_json:
        render.print_json(article.full_dict())
    else:
        render.print_article(article)


@cli.command()
@click.argument("query")
@click.option("-k", "k", default=5, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--dense",
    is_flag=True,
    help="Nearest by meaning alone (any number per article; score = cosine similarity).",
)
@rerank_option
@model_option
@store_options
@json_option
def search(
    query: str, k: int, dense: bool, rerank: bool, model: str | None, as_json: bool, **opts: Any
) -> None:
    """Search the corpus: the passages that best match QUERY, found as `ask` finds them (by
    meaning and by words, fused; at most four per article; a period the query names, such as
    "this week" or "in March 2022", preferred)."""
    from dataclasses import replace

    from summarizer import pipeline, render

    settings = settings_from(opts)
    settings = replace(settings, model=model or settings.model)
    warnings: list[str] = []
    hits = pipeline.search(settings, query, k=k, dense=dense, rerank=rerank, warnings=warnings)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    if not hits and not pipeline.list_articles(settings):
        from summarizer.errors import NotFoundError

        raise NotFoundError(
            "the corpus is empty", hint="add articles with `summarizer ingest PATH|URL`"
        )
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
    from summarizer.progress import IngestProgress

    with IngestProgress(quiet=as_json) as progress:
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
