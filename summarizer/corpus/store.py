"""The corpus on disk: the article catalog plus a Chroma collection, embedded or on a server.

Writes are ordered so that a process killed at any point leaves nothing half-visible:
journal the cleanup -> write vectors -> commit the catalog -> delete stale vectors -> clear the
journal. Search only returns chunks whose content hash matches the catalog's.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from summarizer.corpus.backends import open_catalog
from summarizer.errors import ConfigError, StoreError, one_line
from summarizer.models import Article, Chunk, SearchHit

if TYPE_CHECKING:
    from summarizer.config import Settings
    from summarizer.corpus.embed import Vector

_BATCH = 1000


def look_again() -> None:
    """The next embedded store opened in this process reads the files as they are now: the
    first one opened keeps what it loaded, and does not see what other processes wrote since
    (a long-running reader, the web app, calls this when the catalog changed)."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


_COPIES: dict[Path, Path] = {}


def _readable_copy(path: Path) -> Path:
    """A writable copy of the store at `path`, one per process (see _local_path)."""
    import atexit
    import shutil
    import stat
    import tempfile

    if path in _COPIES:
        return _COPIES[path]
    copy = Path(tempfile.mkdtemp(prefix="summarizer-chroma-")) / "chroma"
    try:
        shutil.copytree(path, copy, copy_function=shutil.copyfile)
        for f in [copy, *copy.rglob("*")]:  # the copy's modes are the originals' read-only
            f.chmod(f.stat().st_mode | stat.S_IWUSR)
    except OSError as e:
        shutil.rmtree(copy.parent, ignore_errors=True)
        raise StoreError(f"cannot read the vector store {path}: {e}") from None
    atexit.register(shutil.rmtree, copy.parent, True)
    _COPIES[path] = copy
    return copy


class VectorStore:
    """One Chroma client (PersistentClient in the data dir, or HttpClient for `chroma run`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Any = None
        self._collections: dict[str, Any] = {}

    @property
    def where(self) -> str:
        return self.settings.chroma_url or str(self.settings.chroma_path)

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> Any:
        os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        url = self.settings.chroma_url
        self.settings.check_shared()
        if not url:
            try:
                return chromadb.PersistentClient(
                    path=str(self._local_path()), settings=chroma_settings
                )
            except Exception as e:
                raise StoreError(f"cannot open the vector store {self.where}: {e}") from None
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"--chroma-url {url!r} is not an http(s)://HOST:PORT address")
        ssl = parts.scheme == "https"
        try:
            return chromadb.HttpClient(
                host=parts.hostname,
                port=parts.port or (443 if ssl else 8000),
                ssl=ssl,
                settings=chroma_settings,
            )
        except Exception as e:
            raise StoreError(
                f"cannot reach the Chroma server at {url}: {one_line(e)}",
                hint="start one with `chroma run --path DIR --host 127.0.0.1 --port PORT`",
            ) from None

    def _local_path(self) -> Path:
        """The embedded store's folder; when this process cannot write it (a read-only mount,
        an archive, another user's data dir), a copy of it in a temporary folder, made once per
        process and removed at exit: Chroma writes to its files even to read them, and nothing
        is written here but by a writer, which takes the write lock and needs the data dir
        writable anyway."""
        path = self.settings.chroma_path
        files = [path, *path.rglob("*")] if path.exists() else []
        if all(os.access(f, os.W_OK) for f in files):
            return path
        return _readable_copy(path)

    def collection(self, name: str, *, embedder: str = "", dim: int = 0) -> Any:
        """The collection `name`; created (cosine, tagged with the embedder) when `dim` is given."""
        if name not in self._collections:
            try:
                if dim:
                    self._collections[name] = self.client.get_or_create_collection(
                        name,
                        metadata={"embedder": embedder, "dimension": dim},
                        configuration={"hnsw": {"space": "cosine"}},
                        embedding_function=None,
                    )
                else:
                    self._collections[name] = self.client.get_collection(
                        name, embedding_function=None
                    )
            except StoreError:
                raise
            except Exception as e:
                raise StoreError(
                    f"vector collection {name} is not usable in {self.where}: {one_line(e)}",
                    hint="`summarizer reindex` rebuilds it from the catalog",
                ) from None
        return self._collections[name]

    def upsert(
        self,
        name: str,
        chunks: Sequence[Chunk],
        vectors: Sequence[Vector],
        hashes: Mapping[str, str],
    ) -> None:
        """Write chunks with their vectors, tagged with their article's content hash."""
        col = self.collection(name)
        for i in range(0, len(chunks), _BATCH):
            part = chunks[i : i + _BATCH]
            self._call(
                col.upsert,
                # No documents: the text is in the catalog, and Chroma's full-text index of it
                # would triple the cost of every write.
                ids=[c.id for c in part],
                embeddings=list(vectors[i : i + _BATCH]),
                metadatas=[
                    {
                        "article_id": c.article_id,
                        "content_hash": hashes[c.article_id],
                        "index": c.index,
                        "start": c.start,
                        "end": c.end,
                    }
                    for c in part
                ],
            )

    def delete_article(self, name: str, article_id: str, keep_hash: str | None) -> None:
        """Drop the article's chunks, except those of `keep_hash` when given."""
        where: dict[str, Any] = {"article_id": article_id}
        if keep_hash is not None:
            where = {"$and": [where, {"content_hash": {"$ne": keep_hash}}]}
        self._call(self.collection(name).delete, where=where)

    def query(
        self, name: str, vector: Vector, n: int, where: dict[str, Any] | None = None
    ) -> list[tuple[str, float, dict[str, Any]]]:
        """(chunk id, cosine distance, metadata) of the `n` nearest chunks."""
        col = self.collection(name)
        res = self._call(
            col.query,
            query_embeddings=[[float(x) for x in vector]],
            n_results=n,
            where=where,
            include=["metadatas", "distances"],
        )
        ids, dists, metas = res["ids"][0], res["distances"][0], res["metadatas"][0]
        # A chunk another process deleted since this client loaded its index may come back
        # without its metadata: it is not there any more.
        return [
            (cid, float(d), dict(m))
            for cid, d, m in zip(ids, dists, metas, strict=True)
            if m is not None
        ]

    def count(self, name: str) -> int:
        return int(self._call(self.collection(name).count))

    def drop(self, name: str) -> None:
        self._collections.pop(name, None)
        try:
            self.client.delete_collection(name)
        except StoreError:
            raise
        except Exception:  # already gone: nothing to drop
            pass
        self._remove_orphan_segments()

    def stored_count(self) -> int | None:
        """How many vectors the embedded store holds (None: a server's, or none there), read
        from its database without opening a client."""
        import sqlite3

        path = self.settings.chroma_path / "chroma.sqlite3"
        if self.settings.chroma_url or not path.exists():
            return None
        try:
            with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                return int(db.execute("SELECT count(*) FROM embeddings").fetchone()[0])
        except sqlite3.Error:
            return None  # an unknown layout: nothing to say

    def _remove_orphan_segments(self) -> None:
        """Embedded Chroma leaves a deleted collection's vector files on disk: remove the segment
        directories that no segment of its database names any more."""
        if self.settings.chroma_url:
            return  # a server keeps its own files
        import shutil
        import sqlite3
        import uuid

        root = self.settings.chroma_path
        try:
            with closing(
                sqlite3.connect(f"file:{root / 'chroma.sqlite3'}?mode=ro", uri=True)
            ) as db:
                live = {row[0] for row in db.execute("SELECT id FROM segments")}
        except sqlite3.Error:
            return  # an unknown layout: leave everything as it is
        for entry in root.iterdir():
            try:
                uuid.UUID(entry.name)
            except ValueError:
                continue
            if entry.is_dir() and entry.name not in live and (entry / "header.bin").exists():
                shutil.rmtree(entry, ignore_errors=True)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            raise StoreError(f"vector store {self.where}: {one_line(e)}") from None


class Corpus:
    """Catalog + vector collection, with the rules that keep them consistent."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalog = open_catalog(settings)
        self.vectors = VectorStore(settings)
        # No article, no pending cleanup (a killed first ingest or removal journals its
        # vectors: `recover` drops them), and vectors beside: the catalog was lost or emptied.
        if self.catalog.count() == 0 and not self.catalog.pending_cleanup():
            vectors = self.vectors.stored_count()
            if vectors:  # not to be taken for a new corpus
                self.catalog.close()
                raise StoreError(
                    f"the catalog {settings.catalog_where} holds no articles, but the vector store "
                    f"beside it holds {vectors:,} chunks: the catalog was lost or emptied",
                    hint=f"restore it from a backup, or move {settings.chroma_path} and the "
                    "feed ledger aside to start an empty corpus",
                )

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self) -> Corpus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the embedder the collection was built with -----------------------------------------

    def recorded_embedder(self) -> tuple[str, int] | None:
        name, dim = self.catalog.meta("embedder"), self.catalog.meta("dimension")
        return None if name is None or dim is None else (name, int(dim))

    def check_embedder(self, name: str, dim: int | None = None) -> None:
        """Refuse to mix vectors of two embedders (or of one whose dimension changed)."""
        recorded = self.recorded_embedder()
        if recorded is None or self.catalog.count() == 0:
            return
        if recorded[0] == name and (dim is None or recorded[1] == dim):
            return
        now = name if dim is None or recorded[0] != name else f"{name} ({dim}-d)"
        raise StoreError(
            f"the corpus in {self.settings.home} was embedded with {recorded[0]} "
            f"({recorded[1]}-d), not with the configured embedder {now}",
            hint=f"use --embedder {recorded[0]}, or run `summarizer reindex --embedder {name}` "
            "to re-embed everything",
        )

    def _next_collection_name(self) -> str:
        """The name the next new collection gets; `_claim` records it as used."""
        store_id = self.catalog.meta("store_id")
        if store_id is None:
            store_id = uuid.uuid4().hex[:12]
            self.catalog.set_meta("store_id", store_id)
        generation = int(self.catalog.meta("generation") or "0") + 1
        return f"summarizer-{store_id}-{generation}"

    def _claim(self, name: str) -> None:
        self.catalog.set_meta("generation", name.rsplit("-", 1)[1])

    def use_embedder(self, name: str, dim: int) -> str:
        """The collection to write to with this embedder (created on first use)."""
        self.check_embedder(name, dim)
        collection = self.collection_name()
        if collection is None or self.recorded_embedder() != (name, dim):
            old = collection
            collection = self._next_collection_name()
            # Created before the catalog points at it: a kill in between leaves an empty
            # collection that the next run picks up under the same name.
            self.vectors.collection(collection, embedder=name, dim=dim)
            with self.catalog.transaction():
                self._claim(collection)
                self.catalog.set_meta("collection", collection)
                self.catalog.set_meta("embedder", name)
                self.catalog.set_meta("dimension", str(dim))
            if old is not None:  # check_embedder let it through: the store holds no article
                self.vectors.drop(old)
        self.vectors.collection(collection, embedder=name, dim=dim)
        return collection

    def begin_reindex(self, name: str, dim: int) -> str:
        """A fresh collection for `name`; journalled so a killed reindex leaves no orphan."""
        with self.catalog.transaction():
            target = self._next_collection_name()
            self._claim(target)
            self.catalog.set_meta("reindex_target", target)
        self.vectors.collection(target, embedder=name, dim=dim)
        return target

    def finish_reindex(self, target: str, name: str, dim: int) -> None:
        """Switch to the re-embedded collection in one step, then drop the old one."""
        old = self.collection_name()
        with self.catalog.transaction():
            self.catalog.set_meta("collection", target)
            self.catalog.set_meta("embedder", name)
            self.catalog.set_meta("dimension", str(dim))
            self.catalog.set_meta("reindex_target", None)
        if old is not None and old != target:
            self.vectors.drop(old)

    def collection_name(self) -> str | None:
        return self.catalog.meta("collection")

    # --- writing ----------------------------------------------------------------------------

    def recover(self) -> int:
        """Finish the vector-store deletions a killed process left journalled."""
        pending = self.catalog.pending_cleanup()
        collection = self.collection_name()
        stale = self.catalog.meta("reindex_target")
        if stale is not None:
            self.vectors.drop(stale)
            self.catalog.set_meta("reindex_target", None)
        if pending and collection is not None:
            for article_id, keep_hash in pending:
                self.vectors.delete_article(collection, article_id, keep_hash)
        self.catalog.clear_cleanup(a for a, _ in pending)
        return len(pending)

    def store(
        self,
        collection: str,
        items: Sequence[tuple[Article, list[Chunk], str | None]],
        vectors: Sequence[Vector],
    ) -> None:
        """Make new or changed articles visible with their chunks (`vectors` in chunk order),
        atomically per batch, in one vector-store write."""
        with self.catalog.transaction():
            replaced = []
            for article, _, _ in items:
                current = self.catalog.state(article.id)
                self.catalog.journal_cleanup(article.id, current[0] if current else None)
                if current is not None:
                    replaced.append(article)
        chunks = [c for _, article_chunks, _ in items for c in article_chunks]
        hashes = {a.id: a.content_hash for a, _, _ in items}
        self.vectors.upsert(collection, chunks, vectors, hashes)
        with self.catalog.transaction():
            for article, article_chunks, fingerprint in items:
                self.catalog.put(article, article_chunks, fingerprint)
                self.catalog.journal_cleanup(article.id, article.content_hash)
        # A new article has no older chunks: recover() removed any a killed run left behind.
        for article in replaced:
            self.vectors.delete_article(collection, article.id, article.content_hash)
        self.catalog.clear_cleanup(hashes)

    def update_metadata(self, article: Article, fingerprint: str | None) -> None:
        """Store changed metadata of an article whose text (and so whose chunks) did not change."""
        with self.catalog.transaction():
            current = self.catalog.get(article.id)
            chunks = self.catalog.chunks(current) if current else []
            self.catalog.put(article, chunks, fingerprint)

    def remove(self, article: Article) -> None:
        with self.catalog.transaction():
            self.catalog.journal_cleanup(article.id, None)
            self.catalog.delete(article.id)
        collection = self.collection_name()
        if collection is not None:
            self.vectors.delete_article(collection, article.id, None)
        self.catalog.clear_cleanup([article.id])

    # --- reading ----------------------------------------------------------------------------

    def search(
        self, vector: Vector, k: int, where: dict[str, Any] | None = None
    ) -> list[SearchHit]:
        collection = self.collection_name()
        if collection is None or self.catalog.count() == 0:
            return []
        # A few extra in case some hits belong to a write that has not committed yet.
        rows = self.vectors.query(collection, vector, k + 8, where)
        articles = self.catalog.many(meta["article_id"] for _, _, meta in rows)
        hits: list[SearchHit] = []
        for chunk_id, distance, meta in rows:
            article = articles.get(meta["article_id"])
            if article is None or article.content_hash != meta["content_hash"]:
                continue
            start, end = int(meta["start"]), int(meta["end"])
            hits.append(
                SearchHit(
                    article_id=article.id,
                    title=article.title,
                    source=article.source,
                    chunk_id=chunk_id,
                    start=start,
                    end=end,
                    text=article.text[start:end],
                    score=round(1.0 - float(distance), 6),
                )
            )
        return hits[:k]


# The key of the shared database's lock that writers of the corpus hold ("CORP").
CORPUS_WRITE_LOCK = 0x434F_5250


@contextmanager
def write_lock(settings: Settings, on_wait: Any = None) -> Iterator[None]:
    """Serialise writers of one corpus (ingest, remove, reindex) across processes: of one data
    dir (a lock file), or of a shared database (a lock held in it, across machines)."""
    import fcntl

    if settings.database_url:
        from summarizer.database import advisory_lock, connect

        with advisory_lock(connect(settings.database_url), CORPUS_WRITE_LOCK):
            yield
        return
    settings.home.mkdir(parents=True, exist_ok=True)
    with open(settings.lock_path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait(f"waiting for another summarizer process writing to {settings.home}")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
