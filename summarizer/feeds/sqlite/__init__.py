"""The feed ledger in SQLite (the embedded default): one file in the data dir. `SqliteLedger`
implements `feeds.ledger.Ledger`."""

from summarizer.feeds.sqlite.connection import LEDGER_FILE
from summarizer.feeds.sqlite.ledger import SqliteLedger

__all__ = ["LEDGER_FILE", "SqliteLedger"]
