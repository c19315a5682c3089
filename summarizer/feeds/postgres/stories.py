"""The stories seen, in the shared database: a sample of the shingles of every entry's text (see
dedupe) in `ledger_shingles`, so that the same story under another URL is recognised as a copy,
whichever worker saw it first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from summarizer.feeds.dedupe import MIN_SAMPLE, SAME_STORY, best_match
from summarizer.feeds.ledger import DUPLICATE_WINDOW_DAYS

if TYPE_CHECKING:
    import psycopg

    from summarizer.database import Postgres


class PgStories:
    """Sampled shingle hashes -> the entries whose text has them (ledger_entries.sample_size:
    how many each text has)."""

    def __init__(self, db: Postgres) -> None:
        self._db = db

    def similar(self, entry_id: int, sample: frozenset[int]) -> tuple[int, float] | None:
        """The entry seen in the last DUPLICATE_WINDOW_DAYS whose text is the same story as
        `sample`'s, with the share of the shorter text the two have in common."""
        if len(sample) < MIN_SAMPLE:
            return None
        # Texts share a sampled shingle or two by chance ("said in a statement on"): only
        # those sharing enough to be the same story are looked at.
        rows = self._db.execute(
            "SELECT s.entry_id, count(*), e.sample_size FROM ledger_shingles s"
            " JOIN ledger_entries e ON e.id = s.entry_id"
            " WHERE s.hash = ANY(%s::bigint[]) AND s.entry_id <> %s AND e.seen_at >= %s"
            " GROUP BY s.entry_id, e.sample_size HAVING count(*) >= %s",
            (sorted(sample), entry_id, _window_start(), MIN_SAMPLE * SAME_STORY),
        )
        return best_match(sample, ((int(r[0]), int(r[1]), int(r[2])) for r in rows))

    def add(self, entry_id: int, sample: frozenset[int]) -> None:
        """Make the entry's text findable by `similar` (replacing what it had)."""

        def go(conn: psycopg.Connection[Any]) -> None:
            conn.execute("DELETE FROM ledger_shingles WHERE entry_id = %s", (entry_id,))
            conn.execute(
                "INSERT INTO ledger_shingles (hash, entry_id)"
                " SELECT h, %s FROM unnest(%s::bigint[]) AS h",
                (entry_id, sorted(sample)),
            )
            conn.execute(
                "UPDATE ledger_entries SET sample_size = %s WHERE id = %s",
                (len(sample), entry_id),
            )

        self._db.run(go)

    def prune(self) -> None:
        """Forget the texts of entries older than the comparison window."""
        self._db.execute(
            "DELETE FROM ledger_shingles WHERE entry_id IN"
            " (SELECT id FROM ledger_entries WHERE seen_at < %s)",
            (_window_start(),),
        )


def _window_start() -> str:
    start = datetime.now(UTC) - timedelta(days=DUPLICATE_WINDOW_DAYS)
    return start.isoformat(timespec="seconds")
