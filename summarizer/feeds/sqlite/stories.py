"""The stories seen, in the ledger's SQLite database: a sample of the shingles of every entry's
text (see dedupe) in the `shingles` table, so that the same story under another URL is recognised
as a copy."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from summarizer.feeds.dedupe import MIN_SAMPLE, SAME_STORY, best_match
from summarizer.feeds.ledger import DUPLICATE_WINDOW_DAYS
from summarizer.feeds.sqlite.connection import batched

if TYPE_CHECKING:
    from summarizer.feeds.sqlite.connection import LedgerDB


class SqliteStories:
    """Sampled shingle hashes -> the entries whose text has them (entries.sample_size: how many
    each text has)."""

    def __init__(self, ledger: LedgerDB) -> None:
        self._ledger = ledger

    def similar(self, entry_id: int, sample: frozenset[int]) -> tuple[int, float] | None:
        """The entry seen in the last DUPLICATE_WINDOW_DAYS whose text is the same story as
        `sample`'s, with the share of the shorter text the two have in common."""
        if len(sample) < MIN_SAMPLE:
            return None
        shared: Counter[int] = Counter()
        for chunk in batched(sorted(sample), 500):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT entry_id FROM shingles WHERE hash IN ({marks})"
            shared.update(row[0] for row in self._ledger.execute(sql, chunk))
        shared.pop(entry_id, None)
        # Texts share a sampled shingle or two by chance ("said in a statement on"): only
        # those sharing enough to be the same story are looked up.
        candidates = [e for e, n in shared.items() if n >= MIN_SAMPLE * SAME_STORY]
        rows: list[Any] = []
        for chunk in batched(candidates, 500):
            marks = ",".join("?" * len(chunk))
            rows += self._ledger.execute(
                f"SELECT id, sample_size FROM entries WHERE id IN ({marks}) AND seen_at >= ?",
                [*chunk, _window_start()],
            ).fetchall()
        return best_match(sample, ((r[0], shared[r[0]], r[1]) for r in rows))

    def add(self, entry_id: int, sample: frozenset[int]) -> None:
        """Make the entry's text findable by `similar` (replacing what it had)."""
        with self._ledger.transaction():
            self._ledger.execute("DELETE FROM shingles WHERE entry_id = ?", (entry_id,))
            self._ledger.executemany(
                "INSERT INTO shingles (hash, entry_id) VALUES (?, ?)",
                [(h, entry_id) for h in sample],
            )
            self._ledger.execute(
                "UPDATE entries SET sample_size = ? WHERE id = ?", (len(sample), entry_id)
            )

    def prune(self) -> None:
        """Forget the texts of entries older than the comparison window."""
        self._ledger.execute(
            "DELETE FROM shingles WHERE entry_id IN (SELECT id FROM entries WHERE seen_at < ?)",
            (_window_start(),),
        )


def _window_start() -> str:
    start = datetime.now(UTC) - timedelta(days=DUPLICATE_WINDOW_DAYS)
    return start.isoformat(timespec="seconds")
