"""Reading: files, directories, globs and URLs -> raw documents -> article text and metadata.

In the order a page travels: sources (files, directories, globs: raw documents), fetch (http(s)
pages and feeds, all network I/O for them, with the guard against private addresses), css and
hidden (what a reader never sees, removed first) and extract (the article's text, title and
metadata).
"""

from summarizer.reading.extract import Extracted, extract, word_count
from summarizer.reading.fetch import (
    FeedResponse,
    NotModified,
    fetch_feed,
    fetch_url,
    make_guarded_client,
    make_http_client,
)
from summarizer.reading.sources import RawDocument, expand, read_bytes, read_file

__all__ = [
    "Extracted",
    "FeedResponse",
    "NotModified",
    "RawDocument",
    "expand",
    "extract",
    "fetch_feed",
    "fetch_url",
    "make_guarded_client",
    "make_http_client",
    "read_bytes",
    "read_file",
    "word_count",
]
