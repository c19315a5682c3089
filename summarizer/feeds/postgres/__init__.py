"""The feed ledger in a shared PostgreSQL database (SUMMARIZER_DATABASE_URL): feeds, entries and
the story index of every worker of a fleet, on several machines. `PgLedger` implements
`feeds.ledger.Ledger` with the semantics of the SQLite ledger, and makes its check-then-write
steps atomic across processes."""

from summarizer.feeds.postgres.ledger import PgLedger

__all__ = ["PgLedger"]
