"""Which implementation of the catalog the settings choose: PostgreSQL when a database URL is
set (SUMMARIZER_DATABASE_URL: workers on several machines share it), else SQLite in the data dir
(the embedded default, nothing to start)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from summarizer.config import Settings
    from summarizer.corpus.catalog import Catalog


def open_catalog(settings: Settings) -> Catalog:
    """The catalog the settings name (the database's, else the data dir's), opened, and its
    schema made or migrated when old."""
    if settings.database_url:
        from summarizer.corpus.postgres import PgCatalog

        return PgCatalog(settings.database_url)
    from summarizer.corpus.sqlite import SqliteCatalog

    return SqliteCatalog(settings.catalog_path)
