"""Retrieval benchmark: quality on a labelled set built from the 498 real articles, and latency
on a store of more than 25,000 chunks. Real MiniLM embedder; no model calls.

Two labelled sets:
- sentence questions: for each article one sentence of its body (12-40 words, chosen with a fixed
  seed); the question is that sentence's content words with every third one dropped, lower-cased
  (a keyword question that shares most, not all, of its words with the answer). A hit at k: one
  of the first k chunks holds the middle of the answer sentence.
- summary questions: each article's human-written reference summary (from the data set) asks for
  its article, in other words than the article's own. A hit at k: one of the first k chunks is of
  that article.

The latency store: the 498 articles' chunks and vectors written ten times over under other ids
(no re-embedding: the index size is what latency depends on), queried in-process.

    python bench/bench_retrieval.py
"""

from __future__ import annotations

import random
import re
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import write_articles

COPIES = 10
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]")


def labelled_set(articles: list[Any], seed: int = 7) -> list[tuple[str, str, int, int]]:
    """(question, article id, sentence start, sentence end) per article that has a usable one."""
    from summarizer.retrieve import terms

    rng = random.Random(seed)
    out = []
    for a in articles:
        body_from = a.text.find("\n") + 1
        candidates = [
            m for m in _SENTENCE.finditer(a.text, body_from) if 12 <= len(m.group().split()) <= 40
        ]
        if not candidates:
            continue
        m = rng.choice(candidates)
        words = terms(m.group(), limit=100)
        question = " ".join(w for i, w in enumerate(words) if i % 3 != 2)
        out.append((question, a.id, m.start(), m.end()))
    return out


def summary_set(articles: list[Any]) -> list[tuple[str, str]]:
    """(reference summary, article id): the files are named DATASET-ID.txt by write_articles."""
    from bench.common import load_articles

    by_name = {f"{a['dataset']}-{a['id']}.txt": a["reference_summary"] for a in load_articles()}
    out = []
    for a in articles:
        summary = by_name.get(Path(a.source).name, "")
        if summary.strip():
            out.append((" ".join(summary.split()), a.id))
    return out


def hit_ranks(results: list[Any], article_id: str, start: int, end: int) -> int | None:
    middle = (start + end) // 2
    for rank, r in enumerate(results, 1):
        if r.article.id == article_id and r.chunk.start <= middle < r.chunk.end:
            return rank
    return None


def _at(ranks: list[int | None], k: int) -> float:
    return sum(1 for r in ranks if r is not None and r <= k) / max(1, len(ranks))


def copy_store(settings: Any, big: Any) -> int:
    """The store's articles and vectors written COPIES times into `big`; returns its chunk count."""
    from summarizer.chunking import chunk_article
    from summarizer.store import Corpus

    src = Corpus(settings)
    articles = src.catalog.articles()
    name = src.collection_name()
    assert name is not None
    got = src.vectors.collection(name).get(include=["embeddings"])
    vectors = dict(zip(got["ids"], got["embeddings"], strict=True))
    src.close()
    dst = Corpus(big)
    collection = dst.use_embedder("chroma:all-MiniLM-L6-v2", 384)
    total = 0
    for n in range(COPIES):
        batch, batch_vectors = [], []
        for a in articles:
            copy = a.model_copy(update={"id": f"{a.id}c{n}", "source": f"{a.source}#copy{n}"})
            chunks = chunk_article(copy.id, a.content_hash, a.text)
            originals = chunk_article(a.id, a.content_hash, a.text)
            batch.append((copy, chunks, None))
            batch_vectors += [vectors[o.id] for o in originals]
            total += len(chunks)
        dst.store(collection, batch, batch_vectors)
    dst.close()
    return total


def main() -> None:
    from summarizer import pipeline
    from summarizer.config import Settings
    from summarizer.embed import MiniLMEmbedder, minilm_available, minilm_model_dir
    from summarizer.retrieve import Retriever
    from summarizer.store import Corpus

    if not minilm_available():
        sys.exit(
            f"the MiniLM model is not in {minilm_model_dir()}: Chroma downloads it on first use"
        )
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(home=str(Path(tmp) / "home"), embedder="minilm")
        paths = write_articles(Path(tmp) / "articles")
        start = time.perf_counter()
        report = pipeline.ingest(settings, [str(p) for p in paths])
        print(
            f"ingested {len(paths)} articles in {time.perf_counter() - start:.0f} s "
            f"({report.embedded} chunks)"
        )
        embedder = MiniLMEmbedder()
        corpus = Corpus(settings)
        retriever = Retriever(corpus, embedder)
        queries = labelled_set(corpus.catalog.articles())
        summaries = summary_set(corpus.catalog.articles())
        print(f"sentence questions: {len(queries)}, summary questions: {len(summaries)}\n")
        print(f"{'mode':8} {'sentence questions':>22}   {'summary questions':>22}")
        header = f"{'hit@1':>6} {'hit@5':>6} {'hit@10':>7}"
        print(f"{'':8} {header}   {header}")
        for mode in ("dense", "lexical", "hybrid"):
            ranks = [
                hit_ranks(retriever.search(q, 10, mode=mode), aid, s, e)  # type: ignore[arg-type]
                for q, aid, s, e in queries
            ]
            article_ranks = [
                next(
                    (
                        i
                        for i, r in enumerate(retriever.search(q, 10, mode=mode), 1)  # type: ignore[arg-type]
                        if r.article.id == aid
                    ),
                    None,
                )
                for q, aid in summaries
            ]
            row = [_at(ranks, k) for k in (1, 5, 10)] + [_at(article_ranks, k) for k in (1, 5, 10)]
            name = "bm25" if mode == "lexical" else mode
            print(
                f"{name:8} {row[0]:6.3f} {row[1]:6.3f} {row[2]:7.3f}   "
                f"{row[3]:6.3f} {row[4]:6.3f} {row[5]:7.3f}"
            )
        corpus.close()

        big = replace(settings, home=Path(tmp) / "big")
        n_chunks = copy_store(settings, big)
        corpus = Corpus(big)
        retriever = Retriever(corpus, embedder)
        sample = [q for q, *_ in queries[:100]]
        retriever.search(sample[0], 8)  # warm-up: caches, first query plans
        print(f"\nlatency on {n_chunks} chunks, {len(sample)} queries, k=8, in-process:")
        for mode in ("dense", "lexical", "hybrid"):
            times = []
            for q in sample:
                t = time.perf_counter()
                retriever.search(q, 8, mode=mode)  # type: ignore[arg-type]
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            name = "bm25" if mode == "lexical" else mode
            p50, p95 = times[len(times) // 2], times[int(len(times) * 0.95)]
            print(
                f"  {name:7} mean {statistics.mean(times):6.1f} ms  p50 {p50:6.1f}"
                f"  p95 {p95:6.1f}  (target <= 50 ms)"
            )
        corpus.close()


if __name__ == "__main__":
    main()
