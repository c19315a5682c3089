"""Which implementation of the feed ledger the settings choose: SQLite in the data dir (the
embedded default, nothing to start), or the shared PostgreSQL database of a fleet when
SUMMARIZER_DATABASE_URL is set."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from summarizer.config import Settings
    from summarizer.feeds.ledger import Ledger


def open_ledger(settings: Settings) -> Ledger:
    """The feed ledger of the settings (its tables or file created when missing)."""
    if settings.database_url:
        from summarizer.feeds.postgres import PgLedger

        return PgLedger(settings.database_url)
    from summarizer.feeds.sqlite import LEDGER_FILE, SqliteLedger

    return SqliteLedger(settings.home / LEDGER_FILE)


def has_ledger(settings: Settings) -> bool:
    """Whether a ledger exists yet (no feed was ever added when not)."""
    if settings.database_url:
        from summarizer.database import connect

        db = connect(settings.database_url)
        # Looked at without making the tables: asking changes nothing in the database.
        if db.execute("SELECT to_regclass('ledger_feeds') IS NOT NULL")[0][0] is not True:
            return False
        return bool(db.execute("SELECT EXISTS (SELECT 1 FROM ledger_feeds)")[0][0])
    from summarizer.feeds.sqlite import LEDGER_FILE

    return (settings.home / LEDGER_FILE).exists()
