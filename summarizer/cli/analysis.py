"""Commands that ask the model: summarize, claims, ask; and schema, for their JSON."""

from __future__ import annotations

import sys
from typing import Any

import click

from summarizer.cli.app import cli
from summarizer.cli.options import (
    check_out,
    from_stdin,
    json_option,
    keep_option,
    length_option,
    model_options,
    model_settings,
    out_option,
    rerank_option,
    store_options,
)
from summarizer.config import iso_date


def _analyze(task: str, sources: tuple[str, ...], as_json: bool, opts: dict[str, Any]) -> None:
    from summarizer import pipeline, render
    from summarizer.progress import ProgressBar

    out, keep = opts.pop("out"), opts.pop("keep_unverified")
    check_out(out)
    length = opts.pop("length", "medium")
    corroborate = opts.pop("corroborate", False)
    settings = model_settings(opts)
    with ProgressBar() as progress, progress.model_calls():
        results = pipeline.analyze(
            settings,
            from_stdin(settings, sources),
            task,
            length=length,
            keep_unverified=keep,
            corroborate=corroborate,
        )
    for r in results:
        if r.error:
            click.echo(f"error: {r.source}: {r.error}", err=True)
        elif r.output is not None and r.output.outcome_message:
            # A task that came to nothing checkable fails, with what the model gave instead.
            click.echo(f"error: {r.source}: {r.output.outcome_message}", err=True)
    done = [r.output for r in results if r.output is not None]
    if out and is_html(out):
        _write_report(settings, done, out)
    elif as_json:
        # One shape whatever happened: an object per SOURCE, its output or its error.
        data = [
            r.output.model_dump(mode="json")
            if r.output is not None
            else {"source": r.source, "error": r.error}
            for r in results
        ]
        render.emit(render.json_text(data[0] if len(sources) == 1 else data), out, markdown=False)
    elif done:
        render.emit("\n\n".join(render.markdown(o) for o in done), out, markdown=True)
    if any(r.error or (r.output is not None and r.output.outcome != "ok") for r in results):
        sys.exit(1)


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@length_option
@keep_option
@out_option
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
@out_option
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
@rerank_option
@out_option
@model_options
@store_options
@json_option
def ask(question: str, k: int, rerank: bool, as_json: bool, **opts: Any) -> None:
    """Answer QUESTION from the corpus, every statement cited, or say the corpus does not.

    Passages are retrieved by meaning and by words (fused; a period the question names, such as
    "this week", preferred; at most four per article); the model answers from them, and only
    quotes found in those passages are kept as citations.
    """
    from summarizer import pipeline, render
    from summarizer.corpus import Filters
    from summarizer.progress import ProgressBar

    settings = model_settings(opts)
    out = opts.pop("out")
    check_out(out)
    filters = Filters(
        sources=tuple(opts.pop("sources")),
        since=iso_date(opts.pop("since"), "--since"),
        until=iso_date(opts.pop("until"), "--until"),
        article_ids=tuple(pipeline.get_article(settings, a).id for a in opts.pop("article_ids")),
    )
    with ProgressBar() as progress, progress.model_calls():
        answer = pipeline.ask(settings, question, k=k, filters=filters, rerank=rerank)
    if as_json:
        render.emit(render.json_text(answer.model_dump(mode="json")), out, markdown=False)
    else:
        render.emit(render.answer_markdown(answer), out, markdown=True)
    if answer.outcome_message:
        # "The corpus does not say" is an answer; a reply with nothing checkable in it is not.
        click.echo(f"error: {answer.outcome_message}", err=True)
        sys.exit(1)


def is_html(out: str) -> bool:
    return out.lower().endswith((".html", ".htm"))


def _write_report(settings: Any, outputs: list[Any], out: str) -> None:
    """`--out FILE.html`: the outputs as a self-contained page, each beside its article."""
    from summarizer import pipeline, render
    from summarizer.models import Summary
    from summarizer.web.report import title_of
    from summarizer.web.views import article_view, report_html

    views = []
    for o in outputs:
        article = pipeline.get_article(settings, o.article_id)
        summary, claims = (o, None) if isinstance(o, Summary) else (None, o)
        views.append(article_view(article, summary, claims))
    if views:
        render.emit(report_html(views, title_of(views)), out, markdown=False)


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@click.option(
    "--out",
    "-o",
    "--html",
    "html_file",
    required=True,
    type=click.Path(dir_okay=False, writable=True),
    help="Write the report to FILE (one self-contained HTML page).",
)
@length_option
@model_options
@store_options
def report(sources: tuple[str, ...], html_file: str, **opts: Any) -> None:
    """Write one HTML page with each article, every cited span highlighted, beside its summary
    and claims with their verdicts and provenance: to mail to a colleague or archive.

    SOURCE is an article id, a file or a URL. Summaries and claims kept from earlier runs are
    used; those missing (or made from an older text) are made first with the model.
    """
    from summarizer import render
    from summarizer.progress import ProgressBar
    from summarizer.web.report import build, title_of
    from summarizer.web.views import report_html

    check_out(html_file)
    opts.pop("keep_unverified", None)
    length = opts.pop("length", "medium")
    settings = model_settings(opts)
    with ProgressBar() as progress, progress.model_calls():
        views, errors = build(settings, from_stdin(settings, sources), length=length)
    for line in errors:
        click.echo(f"error: {line}", err=True)
    if views:
        render.emit(report_html(views, title_of(views)), html_file, markdown=False)
    if errors or not views:
        sys.exit(1)


@cli.command()
@click.argument("kind", type=click.Choice(["summary", "claims"]))
def schema(kind: str) -> None:
    """Print the JSON schema of `summarize --json` or `claims --json` output (one article)."""
    from summarizer import render
    from summarizer.models import ClaimSet, Summary

    model = Summary if kind == "summary" else ClaimSet
    click.echo(render.json_text(model.model_json_schema()))
