"""Which implementation of the feed ledger the settings choose: SQLite in the data dir (the
embedded default, nothing to start)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from summarizer.config import Settings
    from summarizer.feeds.ledger import Ledger


def open_ledger(settings: Settings) -> Ledger:
    """The feed ledger of the settings' data dir (created when missing)."""
    from summarizer.feeds.sqlite import LEDGER_FILE, SqliteLedger

    return SqliteLedger(settings.home / LEDGER_FILE)


def has_ledger(settings: Settings) -> bool:
    """Whether a ledger exists yet (no feed was ever added when not)."""
    from summarizer.feeds.sqlite import LEDGER_FILE

    return (settings.home / LEDGER_FILE).exists()
