"""The SQLite catalog's tables: articles, chunk spans, versions, kept outputs, the lexical index
(FTS5) and the vector store's cleanup journal. Schema 6; older catalogs are migrated on open."""

SCHEMA_VERSION = "6"

OUTPUTS = """CREATE TABLE IF NOT EXISTS outputs (
    article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    task TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    made_at TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (article_id, task, content_hash)
)"""
SCHEMA = (
    OUTPUTS
    + """;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    url TEXT,
    title TEXT NOT NULL,
    author TEXT,
    date TEXT,
    site TEXT,
    method TEXT NOT NULL,
    warnings TEXT NOT NULL DEFAULT '[]',
    text TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    fingerprint TEXT,
    ingested_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    allow_private INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS articles_source ON articles (source);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY,
    article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks (article_id, idx);
CREATE TABLE IF NOT EXISTS vector_cleanup (article_id TEXT PRIMARY KEY, keep_hash TEXT);
CREATE TABLE IF NOT EXISTS versions (
    article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT,
    fetched_at TEXT NOT NULL,
    fingerprint TEXT,
    PRIMARY KEY (article_id, n)
);
CREATE VIRTUAL TABLE IF NOT EXISTS chunk_text USING fts5 (
    text, title, chunk_id UNINDEXED, article_id UNINDEXED,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
"""
)
LEXICAL_INDEX = SCHEMA[SCHEMA.index("CREATE VIRTUAL TABLE") :].strip().rstrip(";")
# Lexical (BM25) search is SQLite's FTS5 over the chunk texts, each with its article's title,
# updated in the same transaction as the catalog: always in step with the corpus, never rebuilt.
# Every distinct text an article had is a numbered version; the latest one's text is the
# article's own (its `text` is NULL here), an older one's is kept in its row. `fingerprint` is
# what tells whether the source changed without reading it: a file's size and mtime, a page's
# HTTP validators (ETag, Last-Modified) as JSON. `allow_private`: the page was fetched with
# --allow-private, so reading it again may reach a loopback or private address (schema 6; those
# stored before it were not allowed).
ALLOW_PRIVATE = "ALTER TABLE articles ADD COLUMN allow_private INTEGER NOT NULL DEFAULT 0"
