"""Ingest: files, directories, globs and URLs (or pages already fetched) into the corpus.

Items are read, extracted and chunked one by one and embedded and stored in batches; unchanged
sources are skipped without embedding, a failed item is reported and the rest goes on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from summarizer.errors import (
    EmbedderError,
    ExtractionError,
    RefusedAddress,
    SummarizerError,
    one_line,
)
from summarizer.words import counted

if TYPE_CHECKING:
    import httpx

    from summarizer.config import Settings
    from summarizer.corpus.embed import Embedder, Vector
    from summarizer.corpus.store import Corpus
    from summarizer.models import Article, Chunk
    from summarizer.reading import Extracted, RawDocument

# A stored article is read again only with the permission its page was first fetched with.
REFETCH_PRIVATE = (
    "it was stored without --allow-private: ingest its URL again with --allow-private to allow it"
)
# Chunks embedded per call: large enough to keep the embedder busy, small enough that a killed
# ingest loses little work.
EMBED_BATCH = 128


class Progress(Protocol):
    def begin(self, total: int) -> None: ...
    def advance(self, result: ItemResult) -> None: ...
    def note(self, message: str) -> None: ...
    def embedded(self, item: str, label: str) -> None:
        """`item`'s chunks are embedded (it is stored with its batch, then `advance`d)."""
        ...


class SilentProgress:
    """Progress that shows nothing (library use, tests)."""

    def begin(self, total: int) -> None:
        pass

    def advance(self, result: ItemResult) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def embedded(self, item: str, label: str) -> None:
        pass


@dataclass
class ItemResult:
    """What happened to one source: added, updated, unchanged or failed (with the reason)."""

    item: str
    status: str
    article_id: str | None = None
    title: str | None = None
    chunks: int = 0
    reason: str | None = None
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["warnings"] = list(self.warnings)
        return d


@dataclass
class IngestReport:
    results: list[ItemResult] = field(default_factory=list)
    embedded: int = 0

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> int:
        return self.count("failed")

    def summary_line(self) -> str:
        counts = ", ".join(
            f"{self.count(s)} {s}" for s in ("added", "updated", "unchanged", "failed")
        )
        return f"ingest: {counts} ({counted(self.embedded, 'chunks')} embedded)"


def article_id(kind: str, key: str) -> str:
    """Short stable id from the canonical URL or the resolved path."""
    return hashlib.sha256(f"{kind}:{key}".encode()).hexdigest()[:12]


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def describe_article(raw: RawDocument, doc: Extracted, *, allow_private: bool) -> Article:
    """The article a page's extraction makes, as stored but for the storage times: its id and
    URL (from the address fetched, or the file), its text hash and metadata, and whether its
    page was fetched with leave to reach private addresses."""
    from summarizer.models import Article

    aid, url = article_id("file", raw.source), doc.url
    if raw.url is not None:
        url = trusted_url(raw.url, doc.url)
        aid = article_id("url", canonical_url(url))
    return Article(
        id=aid,
        source=raw.source,
        title=doc.title,
        text=doc.text,
        content_hash=content_hash(doc.text),
        url=url,
        author=doc.author,
        date=doc.date,
        site=doc.site,
        method=doc.method,
        warnings=doc.warnings,
        allow_private=allow_private and raw.url is not None,
    )


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no fragment, no default port, no utm_* tracking parameters."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = (
        host
        if port is None or (scheme, port) in (("http", 80), ("https", 443))
        else (f"{host}:{port}")
    )
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not k.startswith("utm_")
        ]
    )
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def trusted_url(fetched: str, declared: str | None) -> str:
    """The page's declared canonical URL when it can be trusted as its identity, else the URL it
    was fetched from: a page may only name an article of its own site, and not the site's root
    (many pages point there, and a hostile one could overwrite another article)."""
    if not declared:
        return fetched
    a, b = urlsplit(fetched), urlsplit(declared)

    def host(netloc: str) -> str:
        return netloc.lower().removeprefix("www.")

    if b.scheme not in ("http", "https") or host(a.netloc) != host(b.netloc):
        return fetched
    if b.path.strip("/") == "":
        return fetched
    return declared


def is_url(item: str) -> bool:
    return item.startswith(("http://", "https://"))


# Texts embedded between two looks at whether the caller has given up (Ctrl-C during `run`):
# a second of work on two cores, where a page batch's whole embedding can take ten.
EMBED_SLICE = 64


class Cancelled(Exception):
    """The caller gave up before the batch was stored; nothing of it was written."""


def never() -> bool:
    return False


class _Ingester:
    """Prepares items one by one and stores them in batches of chunks."""

    def __init__(
        self,
        settings: Settings,
        corpus: Corpus,
        progress: Progress,
        cancelled: Callable[[], bool] = never,
    ) -> None:
        self.settings = settings
        self.corpus = corpus
        self.progress = progress
        self.cancelled = cancelled
        self.report = IngestReport()
        self._embedder: Embedder | None = None
        self._collection = ""
        # A client per permission: with the guard against private addresses, and without it.
        self._http: dict[bool, httpx.Client] = {}
        self._pending: list[tuple[Article, list[Chunk], str | None, ItemResult]] = []
        self._pending_chunks = 0

    def close(self) -> None:
        for client in self._http.values():
            client.close()
        if self._embedder is not None:
            self._embedder.close()

    def _done(self, result: ItemResult) -> None:
        self.report.results.append(result)
        self.progress.advance(result)

    def add(
        self,
        item: str,
        known: str | None = None,
        article_id: str | None = None,
        allow_private: bool | None = None,
    ) -> None:
        """Read or fetch one file or URL and stage its article (or record why it failed); with
        `known`, the validators of the page's last fetch, fetch it with a conditional GET (a 304
        is reported unchanged, at no cost). A page is fetched, redirects included, only from
        public addresses unless `allow_private` (by default the settings') lets it; the article
        records the permission its page was fetched with."""
        from summarizer.reading import NotModified

        if allow_private is None:
            allow_private = self.settings.allow_private
        try:
            staged = self._read(item, known, allow_private)
            if staged is not None:
                self._stage(item, *staged, keep_id=article_id, allow_private=allow_private)
        except NotModified:
            self._done(ItemResult(item, "unchanged", article_id=article_id))
        except EmbedderError:
            raise
        except RefusedAddress as e:  # with how to allow it
            how = e.hint if article_id is None else REFETCH_PRIVATE
            reason = f"{e.message} ({how})" if how else e.message
            self._done(ItemResult(item, "failed", article_id=article_id, reason=reason))
        except SummarizerError as e:
            self._done(ItemResult(item, "failed", article_id=article_id, reason=e.message))

    def add_raw(self, item: str, raw: RawDocument, doc: Extracted | None = None) -> None:
        """Stage an article from a page already in hand (a feed job's fetched page or the
        feed's own content), and its extraction when already made."""
        try:
            self._stage(item, raw, None, doc, allow_private=self.settings.allow_private)
        except EmbedderError:
            raise
        except SummarizerError as e:
            self._done(ItemResult(item, "failed", reason=e.message))

    def refresh(self, article: Article) -> None:
        """Read the article's source again: a page with a conditional GET (and only with the
        permission it was first fetched with), a file when its size or mtime changed."""
        known = self.corpus.catalog.state(article.id)  # under the write lock: as it is now
        if known is None:  # removed while this waited for the lock: not to be stored again
            reason = "removed by another process meanwhile: not read again"
            self._done(ItemResult(article.source, "failed", article_id=article.id, reason=reason))
            return
        self.add(article.source, known[1], article.id, article.allow_private)

    def _read(
        self, item: str, known: str | None, allow_private: bool
    ) -> tuple[RawDocument, str | None] | None:
        """The item's bytes and fingerprint (a file's size and mtime, a page's validators);
        None when the file is unchanged (reported). A page is fetched with a conditional GET
        when `known` holds its validators of an earlier fetch (NotModified on a 304)."""
        if is_url(item):
            from summarizer.reading import fetch_url, make_guarded_client

            client = self._http.get(allow_private)
            if client is None:
                client = make_guarded_client(allow_private=allow_private)
                self._http[allow_private] = client
            doc = fetch_url(
                item, max_bytes=self.settings.max_bytes, client=client, if_changed_since=known
            )
            return doc, doc.validators
        from summarizer.reading import read_file

        path = Path(item)
        try:
            st = path.stat()
        except OSError as e:
            self._done(ItemResult(item, "failed", reason=e.strerror or str(e)))
            return None
        fingerprint = f"{st.st_size}:{st.st_mtime_ns}"
        aid = article_id("file", str(path))
        state = self.corpus.catalog.state(aid)
        if state is not None and state[1] == fingerprint:
            self._done(ItemResult(item, "unchanged", article_id=aid))
            return None
        return read_file(path, self.settings.max_bytes), fingerprint

    def _stage(
        self,
        item: str,
        raw: RawDocument,
        fingerprint: str | None,
        doc: Extracted | None = None,
        keep_id: str | None = None,
        *,
        allow_private: bool,
    ) -> None:
        from summarizer.corpus.catalog import now
        from summarizer.corpus.chunking import chunk_article
        from summarizer.corpus.versions import same_substance
        from summarizer.reading import extract

        if doc is None:
            try:
                doc = extract(raw, min_words=self.settings.min_words)
            except SummarizerError:
                raise
            except Exception as e:  # a parser's bug on one odd page fails that page alone
                raise ExtractionError(f"unexpected {type(e).__name__}: {one_line(e)}") from None
        article = describe_article(raw, doc, allow_private=allow_private)
        if keep_id is not None and article.id != keep_id:
            # Read again for an article stored before (refresh) that now redirects, or names
            # another canonical URL (a slug changed with its headline): still that article.
            article = article.model_copy(update={"id": keep_id})
        aid, text_hash = article.id, article.content_hash
        if any(a.id == aid for a, *_ in self._pending):
            self.flush()  # the same article twice in one run: compare with the stored first copy
        stamp = now()
        old = self.corpus.catalog.get(aid)
        if old is not None:
            # A page read again that no longer gives its date or author (a feed item gave them)
            # keeps those known.
            kept = {k: getattr(old, k) for k in ("date", "author") if not getattr(article, k)}
            article = article.model_copy(update=kept)
        if old is not None and old.content_hash != text_hash and same_substance(old.text, doc.text):
            # Only whitespace or a "last updated" stamp changed: the stored text (and every
            # citation into it) stays.
            article = article.model_copy(
                update={"text": old.text, "content_hash": old.content_hash}
            )
            text_hash = old.content_hash
        article = article.model_copy(
            update={
                "ingested_at": old.ingested_at if old else stamp,
                "updated_at": stamp
                if old is None or old.content_hash != text_hash
                else old.updated_at,
            }
        )
        for warning in doc.warnings:
            self.progress.note(f"warning: {item}: {warning}")
        result = ItemResult(
            item, "added", article_id=aid, title=article.title, warnings=doc.warnings
        )
        if old is not None and old.content_hash == text_hash:
            # Another address of the same article (AMP page, tracking parameters): keep the first.
            article = article.model_copy(update={"source": old.source})
            result.chunks = len(self.corpus.catalog.chunks(old))
            unchanged = old.model_dump(exclude={"updated_at"}) == article.model_dump(
                exclude={"updated_at"}
            )
            if unchanged:
                self.corpus.catalog.set_fingerprint(aid, fingerprint)
                result.status = "unchanged"
            else:  # same text, new metadata: no new embeddings needed
                self.corpus.update_metadata(article, fingerprint)
                result.status = "updated"
            self._done(result)
            return
        if old is not None:
            result.status = "updated"
        chunks = chunk_article(aid, text_hash, article.text)
        result.chunks = len(chunks)
        self._pending.append((article, chunks, fingerprint, result))
        self._pending_chunks += len(chunks)
        if self._pending_chunks >= EMBED_BATCH:
            self.flush()

    def embedder(self) -> Embedder:
        """Loaded on first need, before anything is stored: a broken embedder stops the run."""
        if self._embedder is None:
            from summarizer.corpus.embed import make_embedder

            embedder = make_embedder(self.settings)
            self.corpus.check_embedder(embedder.name)
            dim = embedder.load()
            self._collection = self.corpus.use_embedder(embedder.name, dim)
            self._embedder = embedder
        return self._embedder

    def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending, self._pending_chunks = self._pending, [], 0
        embedder = self.embedder()
        texts = [c.text for _, chunks, _, _ in batch for c in chunks]
        ends = list(accumulate(len(chunks) for _, chunks, _, _ in batch))
        try:
            vectors: list[Vector] = []
            told = 0
            for start in range(0, len(texts), EMBED_SLICE):
                if self.cancelled():
                    raise Cancelled
                vectors += embedder.embed(texts[start : start + EMBED_SLICE])
                while told < len(batch) and ends[told] <= len(vectors):  # moves while it works
                    label = f"{len(vectors)}/{len(texts)} chunks embedded"
                    self.progress.embedded(batch[told][3].item, label)
                    told += 1
            self.report.embedded += len(texts)
            self.corpus.store(self._collection, [(a, c, f) for a, c, f, _ in batch], vectors)
        except SummarizerError as e:
            for *_, result in batch:
                result.status, result.reason = "failed", e.message
                self._done(result)
            return
        for *_, result in batch:
            self._done(result)


@contextmanager
def ingest_session(
    settings: Settings,
    progress: Progress,
    total: int,
    cancelled: Callable[[], bool] = never,
) -> Iterator[_Ingester]:
    """The write lock, the corpus checked and recovered, and an ingester flushed at the end."""
    from summarizer.corpus.embed import canonical_name
    from summarizer.corpus.store import Corpus, write_lock

    embedder_name = canonical_name(settings.embedder)
    progress.begin(total)
    with write_lock(settings, progress.note):
        corpus = Corpus(settings)
        ingester = _Ingester(settings, corpus, progress, cancelled)
        try:
            corpus.check_embedder(embedder_name)
            corpus.recover()
            yield ingester
            ingester.flush()
        finally:
            ingester.close()
            corpus.close()


def ingest(settings: Settings, specs: list[str], progress: Progress | None = None) -> IngestReport:
    """Add or update the articles behind `specs`; failed items are reported, the rest stored."""
    from summarizer.reading import expand

    progress = progress or SilentProgress()
    items = list(expand(specs))
    with ingest_session(settings, progress, len(items)) as ingester:
        for item in items:
            if isinstance(item, SummarizerError):
                ingester._done(ItemResult(_item_name(item), "failed", reason=item.message))
            else:
                ingester.add(item)
    return ingester.report


def ingest_documents(
    settings: Settings,
    documents: Sequence[tuple[str, RawDocument, Extracted | None]],
    progress: Progress | None = None,
    cancelled: Callable[[], bool] = never,
) -> IngestReport:
    """Add or update articles from pages already fetched: (item name, raw page, its
    extraction or None to extract it here). The report's results are in the order of
    `documents`. Raises Cancelled, with nothing stored, when `cancelled()` turns true
    before the batch is written."""
    total = len(documents)
    with ingest_session(settings, progress or SilentProgress(), total, cancelled) as ingester:
        for item, raw, doc in documents:
            ingester.add_raw(item, raw, doc)
    order = {item: i for i, (item, *_) in enumerate(documents)}
    ingester.report.results.sort(key=lambda r: order.get(r.item, len(order)))
    return ingester.report


def _item_name(error: SummarizerError) -> str:
    return getattr(error, "item", None) or ""
