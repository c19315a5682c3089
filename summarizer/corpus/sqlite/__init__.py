"""The catalog in SQLite (the embedded default): one file in the data dir, read while another
process writes (WAL). `SqliteCatalog` implements `corpus.catalog.Catalog`."""

from summarizer.corpus.sqlite.articles import SqliteCatalog
from summarizer.corpus.sqlite.schema import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "SqliteCatalog"]
