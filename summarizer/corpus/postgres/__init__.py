"""The catalog in PostgreSQL (SUMMARIZER_DATABASE_URL): one database shared by the workers of a
fleet, on several machines, through the process's pool (summarizer.database); its tables made
and migrated on open; BM25 computed in SQL as SQLite's FTS5 computes it. `PgCatalog` implements
`corpus.catalog.Catalog`, with the SQLite catalog's semantics."""

from summarizer.corpus.postgres.articles import PgCatalog
from summarizer.corpus.postgres.schema import STEPS

__all__ = ["STEPS", "PgCatalog"]
