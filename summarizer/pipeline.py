"""The tool's operations, composed from the pieces: ingest (in `ingest`), list, show, search,
remove, reindex, summaries and claims, and questions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from summarizer.corpus import (
    EMBED_BATCH,
    IngestReport,
    ItemResult,
    Progress,
    SilentProgress,
    article_id,
    canonical_url,
    content_hash,
    ingest,
    ingest_documents,
    is_url,
)
from summarizer.errors import ConfigError, SummarizerError

if TYPE_CHECKING:
    from summarizer.analysis import Length
    from summarizer.config import Settings
    from summarizer.corpus import Corpus, Filters, Retrieved, Retriever, VersionDiff
    from summarizer.llm import Ollama
    from summarizer.models import Answer, Article, Chunk, SearchHit

__all__ = [
    "IngestReport",
    "ItemResult",
    "Progress",
    "TaskResult",
    "analyze",
    "article_id",
    "ask",
    "canonical_url",
    "content_hash",
    "get_article",
    "ingest",
    "ingest_documents",
    "list_articles",
    "open_corpus",
    "reindex",
    "remove",
    "resolve_sources",
    "search",
]


def open_corpus(settings: Settings) -> Corpus:
    """The corpus of `settings`; use it in a `with` block so that it is closed."""
    from summarizer.corpus import Corpus

    return Corpus(settings)


def list_articles(settings: Settings) -> list[Article]:
    with open_corpus(settings) as corpus:
        return corpus.catalog.articles()


def get_article(settings: Settings, id_or_prefix: str) -> Article:
    with open_corpus(settings) as corpus:
        return corpus.catalog.resolve(id_or_prefix)


def get_version(settings: Settings, id_or_prefix: str, n: int | None) -> Article:
    """The article as it was at version `n` (the latest with None)."""
    from summarizer.corpus import article_at

    with open_corpus(settings) as corpus:
        return article_at(corpus.catalog, id_or_prefix, n)


def history(settings: Settings, id_or_prefix: str) -> list[dict[str, Any]]:
    from summarizer.corpus import history

    with open_corpus(settings) as corpus:
        return history(corpus.catalog, id_or_prefix)


def version_diff(
    settings: Settings, id_or_prefix: str, a: int | None, b: int | None
) -> VersionDiff:
    from summarizer.corpus import version_diff

    with open_corpus(settings) as corpus:
        return version_diff(corpus.catalog, id_or_prefix, a, b)


def search(
    settings: Settings,
    query: str,
    k: int = 5,
    *,
    dense: bool = False,
    rerank: bool = False,
    warnings: list[str] | None = None,
    filters: Filters | None = None,
) -> list[SearchHit]:
    """The `k` passages that best match `query`, each pinned to its article's stored text: the
    retrieval `ask` uses (dense and lexical rankings fused, at most four passages an article;
    the score is the fused one), or with `dense` the nearest by meaning alone, any number an
    article (the score is the cosine similarity). With `rerank`, the model puts a longer
    shortlist of the fused retrieval in order and the first `k` are returned; what it could
    not do is added to `warnings`."""
    from summarizer.corpus import canonical_name, make_embedder
    from summarizer.models import SearchHit

    if not query.strip():
        raise ConfigError("the search query is empty")
    if dense and rerank:
        raise ConfigError("--rerank orders the fused retrieval: it cannot be used with --dense")
    name = canonical_name(settings.embedder)  # an unknown embedder is an error, corpus or not
    with open_corpus(settings) as corpus:
        if corpus.catalog.count() == 0:
            return []
        if not dense:
            with closing(open_retriever(settings, corpus)) as retriever:
                found = _reranked(settings, query, k, retriever, warnings) if rerank else None
                return [
                    SearchHit(
                        article_id=r.article.id,
                        title=r.article.title,
                        source=r.article.source,
                        chunk_id=r.chunk.id,
                        start=r.chunk.start,
                        end=r.chunk.end,
                        text=r.chunk.text,
                        score=r.score,
                        dense_rank=r.dense_rank,
                        lexical_rank=r.lexical_rank,
                        model_rank=r.model_rank,
                    )
                    for r in (
                        retriever.search(query, k, filters=filters) if found is None else found
                    )
                ]
        corpus.check_embedder(name)
        with closing(make_embedder(settings)) as embedder:
            vector = embedder.embed([query])[0]
        return corpus.search(vector, k)


def _reranked(
    settings: Settings,
    query: str,
    k: int,
    retriever: Retriever,
    warnings: list[str] | None,
) -> list[Retrieved]:
    """The model's first `k` of the shortlist retrieved for `query`."""
    from summarizer.analysis import CallLog, reranked_search
    from summarizer.llm import Ollama

    calls = CallLog()
    with Ollama(settings) as llm:
        found = reranked_search(llm, retriever, query, k, calls)
    if warnings is not None:
        warnings.extend(dict.fromkeys(calls.warnings or []))
    return found


def remove(settings: Settings, ids: list[str]) -> Iterator[Article]:
    """Remove articles; yields each as it is gone. Unknown ids fail before anything is removed."""
    from summarizer.corpus import write_lock

    with write_lock(settings), open_corpus(settings) as corpus:
        corpus.recover()
        articles = [corpus.catalog.resolve(i) for i in ids]
        for article in articles:
            corpus.remove(article)
            yield article


def reindex(settings: Settings, progress: Progress | None = None) -> tuple[int, int, str]:
    """Re-embed every article with the configured embedder into a fresh collection."""
    from summarizer.corpus import make_embedder, write_lock

    progress = progress or SilentProgress()
    with (
        closing(make_embedder(settings)) as embedder,
        write_lock(settings, progress.note),
        open_corpus(settings) as corpus,
    ):
        corpus.recover()
        dim = embedder.load()
        articles = corpus.catalog.articles()
        progress.begin(len(articles))
        target = corpus.begin_reindex(embedder.name, dim)
        n_chunks = 0
        batch: list[tuple[Article, list[Chunk]]] = []

        def flush() -> None:
            # Several articles per embedding call and per write, as ingest does.
            chunks = [c for _, article_chunks in batch for c in article_chunks]
            vectors = embedder.embed([c.text for c in chunks]) if chunks else []
            hashes = {a.id: a.content_hash for a, _ in batch}
            corpus.vectors.upsert(target, chunks, vectors, hashes)
            for a, _ in batch:
                progress.advance(ItemResult(a.source, "reindexed", a.id, a.title))
            batch.clear()

        for article in articles:
            batch.append((article, corpus.catalog.chunks(article)))
            n_chunks += len(batch[-1][1])
            if sum(len(c) for _, c in batch) >= EMBED_BATCH:
                flush()
        flush()
        corpus.finish_reindex(target, embedder.name, dim)
    return len(articles), n_chunks, embedder.name


# --- summaries and claims --------------------------------------------------------------------


@dataclass
class TaskResult:
    """One SOURCE's output (a Summary or ClaimSet), or the reason it failed."""

    source: str
    output: Any = None
    error: str | None = None


def resolve_sources(settings: Settings, sources: list[str]) -> list[tuple[str, str | None, str]]:
    """(source, article id or None, reason) per SOURCE: ids and stored URLs are looked up, files
    and new URLs are ingested first (instantly when unchanged)."""
    from summarizer.reading.sources import SUPPORTED_SUFFIXES

    out: list[tuple[str, str | None, str]] = []
    with open_corpus(settings) as corpus:
        for source in sources:
            if is_url(source):
                # A page already stored is not fetched again: `ingest URL` refreshes it.
                url = canonical_url(source)
                out.append((source, corpus.catalog.id_for_url(url, article_id("url", url)), ""))
            elif Path(source).is_file():
                out.append((source, None, ""))
            elif Path(source).exists():
                out.append((source, None, "a directory: SOURCE is an article id, a file or a URL"))
            else:
                try:
                    out.append((source, corpus.catalog.resolve(source).id, ""))
                except SummarizerError as e:
                    # A path that is not there is a missing file, not an unknown article id.
                    path_like = any(c in source for c in "/\\") or source.lower().endswith(
                        SUPPORTED_SUFFIXES
                    )
                    out.append((source, None, "no such file" if path_like else e.message))
    to_ingest = [s for s, aid, why in out if aid is None and not why]
    if to_ingest:
        report = ingest(settings, to_ingest)
        by_item = {r.item: r for r in report.results}
        resolved: list[tuple[str, str | None, str]] = []
        for source, aid, why in out:
            if aid is None and not why:
                key = source if is_url(source) else str(Path(source).resolve())
                result = by_item.get(key)
                if result is None or result.article_id is None:
                    reason = result.reason if result and result.reason else "could not ingest it"
                    resolved.append((source, None, reason))
                    continue
                aid = result.article_id
            resolved.append((source, aid, why))
        out = resolved
    return out


def analyze(
    settings: Settings,
    sources: list[str],
    task: str,
    *,
    length: Length = "medium",
    keep_unverified: bool = False,
    corroborate: bool = False,
) -> list[TaskResult]:
    """Summaries (task "summarize") or claims (task "claims") of each SOURCE, in order; with
    `corroborate`, each claim with the passages of other articles that report it too."""
    from concurrent.futures import ThreadPoolExecutor

    from summarizer.analysis import extract_claims, summarize
    from summarizer.llm import Ollama

    resolved = resolve_sources(settings, sources)
    results = [TaskResult(source, error=why or None) for source, _, why in resolved]
    todo = [(i, aid) for i, (_, aid, _) in enumerate(resolved) if aid is not None]
    if not todo:
        return results
    with open_corpus(settings) as corpus, Ollama(settings) as llm:
        articles = {aid: corpus.catalog.resolve(aid) for _, aid in todo}
        chunks = {aid: corpus.catalog.chunks(a) for aid, a in articles.items()}
        llm.model_digest()  # an unreachable host or a model not pulled stops here, once

        def one(aid: str) -> Any:
            article = articles[aid]
            if task == "summarize":
                return summarize(
                    llm, article, chunks[aid], length=length, keep_unverified=keep_unverified
                )
            return extract_claims(llm, article, chunks[aid], keep_unverified=keep_unverified)

        pool = ThreadPoolExecutor(max(1, llm.capacity))
        try:
            futures = {i: pool.submit(one, aid) for i, aid in todo}
            for i, future in futures.items():
                try:
                    results[i].output = future.result()
                except SummarizerError as e:
                    results[i].error = e.message
        except KeyboardInterrupt:
            # Do not wait for requests in flight (each may take a whole read timeout).
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        if corroborate and task == "claims":
            # In this thread: the retriever reads the catalog through this thread's connection.
            with closing(open_retriever(settings, corpus)) as retriever:
                _corroborate_all(results, llm, retriever)
        for r in results:  # kept for the editor's view and reports: the latest of each task
            if r.output is not None:
                corpus.catalog.save_output(
                    r.output.article_id, task, r.output.content_hash, r.output.model_dump_json()
                )
    return results


def _corroborate_all(results: list[TaskResult], llm: Ollama, retriever: Retriever) -> None:
    """Each ClaimSet of `results` with corroborations; a failure leaves the claims as they are."""
    from summarizer.analysis import corroborate

    for r in results:
        if r.output is None:
            continue
        try:
            r.output = corroborate(llm, retriever, r.output)
        except SummarizerError as e:
            warning = f"corroboration failed: {e.message}"
            r.output = r.output.model_copy(update={"warnings": [*r.output.warnings, warning]})


def open_retriever(settings: Settings, corpus: Corpus) -> Retriever:
    """A retriever over `corpus`, with the embedder its vectors were made with (checked)."""
    from summarizer.corpus import Retriever, canonical_name, make_embedder

    corpus.check_embedder(canonical_name(settings.embedder))
    return Retriever(corpus, make_embedder(settings))


def ask(
    settings: Settings,
    question: str,
    *,
    k: int = 8,
    filters: Filters | None = None,
    rerank: bool = False,
) -> Answer:
    """A cited answer to `question` from the corpus, or found=False when it does not say; with
    `rerank`, from the model's first `k` of a longer shortlist."""
    from summarizer.analysis import ask as answer
    from summarizer.llm import Ollama

    if not question.strip():
        raise ConfigError("the question is empty")
    # No model check first: with nothing retrieved, the answer needs no model at all.
    with (
        open_corpus(settings) as corpus,
        Ollama(settings) as llm,
        closing(open_retriever(settings, corpus)) as retriever,
    ):
        return answer(llm, retriever, question, k=k, filters=filters, reranked=rerank)
