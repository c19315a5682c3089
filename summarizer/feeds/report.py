"""What a feed run is asked to do, where it reports progress, and what it did."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from summarizer.words import counted

if TYPE_CHECKING:
    from summarizer.errors import SummarizerError
    from summarizer.feeds.ledger import EntryRow


class RunProgress(Protocol):
    """Where a run reports: a bar per stage, and error and warning lines."""

    def begin(self, total: int, description: str) -> None: ...
    def advance(self, label: str) -> None: ...
    def note(self, message: str) -> None: ...


class WorkSource(Protocol):
    """Where a worker of a fleet gets more entries as it goes (claimed with leases), and says
    which it has finished with."""

    def more(self, n: int) -> list[EntryRow]: ...

    def closed(self, entry_id: int) -> None: ...


@dataclass(frozen=True)
class RunOptions:
    """What to process: the named feeds (all when empty), failed entries too, entries published
    since a date, at most `limit` entries; and how."""

    feeds: tuple[str, ...] = ()
    retry_failed: bool = False
    since: str | None = None
    limit: int | None = None
    length: str = "medium"
    keep_unverified: bool = False
    recheck: int | None = None  # days: the pages of entries done since then are read again


@dataclass
class RunReport:
    """What one run did; `records` are the output lines it wrote, as dicts."""

    feeds: int = 0
    not_modified: int = 0
    feeds_failed: int = 0
    new: int = 0
    unchanged: int = 0
    duplicates: int = 0
    done: int = 0
    failed: int = 0
    pending: int = 0
    model_calls: int = 0
    cached_calls: int = 0
    seconds: float = 0.0
    records: list[dict[str, Any]] = field(default_factory=list)
    # Of the records, those finished by an earlier run that stopped before its digest.
    carried: int = 0
    rechecked: int = 0  # pages of done entries read again
    updates: list[dict[str, Any]] = field(default_factory=list)  # new versions: their lines
    failures: list[tuple[str, str]] = field(default_factory=list)
    copies: dict[int, list[EntryRow]] = field(default_factory=dict)
    # What stopped the run early (the rest stays pending for the next run), if anything did.
    error: SummarizerError | None = None

    @property
    def any_failed(self) -> bool:
        return bool(self.failed or self.feeds_failed or self.error)

    def summary_line(self) -> str:
        most = max((int(r.get("model_calls") or 0) for r in self.records), default=0)
        per_article = f", at most {most} per article" if self.records else ""
        rechecked = f"{self.rechecked} rechecked ({len(self.updates)} updated); "
        return (
            f"run: {counted(self.feeds, 'feeds')} ({self.not_modified} not modified, "
            f"{self.feeds_failed} failed); {self.new} new, {self.unchanged} unchanged, "
            f"{counted(self.duplicates, 'duplicates')}, {self.done} done, {self.failed} failed, "
            f"{self.pending} left pending; {rechecked if self.rechecked else ''}"
            f"{counted(self.model_calls, 'model calls')} ({self.cached_calls} cached"
            f"{per_article}); {self.seconds:.1f} s"
        )
