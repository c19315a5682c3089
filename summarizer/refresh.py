"""`summarizer refresh`: read stored articles' sources again, keep a changed text as a new version,
and make their summaries and claims again on it, reporting what the change did to them."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from summarizer.errors import ConfigError, SummarizerError
from summarizer.words import counted

if TYPE_CHECKING:
    from summarizer.config import Settings
    from summarizer.corpus import IngestReport, ItemResult, OutputChange, Progress
    from summarizer.models import Article

TASKS = ("summarize", "claims")


@dataclass
class Refreshed:
    """One article refreshed: what reading it again gave, its versions, and the changes to the
    outputs that were made on its earlier text."""

    result: ItemResult
    version: int = 0
    added_words: int = 0
    removed_words: int = 0
    changes: list[OutputChange] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = self.result.as_dict()
        d.update(
            version=self.version,
            words_added=self.added_words,
            words_removed=self.removed_words,
            outputs=[c.as_dict() for c in self.changes],
        )
        return d


@dataclass
class RefreshReport:
    items: list[Refreshed]
    ingest: IngestReport
    model_calls: int = 0

    @property
    def failed(self) -> int:
        return self.ingest.failed + sum(1 for r in self.items for c in r.changes if c.error)

    def summary_line(self) -> str:
        changed = sum(1 for r in self.items if r.changes)
        counts = ", ".join(
            f"{self.ingest.count(s)} {s}" for s in ("updated", "unchanged", "failed")
        )
        return (
            f"refresh: {counts} ({counted(self.ingest.embedded, 'chunks')} embedded, "
            f"{counted(self.model_calls, 'model calls')}, {changed} with summaries or claims made "
            "again)"
        )


def select(
    settings: Settings,
    ids: Sequence[str] = (),
    *,
    every: bool = False,
    since: str | None = None,
    among: Collection[str] | None = None,
) -> list[Article]:
    """The articles to refresh: those named (ids or prefixes; any source), or with `every`,
    `since` (their date, else when stored, on or after) or `among` (ids: a feed's articles)
    those from a URL."""
    from summarizer.corpus import Corpus, is_url

    if not ids and not (every or since or among is not None):
        raise ConfigError("nothing to refresh: name article ids, or give --all, --since or --feed")
    with Corpus(settings) as corpus:
        catalog = corpus.catalog
        if ids:
            return list({a.id: a for a in (catalog.resolve(i) for i in ids)}.values())
        chosen = [a for a in catalog.articles() if is_url(a.source)]
        if since:
            chosen = [a for a in chosen if (a.date or a.ingested_at[:10]) >= since]
        if among is not None:
            chosen = [a for a in chosen if a.id in among]
        return chosen


def refresh(
    settings: Settings,
    articles: Sequence[Article],
    progress: Progress | None = None,
    *,
    cancelled: Callable[[], bool] | None = None,
) -> RefreshReport:
    """Read each article's source again (pages with a conditional GET, from a private address
    only when the article was first fetched with --allow-private), store what changed in
    substance as a new version (re-embedding only those), then make its kept summaries and
    claims again on the new text and compare them with those of the old."""
    from summarizer.corpus import SilentProgress, ingest_session, never

    before = _outputs_before(settings, articles)
    with ingest_session(
        settings, progress or SilentProgress(), len(articles), cancelled or never
    ) as ingester:
        for article in articles:
            if ingester.cancelled():
                break
            ingester.refresh(article)
    report = RefreshReport([Refreshed(r) for r in ingester.report.results], ingester.report)
    now = _describe_versions(settings, articles, report.items)
    _remake_outputs(settings, _due(now, before), before, report)
    return report


def _outputs_before(
    settings: Settings, articles: Sequence[Article]
) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """(article id, task) -> the content hash and the kept output of the article's current text,
    or else of its newest kept one (made on an earlier version)."""
    from summarizer.corpus import Corpus

    found: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    with Corpus(settings) as corpus:
        for article in articles:
            for task in TASKS:
                kept = corpus.catalog.output(article.id, task)
                if kept is not None:
                    found[(article.id, task)] = kept[0], json.loads(kept[2])
    return found


def _describe_versions(
    settings: Settings, articles: Sequence[Article], items: list[Refreshed]
) -> list[tuple[Refreshed, Article]]:
    """Each item's latest version number and the words its change added and removed; each
    item still stored, with its text as it is now."""
    from summarizer.corpus import Corpus, diff, words_changed

    old = {a.id: a for a in articles}
    stored = []
    with Corpus(settings) as corpus:
        for item in items:
            was = old.get(item.result.article_id or "")
            if was is None or item.result.status == "failed":
                continue
            versions = corpus.catalog.versions(was.id)
            item.version = versions[-1].n if versions else 0
            current = corpus.catalog.get(was.id)
            if current is None:
                continue
            if current.content_hash != was.content_hash:
                item.added_words, item.removed_words = words_changed(diff(was.text, current.text))
            stored.append((item, current))
    return stored


def _due(
    stored: list[tuple[Refreshed, Article]],
    before: dict[tuple[str, str], tuple[str, dict[str, Any]]],
) -> list[tuple[Refreshed, Article, str]]:
    """The outputs to make again: each kept one made on a text other than the article's latest -
    the text changed now, or an earlier refresh stored a new text but could not make them (it
    was stopped, or the model was down). They stay due until made."""
    return [
        (item, article, task)
        for item, article in stored
        for task in TASKS
        if (article.id, task) in before and before[(article.id, task)][0] != article.content_hash
    ]


def _remake_outputs(
    settings: Settings,
    due: list[tuple[Refreshed, Article, str]],
    before: dict[tuple[str, str], tuple[str, dict[str, Any]]],
    report: RefreshReport,
) -> None:
    """The `due` summaries and claims made again on the article's latest text (a summary at the
    length it had), each compared with the one kept before."""
    from summarizer import pipeline
    from summarizer.corpus import compare_outputs

    for task in TASKS:
        groups: dict[Any, list[tuple[Refreshed, Article]]] = {}
        for item, article, of in due:
            if of == task:
                kept = before[(article.id, task)][1]
                groups.setdefault(kept.get("length") or "medium", []).append((item, article))
        for length, group in groups.items():
            try:
                results = pipeline.analyze(settings, [a.id for _, a in group], task, length=length)
            except SummarizerError as e:  # no model: the new versions stay, the report says so
                results = [pipeline.TaskResult(a.id, error=e.message) for _, a in group]
            for (item, article), result in zip(group, results, strict=True):
                made = result.output.model_dump(mode="json") if result.output else None
                kept = before[(article.id, task)][1]
                change = compare_outputs(task, kept, made, article.text)
                change.error = result.error
                if result.output is not None:
                    report.model_calls += result.output.calls - result.output.cached_calls
                item.changes.append(change)
