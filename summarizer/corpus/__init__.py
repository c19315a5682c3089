"""The corpus: what is stored and how it is found again.

In the order an article travels: ingest (identity, change detection, storing) cuts it into
chunks with offsets (chunking), embeds them (embed) and stores the article in the catalog
(catalog: its interface; backends: which implementation, SQLite in `sqlite/`) and the vectors in
Chroma (store: both kept consistent). versions says whether a new text changed in substance and
what changed; retrieve finds passages again by meaning and by words, preferring the period a
question names (when).
"""

from summarizer.corpus.backends import open_catalog
from summarizer.corpus.catalog import Catalog, Listed, Version
from summarizer.corpus.chunking import chunk_article, segment_spans
from summarizer.corpus.embed import (
    MINILM,
    canonical_name,
    make_embedder,
    minilm_available,
    minilm_model_dir,
)
from summarizer.corpus.ingest import (
    EMBED_BATCH,
    IngestReport,
    ItemResult,
    Progress,
    SilentProgress,
    article_id,
    canonical_url,
    content_hash,
    describe_article,
    ingest,
    ingest_documents,
    ingest_session,
    is_url,
    never,
)
from summarizer.corpus.retrieve import Filters, Retrieved, Retriever, matched_terms
from summarizer.corpus.store import Corpus, look_again, write_lock
from summarizer.corpus.versions import (
    OutputChange,
    VersionDiff,
    article_at,
    compare_outputs,
    diff,
    history,
    render_diff,
    report_lines,
    version_diff,
    words_changed,
)

__all__ = [
    "EMBED_BATCH",
    "MINILM",
    "Catalog",
    "Corpus",
    "Filters",
    "IngestReport",
    "ItemResult",
    "Listed",
    "OutputChange",
    "Progress",
    "Retrieved",
    "Retriever",
    "SilentProgress",
    "Version",
    "VersionDiff",
    "article_at",
    "article_id",
    "canonical_name",
    "canonical_url",
    "chunk_article",
    "compare_outputs",
    "content_hash",
    "describe_article",
    "diff",
    "history",
    "ingest",
    "ingest_documents",
    "ingest_session",
    "is_url",
    "look_again",
    "make_embedder",
    "matched_terms",
    "minilm_available",
    "minilm_model_dir",
    "never",
    "open_catalog",
    "render_diff",
    "report_lines",
    "segment_spans",
    "version_diff",
    "words_changed",
    "write_lock",
]
