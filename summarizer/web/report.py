"""`summarizer report`: the articles, their kept summaries and claims (made first when missing
or made from an older text), as one self-contained HTML file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from summarizer.words import counted

if TYPE_CHECKING:
    from summarizer.config import Settings
    from summarizer.web.views import ArticleView

TASKS = ("summarize", "claims")


def build(
    settings: Settings, sources: list[str], *, length: Any = "medium"
) -> tuple[list[ArticleView], list[str]]:
    """The views of `sources`, in order, and one `SOURCE: reason` line per failure."""
    from summarizer import pipeline
    from summarizer.web.views import article_view, kept_outputs

    errors: list[str] = []
    ids: list[str] = []
    for source, aid, why in pipeline.resolve_sources(settings, sources):
        if aid is None:
            errors.append(f"{source}: {why}")
        elif aid not in ids:
            ids.append(aid)
    if not ids:
        return [], errors
    with pipeline.open_corpus(settings) as corpus:
        stale: dict[str, list[str]] = {task: [] for task in TASKS}
        for aid in ids:
            article = corpus.catalog.resolve(aid)
            for task in TASKS:
                kept = corpus.catalog.output(aid, task)
                if kept is None or kept[0] != article.content_hash:
                    stale[task].append(aid)
    for task, todo in stale.items():
        if todo:
            for r in pipeline.analyze(settings, todo, task, length=length):
                if r.error:
                    errors.append(f"{r.source}: {r.error}")
                elif r.output is not None and r.output.outcome_message:
                    errors.append(f"{r.source}: {r.output.outcome_message}")
    views = []
    with pipeline.open_corpus(settings) as corpus:
        for aid in ids:
            article = corpus.catalog.resolve(aid)
            summary, claims = kept_outputs(corpus.catalog, article)
            views.append(article_view(article, summary, claims))
            # Kept from an earlier run, or made just now: an article with nothing to show is
            # said once, and fails the report (as `summarize` fails on it).
            said = [o.outcome_message for o in (summary, claims) if o and o.outcome_message]
            empty = said and not any(o and o.outcome == "ok" for o in (summary, claims))
            if empty and not any(e.startswith(f"{aid}: ") for e in errors):
                errors.append(f"{aid}: nothing to show: {said[0]}")
    return views, errors


def title_of(views: list[ArticleView]) -> str:
    if len(views) == 1:
        return views[0].article.title
    return counted(len(views), "articles")
