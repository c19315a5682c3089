"""What each tool and resource of the MCP server does, as plain functions over Settings that
return the JSON the CLI's `--json` prints: no MCP here, so each is what the CLI command does.

They block (disk, embedder, model): the server runs them on worker threads.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from summarizer.config import Settings
    from summarizer.corpus import Filters
    from summarizer.models import Article, ClaimSet, Summary

Task = Literal["summarize", "claims"]
LIST_LIMIT = 200  # the most articles one list_articles call returns


def filters_of(
    settings: Settings,
    sources: list[str],
    since: str | None,
    until: str | None,
    article_ids: list[str],
) -> Filters:
    """The filters of `ask` (and `search`): dates checked, id prefixes resolved as the CLI does."""
    from summarizer import pipeline
    from summarizer.config import iso_date
    from summarizer.corpus import Filters

    return Filters(
        sources=tuple(s for s in sources if s.strip()),
        since=iso_date(since or None, "since"),
        until=iso_date(until or None, "until"),
        article_ids=tuple(pipeline.get_article(settings, a).id for a in article_ids),
    )


def search(
    settings: Settings, query: str, k: int, *, dense: bool, filters: Filters
) -> list[dict[str, Any]]:
    """`summarizer search --json`; with filters, the same fused retrieval limited to them."""
    from summarizer import pipeline
    from summarizer.errors import ConfigError, NotFoundError

    if filters.active and dense:
        raise ConfigError("filters apply to the fused retrieval: they cannot be used with dense")
    hits = pipeline.search(settings, query, k=k, dense=dense, filters=filters)
    if not hits and not pipeline.list_articles(settings):
        raise NotFoundError(
            "the corpus is empty", hint="add articles with `summarizer ingest PATH|URL`"
        )
    return [h.as_dict() for h in hits]


def ask(settings: Settings, question: str, k: int, filters: Filters) -> dict[str, Any]:
    """`summarizer ask --json`: the answer, its points, conflicts and passages retrieved."""
    from summarizer import pipeline

    answer = pipeline.ask(settings, question, k=k, filters=filters)
    data: dict[str, Any] = answer.model_dump(mode="json")
    return data


def show_article(settings: Settings, article_id: str, version: int | None) -> dict[str, Any]:
    """`summarizer show --json`: metadata and exact text, of the latest version or of one."""
    from summarizer import pipeline

    data: dict[str, Any] = pipeline.get_version(settings, article_id, version).full_dict()
    return data


def article_text(settings: Settings, article_id: str, version: int | None) -> str:
    """The exact stored text of an article (of version `version`, else its latest)."""
    from summarizer import pipeline

    return pipeline.get_version(settings, article_id, version).text


def list_articles(
    settings: Settings,
    *,
    source: str | None,
    since: str | None,
    until: str | None,
    offset: int,
    limit: int,
) -> dict[str, Any]:
    """A page of the articles, newest first, as the web corpus page lists them."""
    from summarizer.config import iso_date
    from summarizer.corpus import open_catalog

    with closing(open_catalog(settings)) as catalog:
        listed, total = catalog.listing(
            sources=(source,) if source and source.strip() else (),
            since=iso_date(since or None, "since"),
            until=iso_date(until or None, "until"),
            offset=offset,
            limit=min(limit, LIST_LIMIT),
        )
    return {"total": total, "offset": offset, "articles": [asdict(a) for a in listed]}


def kept_output(
    settings: Settings, article_id: str, task: Task, length: str
) -> tuple[Article, dict[str, Any] | None]:
    """The article, and the output of `task` kept for its latest text (None when there is
    none, it was made from an older text, or it is a summary of another length)."""
    import json

    from summarizer import pipeline

    with pipeline.open_corpus(settings) as corpus:
        article = corpus.catalog.resolve(article_id)
        kept = corpus.catalog.output(article.id, task, article.content_hash)
    if kept is None:
        return article, None
    data: dict[str, Any] = json.loads(kept[2])
    if task == "summarize" and data.get("length") != length:
        return article, None
    return article, data


def make_output(
    settings: Settings, article: Article, task: Task, length: str
) -> Summary | ClaimSet:
    """The output of `task` made with the model (support verdicts included), not kept yet."""
    from summarizer import pipeline
    from summarizer.analysis import extract_claims, summarize
    from summarizer.llm import Ollama

    with pipeline.open_corpus(settings) as corpus, Ollama(settings) as llm:
        chunks = corpus.catalog.chunks(article)
        llm.model_digest()  # an unreachable host or a model not pulled stops here, as the CLI
        if task == "summarize":
            return summarize(llm, article, chunks, length=_length(length))
        return extract_claims(llm, article, chunks)


def keep_output(settings: Settings, task: Task, output: Summary | ClaimSet) -> None:
    """Keep `output` in the catalog as the latest of its task, as `summarize` keeps it."""
    from summarizer import pipeline

    with pipeline.open_corpus(settings) as corpus:
        corpus.catalog.save_output(
            output.article_id, task, output.content_hash, output.model_dump_json()
        )


def _length(value: str) -> Literal["short", "medium", "long"]:
    if value == "short":
        return "short"
    return "long" if value == "long" else "medium"


def ingest_url(settings: Settings, url: str) -> dict[str, Any]:
    """`summarizer ingest URL --json` for one http(s) URL, with the reading layer's guard on
    private addresses (as without --allow-private)."""
    from summarizer import pipeline
    from summarizer.corpus import is_url
    from summarizer.errors import ConfigError, SourceError

    if not is_url(url):
        raise ConfigError(f"not an http(s) URL: {url}")
    report = pipeline.ingest(settings, [url])
    (result,) = report.results
    if result.status == "failed":
        raise SourceError(f"{url}: {result.reason or 'could not ingest it'}")
    data: dict[str, Any] = result.as_dict()
    return data
