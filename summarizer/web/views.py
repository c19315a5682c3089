"""What the article page and the report show, built from the catalog: the text with its marks,
the kept summary and claims, and the templates that render them (escaped throughout)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from summarizer.web.marks import Quote, Statement, marked_text, statements
from summarizer.words import counted

if TYPE_CHECKING:
    import jinja2

    from summarizer.corpus import Catalog, Version
    from summarizer.models import Article, ClaimSet, Summary

TASKS = (("summarize", "Summarise"), ("claims", "Extract claims"))


@dataclass
class Job:
    id: str
    message: str
    running: bool


@dataclass
class ArticleView:
    article: Article
    words: int
    marked: Markup
    statements: list[Statement]
    summary: Summary | None = None
    claims: ClaimSet | None = None
    stale: list[str] = field(default_factory=list)  # outputs made from an earlier text
    actions: list[tuple[str, str, bool]] = field(default_factory=list)
    job: Job | None = None
    versions: list[Version] = field(default_factory=list)  # of the article, oldest first
    version: int | None = None  # the one shown, when it is not the latest


def shown_counts(catalog: Catalog, article_ids: Sequence[str]) -> dict[tuple[str, str], str]:
    """(article id, task) -> what its kept output shows, in a few words: "3 supported", "none
    supported" (a "Nothing to show" is not a summary), "2 unchecked" (made with --support off)."""
    import json

    shown: dict[tuple[str, str], str] = {}
    for (aid, task), data in catalog.current_outputs(article_ids).items():
        items = json.loads(data).get("key_points" if task == "summarize" else "claims") or []
        verdicts = [(i.get("support") or {}).get("verdict") for i in items]
        supported = verdicts.count("supported")
        unchecked = verdicts.count(None)
        if supported:
            shown[(aid, task)] = f"{supported} supported"
        elif unchecked:
            shown[(aid, task)] = f"{unchecked} unchecked"
        else:
            shown[(aid, task)] = "none supported"
    return shown


def kept_outputs(catalog: Catalog, article: Article) -> tuple[Summary | None, ClaimSet | None]:
    """The summary and claims kept for this text of the article, else the latest ones kept
    (of an earlier version of its text)."""
    from summarizer.models import ClaimSet, Summary

    def kept(task: str) -> str | None:
        found = catalog.output(article.id, task, article.content_hash) or catalog.output(
            article.id, task
        )
        return None if found is None else found[2]

    summary, claims = kept("summarize"), kept("claims")
    return (
        None if summary is None else Summary.model_validate_json(summary),
        None if claims is None else ClaimSet.model_validate_json(claims),
    )


def article_view(
    article: Article,
    summary: Summary | None,
    claims: ClaimSet | None,
    *,
    highlight: tuple[int, int] | None = None,
) -> ArticleView:
    """The article with the quotes of its summary and claims marked; `highlight` (a span an
    answer cites) is marked too. A quote that is not the text's own words is not marked."""
    from summarizer.reading import word_count

    text = article.text
    shown = statements(text, summary, claims)
    marked = list(shown)
    if highlight is not None:
        start, end = highlight
        if 0 <= start < end <= len(text):
            quote = Quote("hl-0", start, end, text[start:end])
            marked.append(Statement("hl", "the cited passage", "", None, [quote]))
    stale = [
        name
        for name, o in (("summary", summary), ("claims", claims))
        if o is not None and o.content_hash != article.content_hash
    ]
    return ArticleView(
        article=article,
        words=word_count(text),
        marked=marked_text(text, marked, scope=article.id),
        statements=shown,
        summary=summary,
        claims=claims,
        stale=stale,
        actions=[
            (task, label, (summary if task == "summarize" else claims) is not None)
            for task, label in TASKS
        ],
    )


def safe_url(url: object) -> str:
    """Only http(s) links are links: a `javascript:` URL from a hostile page is not."""
    text = str(url or "")
    return text if text.lower().startswith(("http://", "https://")) else "#"


@functools.cache
def environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("summarizer.web", "templates"),
        autoescape=True,
        trim_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["safe_url"] = safe_url
    env.filters["counted"] = counted
    return env


def render(template: str, **context: Any) -> str:
    context.setdefault("inline", False)
    context.setdefault("refresh", None)
    return environment().get_template(template).render(**context)


@functools.cache
def asset(name: str) -> str:
    from importlib.resources import files

    return (files("summarizer.web") / "static" / name).read_text(encoding="utf-8")


def report_html(views: list[ArticleView], title: str) -> str:
    """One self-contained page (inline CSS, readable without script) for `views`."""
    import base64
    import hashlib
    from datetime import UTC, datetime
    from importlib.metadata import version

    js = asset("app.js")
    digest = base64.b64encode(hashlib.sha256(js.encode()).digest()).decode()
    csp = f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{digest}'"
    return render(
        "report.html",
        inline=True,
        csp=csp,
        css=asset("app.css"),
        js=js,
        views=views,
        title=title,
        version=version("summarizer"),
        made=datetime.now(UTC).isoformat(timespec="seconds"),
    )
