"""The catalog's face: what the rest of the package may ask of the stored articles.

The catalog is the source of truth for what is visible: each article's exact text and metadata,
its chunk spans, the earlier versions of its text, the summaries and claims kept for each version,
and a lexical (BM25) index of its chunks, always in step with the rest. A chunk in the vector
store counts only while the catalog holds its article with the same content hash; pending
vector-store deletions are journalled so that a killed process leaves nothing stale behind.

`Catalog` is the interface; `open_catalog` (backends) gives the implementation the settings
choose (SQLite in the data dir: `corpus.sqlite`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from summarizer.errors import NotFoundError
from summarizer.models import Article, Chunk

# A title's words count for less than the text's in the lexical ranking: they say which
# article, not which passage.
TITLE_WEIGHT = 0.5


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def id_prefix(id_or_prefix: str) -> str:
    """An article id, or the start of one, as given (spaces around it dropped): never empty,
    for an empty prefix would name every article."""
    given = id_or_prefix.strip()
    if not given:
        raise NotFoundError(
            f"no article {id_or_prefix!r}: an article id is not empty",
            hint="`summarizer list` shows the ids",
        )
    return given


@dataclass(frozen=True)
class Listed:
    """An article as a list shows it, without its text."""

    id: str
    title: str
    site: str | None
    date: str | None
    source: str
    chars: int
    ingested_at: str


@dataclass(frozen=True)
class Version:
    """One text an article had: its number (1 is the first), hash, title and when fetched."""

    n: int
    content_hash: str
    title: str
    fetched_at: str
    fingerprint: str | None
    chars: int


class Catalog(Protocol):
    """The stored articles; safe to read while another process writes."""

    def close(self) -> None: ...

    def transaction(self) -> AbstractContextManager[None]:
        """One atomic write: everything in the block lands, or nothing does."""
        ...

    # --- metadata of the store (embedder, collection, ...) ----------------------------------

    def meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str | None) -> None: ...

    def generation(self) -> int:
        """A number that changes whenever another process commits a write: a reader that keeps
        state about the corpus (the web app's vector view) looks again when it changed."""
        ...

    # --- articles and chunks ----------------------------------------------------------------

    def count(self) -> int: ...

    def chunk_count(self) -> int: ...

    def get(self, article_id: str) -> Article | None: ...

    def resolve(self, id_or_prefix: str) -> Article:
        """The article with this id, or the only one whose id starts with it (NotFoundError;
        an empty one is refused: `id_prefix`)."""
        ...

    def articles(self) -> list[Article]:
        """Every article, in the order they were stored."""
        ...

    def state(self, article_id: str) -> tuple[str, str | None] | None:
        """(content_hash, fingerprint) of a stored article, without loading its text."""
        ...

    def id_for_url(self, url: str, url_id: str) -> str | None:
        """The article stored with this id or from (or declaring) this URL, if any."""
        ...

    def many(self, article_ids: Iterable[str]) -> dict[str, Article]:
        """The stored articles among `article_ids`, by id."""
        ...

    def chunks(self, article: Article) -> list[Chunk]: ...

    def dates(self, ids: Iterable[str]) -> dict[str, str]:
        """The date of each of these articles that has one."""
        ...

    def select_ids(
        self,
        *,
        sources: Sequence[str] = (),
        since: str | None = None,
        until: str | None = None,
        ids: Sequence[str] = (),
    ) -> list[str]:
        """Ids of the articles that pass the filters: source (a substring of the source, URL
        or site), date range (ISO dates; undated articles never pass a date filter), ids."""
        ...

    def listing(
        self,
        *,
        sources: Sequence[str] = (),
        since: str | None = None,
        until: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[Listed], int]:
        """A page of the articles that pass the filters, newest first (by their date, else
        when they were stored), without their texts; and how many pass in all."""
        ...

    def sites(self) -> list[str]: ...

    def chunk_spans(self, chunk_ids: Sequence[str]) -> dict[str, tuple[str, int, int, int]]:
        """chunk id -> (article id, index, start, end)."""
        ...

    def chunk_texts(self, chunk_ids: Sequence[str]) -> dict[str, str]:
        """chunk id -> the chunk's text, for the chunks that are stored."""
        ...

    def put(self, article: Article, chunks: list[Chunk], fingerprint: str | None) -> None:
        """Insert or replace an article, its chunk spans and their lexical index; a changed
        text is kept as a new version, the one it replaces as an older one."""
        ...

    def set_fingerprint(self, article_id: str, fingerprint: str | None) -> None: ...

    def delete(self, article_id: str) -> None: ...

    # --- the lexical index --------------------------------------------------------------------

    def lexical(
        self,
        terms: Sequence[str],
        n: int,
        article_ids: Sequence[str] | None = None,
        *,
        title_weight: float = TITLE_WEIGHT,
    ) -> list[tuple[str, str, float]]:
        """(chunk id, article id, BM25 score; higher is better) of the `n` best chunks for any
        of `terms`, optionally only among `article_ids`."""
        ...

    # --- the vector store's cleanup journal ---------------------------------------------------

    def journal_cleanup(self, article_id: str, keep_hash: str | None) -> None:
        """Record that the vector store must drop this article's chunks of any other hash."""
        ...

    def pending_cleanup(self) -> list[tuple[str, str | None]]: ...

    def clear_cleanup(self, article_ids: Iterable[str]) -> None: ...

    # --- versions and kept outputs ------------------------------------------------------------

    def versions(self, article_id: str) -> list[Version]:
        """The texts the article had, oldest first."""
        ...

    def version_text(self, article_id: str, n: int) -> str | None:
        """The text of version `n` of the article (None when it has no such version)."""
        ...

    def text_of(self, article_id: str, content_hash: str) -> str | None:
        """The text of the article's version with this hash: where an old citation points."""
        ...

    def save_output(self, article_id: str, task: str, content_hash: str, data: str) -> None:
        """Keep the latest output (JSON) of `task` ("summarize", "claims") for an article."""
        ...

    def output(
        self, article_id: str, task: str, content_hash: str | None = None
    ) -> tuple[str, str, str] | None:
        """(content_hash, made_at, JSON) of the output of `task` for the article: of the
        version with `content_hash` when given, else of its latest text if there is one, else
        the newest."""
        ...

    def current_outputs(self, article_ids: Sequence[str]) -> dict[tuple[str, str], str]:
        """(article id, task) -> the JSON of the kept output of the article's current text."""
        ...
