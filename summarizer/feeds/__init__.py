"""Feed jobs: follow RSS, Atom and JSON feeds, and process every new entry once, resumably.

In the order an entry travels: feed lists and names (lists) register feeds in the ledger (ledger:
its interface; backends: which implementation, SQLite in `sqlite/` or the shared PostgreSQL
database in `postgres/`, each with the story index); a run
(run) fetches each feed with a conditional GET and parses it (parse), records its new entries,
then the entry job (job) fetches each entry's page or falls back to the feed's own text
(entries), recognises copies of a story already seen (over the shingle samples of dedupe),
stores the article, summarises it and extracts its claims, and writes its output line (records);
updated items are read again (recheck), and the run's digest is written (digest). What a run is
asked and what it did are in report. On a shared database, runs on several machines are workers
of one fleet (fleet): each feed and entry claimed with a lease, taken over when its worker dies.
"""

from summarizer.feeds.backends import has_ledger, open_ledger
from summarizer.feeds.digest import DIGESTS, JsonLines, digest_markdown, keep_digest, kept_digests
from summarizer.feeds.ledger import EntryRow, FeedRow, Ledger
from summarizer.feeds.lists import ListedFeed, read_feed_list
from summarizer.feeds.parse import (
    FeedEntry,
    ParsedFeed,
    drop_entity_declarations,
    normalize_text,
    parse_feed,
)
from summarizer.feeds.report import RunOptions, RunProgress, RunReport
from summarizer.feeds.run import run, run_lock

__all__ = [
    "DIGESTS",
    "EntryRow",
    "FeedEntry",
    "FeedRow",
    "JsonLines",
    "Ledger",
    "ListedFeed",
    "ParsedFeed",
    "RunOptions",
    "RunProgress",
    "RunReport",
    "digest_markdown",
    "drop_entity_declarations",
    "has_ledger",
    "keep_digest",
    "kept_digests",
    "normalize_text",
    "open_ledger",
    "parse_feed",
    "read_feed_list",
    "run",
    "run_lock",
]
