"""Workers of a fleet: `summarizer run` on any number of machines against one shared database.

Each worker claims what it works on with a lease, a row of `leases` (kind, item) -> owner and
expiry, taken only when no live lease holds the item (`INSERT ... ON CONFLICT DO UPDATE ...
WHERE expired`: of two workers racing for one item exactly one gets it). A worker renews its
leases while it lives (a heartbeat thread); one killed stops renewing, and when its leases
expire another worker takes its work over. Leases only share out the work: what makes an entry
processed once in effect is the ledger's own steps (an article claimed once, an entry marked
done once, its line written by whoever marked it).

The embedded default (SQLite in the data dir) has no fleet: one run per data dir (run_lock).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

    from summarizer.config import Settings
    from summarizer.database import Postgres

# Workers not seen for this many days are no longer listed.
KEEP_DAYS = 7
# A feed another worker read this recently is not read again by this one.
FEED_FRESH_SECONDS = 60.0
STEPS = [
    """
    CREATE TABLE workers (
        name TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        seen_at TIMESTAMPTZ NOT NULL,
        stopped_at TIMESTAMPTZ,
        done INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE leases (
        kind TEXT NOT NULL,
        item BIGINT NOT NULL,
        owner TEXT NOT NULL,
        taken_at TIMESTAMPTZ NOT NULL,
        until TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (kind, item)
    );
    CREATE INDEX leases_owner ON leases (owner);
    """,
]


@dataclass(frozen=True)
class WorkerRow:
    """A worker as `summarizer workers` shows it."""

    name: str
    started_at: str
    seen_at: str
    stopped_at: str | None
    alive: bool
    done: int
    failed: int
    holds: dict[str, list[int]]  # kind -> items leased


class Fleet:
    """This process as a worker of the fleet sharing `db`."""

    def __init__(self, db: Postgres, *, lease: float, name: str | None = None) -> None:
        self.db = db
        self.lease = lease
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        db.migrate("fleet", STEPS)
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        # What this worker has done so far (entries done, failed), told with each heartbeat.
        self.counts: Callable[[], tuple[int, int]] = lambda: (0, 0)

    @classmethod
    def of(cls, settings: Settings) -> Fleet:
        from summarizer.database import connect

        assert settings.database_url
        return cls(connect(settings.database_url), lease=settings.lease_seconds)

    # --- membership -----------------------------------------------------------------------

    @contextmanager
    def joined(self) -> Iterator[Fleet]:
        """Registered and renewing its leases for the block; its leases given back after it."""
        self.db.execute(
            "INSERT INTO workers (name, host, pid, started_at, seen_at) "
            "VALUES (%s, %s, %s, now(), now()) ON CONFLICT (name) DO UPDATE SET "
            "started_at = now(), seen_at = now(), stopped_at = NULL, done = 0, failed = 0",
            (self.name, socket.gethostname(), os.getpid()),
        )
        # Workers long gone are forgotten (they hold nothing: their leases lapsed long ago).
        self.db.execute(
            "DELETE FROM workers WHERE seen_at < now() - %s::interval", (f"{KEEP_DAYS} days",)
        )
        self._stop.clear()
        self._beat = threading.Thread(target=self._heartbeat, name="lease", daemon=True)
        self._beat.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._beat.join()
            done, failed = self.counts()
            self.db.execute("DELETE FROM leases WHERE owner = %s", (self.name,))
            self.db.execute(
                "UPDATE workers SET stopped_at = now(), seen_at = now(), done = %s, "
                "failed = %s WHERE name = %s",
                (done, failed, self.name),
            )

    def _heartbeat(self) -> None:
        from summarizer.errors import SummarizerError

        while not self._stop.wait(self.lease / 3):
            with suppress(SummarizerError):  # the database away: the next beat tries again
                self.renew()

    def renew(self) -> None:
        """Extend every lease this worker holds, and say it is alive."""
        interval = f"{self.lease} seconds"

        done, failed = self.counts()

        def go(conn: psycopg.Connection[Any]) -> None:
            conn.execute(
                "UPDATE leases SET until = now() + %s::interval WHERE owner = %s",
                (interval, self.name),
            )
            conn.execute(
                "UPDATE workers SET seen_at = now(), done = %s, failed = %s WHERE name = %s",
                (done, failed, self.name),
            )

        self.db.run(go)

    # --- leases ---------------------------------------------------------------------------

    def claim(self, kind: str, items: Sequence[int], n: int | None = None) -> list[int]:
        """Of `items` (in their order), the first `n` (all without it) that no live lease holds,
        now leased to this worker."""
        want = len(items) if n is None else n
        got: list[int] = []
        start = 0
        while len(got) < want and start < len(items):
            # No more than are still wanted: a lease taken beyond them would hold an item
            # nobody works on.
            batch = list(dict.fromkeys(items[start : start + want - len(got)]))
            start += want - len(got)
            # In id order: two workers claiming overlapping sets lock rows in one order.
            taken = set(self._take(kind, sorted(batch)))
            got.extend(i for i in batch if i in taken)
        return got

    def _take(self, kind: str, items: list[int]) -> list[int]:
        if not items:
            return []
        rows = self.db.execute(
            "INSERT INTO leases (kind, item, owner, taken_at, until) "
            "SELECT %s, item, %s, now(), now() + %s::interval FROM unnest(%s::bigint[]) AS item "
            "ON CONFLICT (kind, item) DO UPDATE SET owner = excluded.owner, "
            "taken_at = excluded.taken_at, until = excluded.until "
            "WHERE leases.until < now() OR leases.owner = excluded.owner "
            "RETURNING item",
            (kind, self.name, f"{self.lease} seconds", items),
        )
        return [int(r[0]) for r in rows]

    def release(self, kind: str, items: Sequence[int]) -> None:
        """Give back these leases (the work is finished, or left for others)."""
        if items:
            self.db.execute(
                "DELETE FROM leases WHERE kind = %s AND owner = %s AND item = ANY(%s)",
                (kind, self.name, list(items)),
            )

    def held_count(self, kind: str) -> int:
        """How many live leases of this kind other workers hold."""
        rows = self.db.execute(
            "SELECT count(*) FROM leases WHERE kind = %s AND owner <> %s AND until >= now()",
            (kind, self.name),
        )
        return int(rows[0][0])

    # --- what `summarizer workers` shows ----------------------------------------------------

    def workers(self, *, stopped: bool = False) -> list[WorkerRow]:
        """The workers (those that stopped too with `stopped`), newest first, with what each
        holds; a worker not seen for a lease's length is not alive (killed, or its machine
        gone): its leases are free for others to take."""
        rows = self.db.execute(
            "SELECT name, started_at, seen_at, stopped_at, done, failed, "
            "stopped_at IS NULL AND seen_at >= now() - %s::interval "
            "FROM workers ORDER BY started_at DESC",
            (f"{self.lease} seconds",),
        )
        held = self.db.execute(
            "SELECT owner, kind, item FROM leases WHERE until >= now() ORDER BY kind, item"
        )
        holds: dict[str, dict[str, list[int]]] = {}
        for owner, kind, item in held:
            holds.setdefault(owner, {}).setdefault(kind, []).append(int(item))
        return [
            WorkerRow(
                name=name,
                started_at=_iso(started),
                seen_at=_iso(seen),
                stopped_at=_iso(stopped_at) if stopped_at else None,
                alive=bool(alive),
                done=done,
                failed=failed,
                holds=holds.get(name, {}),
            )
            for name, started, seen, stopped_at, done, failed, alive in rows
            if stopped or stopped_at is None
        ]


def _iso(value: Any) -> str:
    return str(value.isoformat(timespec="seconds"))
