"""The PostgreSQL catalog's tables: articles, chunk spans with their lexical index (a weighted
tsvector and postings), versions, kept outputs, the vector store's cleanup journal, and the
counters BM25 and `generation` read. Each step of STEPS is applied once, in order, by
`summarizer.database.Postgres.migrate`; a new step is appended, never edited."""

# The words of chunks and titles as the lexical index keeps them: the stems of the original
# Porter algorithm (Snowball's "porter", not "english"), as SQLite's porter tokenizer makes them,
# and no stopword list, for FTS5 has none (its BM25 counts every word in a row's length, and a
# query's stopword scores next to nothing there rather than nothing).
WORDS = "catalog_words"

_FIRST = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE articles (
    id TEXT COLLATE "C" PRIMARY KEY,
    source TEXT NOT NULL,
    url TEXT,
    title TEXT NOT NULL,
    author TEXT,
    date TEXT COLLATE "C",
    site TEXT COLLATE "C",
    method TEXT NOT NULL,
    warnings TEXT NOT NULL DEFAULT '[]',
    text TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    fingerprint TEXT,
    ingested_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    allow_private BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX articles_source ON articles (source);
CREATE INDEX articles_url ON articles (url);
CREATE TABLE chunks (
    id TEXT COLLATE "C" PRIMARY KEY,
    key BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    words TSVECTOR NOT NULL
);
CREATE INDEX chunks_article ON chunks (article_id, idx);
CREATE INDEX chunks_words ON chunks USING GIN (words);
CREATE TABLE chunk_words (
    word TEXT COLLATE "C" NOT NULL,
    chunk BIGINT NOT NULL,
    in_text SMALLINT NOT NULL,
    in_title SMALLINT NOT NULL,
    tokens INTEGER NOT NULL,
    PRIMARY KEY (word, chunk) INCLUDE (in_text, in_title, tokens)
);
CREATE TABLE word_counts (word TEXT COLLATE "C" PRIMARY KEY, chunks INTEGER NOT NULL);
CREATE TABLE counters (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    generation BIGINT NOT NULL,
    chunks BIGINT NOT NULL,
    tokens BIGINT NOT NULL
);
INSERT INTO counters (generation, chunks, tokens) VALUES (1, 0, 0);
CREATE TABLE vector_cleanup (article_id TEXT PRIMARY KEY, keep_hash TEXT);
CREATE TABLE versions (
    article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT,
    fetched_at TEXT NOT NULL,
    fingerprint TEXT,
    PRIMARY KEY (article_id, n)
);
CREATE SEQUENCE outputs_made;
CREATE TABLE outputs (
    article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    task TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    made_at TEXT COLLATE "C" NOT NULL,
    data TEXT NOT NULL,
    made BIGINT NOT NULL DEFAULT nextval('outputs_made'),
    PRIMARY KEY (article_id, task, content_hash)
);
CREATE TEXT SEARCH DICTIONARY {WORDS}_stem (TEMPLATE = snowball, LANGUAGE = porter);
CREATE TEXT SEARCH CONFIGURATION {WORDS} (COPY = english);
ALTER TEXT SEARCH CONFIGURATION {WORDS}
    ALTER MAPPING FOR asciiword, word, numword, asciihword, hword, numhword, hword_asciipart,
    hword_part, hword_numpart WITH {WORDS}_stem;
"""
# Ids, dates and times compare byte by byte ("C"), as in SQLite, whatever the database's locale.
# The lexical index: `chunks.words` holds each chunk's stems with their positions, its text's at
# weight A and its article's title's at B (BM25 weighs them apart), GIN-indexed: where a
# phrase ("facebook's") is found. `chunk_words` holds the same stems as postings, one row per
# stem and chunk, with how often it is in each column and the chunk's length in words: BM25 of
# a word reads only its postings, from one index (scored from the tsvectors of the chunks the
# GIN index found, a query took 0.5 s on 26,910 chunks, as they were all opened). `word_counts`
# (in how many chunks each stem is) and `counters` (chunks, their words) are BM25's corpus
# statistics. All of it is written in the transaction that writes the chunks: always in step.
# `counters.generation` moves with every write: a reader in another process can tell that
# something changed. `outputs.made` orders kept outputs by when they were written (SQLite's
# rowid of INSERT OR REPLACE).

STEPS: list[str] = [_FIRST]
