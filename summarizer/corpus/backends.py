"""Which implementation of the catalog the settings choose: SQLite in the data dir (the embedded
default, nothing to start)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from summarizer.config import Settings
    from summarizer.corpus.catalog import Catalog


def open_catalog(settings: Settings) -> Catalog:
    """The catalog of the settings' data dir, opened (and its schema migrated when old)."""
    from summarizer.corpus.sqlite import SqliteCatalog

    return SqliteCatalog(settings.catalog_path)
