"""The last stage of a run: the pages of entries whose feed item was updated (and, with
`--recheck DAYS`, of those done lately) read again; a changed article becomes a new version, its
summary and claims are made again, and one JSON line says what changed."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from summarizer.config import Settings
    from summarizer.corpus import ItemResult
    from summarizer.feeds.ledger import Ledger
    from summarizer.feeds.report import RunProgress, RunReport


class _Pages:
    """The refresh's progress as a stage of the run."""

    def __init__(self, progress: RunProgress) -> None:
        self._progress = progress

    def begin(self, total: int) -> None:
        self._progress.begin(total, "pages rechecked")

    def embedded(self, item: str, label: str) -> None:
        pass

    def advance(self, result: ItemResult) -> None:
        self._progress.advance(result.title or result.item)

    def note(self, message: str) -> None:
        if not message.startswith("warning:"):
            self._progress.note(message)


def recheck(
    settings: Settings,
    ledger: Ledger,
    due: Sequence[tuple[int, str]],
    report: RunReport,
    progress: RunProgress,
    emit: Callable[[str], None],
) -> None:
    """Read again the pages of the `due` (entry id, article id), each with the permission it was
    first fetched with, and report each new version."""
    from summarizer.corpus import Corpus, is_url
    from summarizer.refresh import refresh

    entry_of: dict[str, int] = {}
    for entry_id, article_id in due:
        entry_of.setdefault(article_id, entry_id)
    with Corpus(settings) as corpus:
        stored = corpus.catalog.many(entry_of)
    articles = [a for a in stored.values() if is_url(a.source)]
    entries = {e.id: e for e in ledger.entries(ids=list(entry_of.values()))} if articles else {}
    refreshed = refresh(settings, articles, _Pages(progress))
    report.model_calls += refreshed.model_calls
    for item in refreshed.items:
        r = item.result
        entry = entries.get(entry_of.get(r.article_id or "", -1))
        if r.status == "failed":
            label = f"recheck {entry.title if entry else r.item} ({r.item})"
            report.failed += 1
            report.failures.append((label, r.reason or "failed"))
            progress.note(f"error: {label}: {r.reason}")
            continue
        if r.status != "updated" or entry is None:
            continue
        record: dict[str, Any] = {
            "kind": "update",
            "entry_id": entry.id,
            "feed": entry.feed,
            "title": r.title or entry.title,
            "link": entry.link,
            "article_id": r.article_id,
            **item.as_dict(),
        }
        record["claims_changed"] = sum(c.changed for c in item.changes if c.task == "claims")
        emit(json.dumps(record, ensure_ascii=False))
        report.updates.append(record)
    failed = {i.result.article_id for i in refreshed.items if i.result.status == "failed"}
    ledger.rechecked(entry_id for entry_id, aid in due if aid not in failed)  # failed: next run
