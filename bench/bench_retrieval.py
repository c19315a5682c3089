"""Retrieval benchmark: hit@1/5/10 of each method on three labelled sets built from the 498 real
articles, the period preference on dated copies, and latency on a store of more than 25,000
chunks. Real MiniLM embedder; no model calls.

    python bench/bench_retrieval.py [--store DIR] [--sweep] [--rerank N]
        [--database-url URL --chroma-url URL]

--store DIR keeps the ingested store in DIR (and reuses it when it is there). --database-url
keeps the catalogs in that PostgreSQL database instead (the large store's in its schema
`bench_big`, made when missing), and --chroma-url, which it needs, the vectors on that Chroma
server (`chroma run --path DIR --host 127.0.0.1 --port PORT`); run it with and without to
compare the two catalogs' BM25 and its latency. --sweep also prints
hit@k for a grid of fusion settings (how the defaults in summarizer/retrieve.py were chosen).
--rerank N also puts the fused first 10 of the first N written questions to the model
(`--rerank`: the Ollama server of OLLAMA_HOST, the model of SUMMARIZER_MODEL, no reply cache) and
prints hit@k of its order beside the fused one, and the model call's time.

The articles are stored as text files whose first line is the headline their URL holds (the Daily
Mail's and CNN's; the BBC's URLs hold none, so those are titled by data set and id).

Labelled sets:
- questions (bench/retrieval_questions.jsonl): 186 questions, each about a fact of one article,
  written the way a reader asks, in other words than the article's: each was checked in code to
  share no run of three words with the sentence that holds its answer, and at most half of its
  content words (see README "Benchmarks"). Each line is the article id, the question and the
  answer's character span in the article's text in the data set. A hit at k: one of the first k
  chunks holds the middle of the answer.
- sentences: for each article one sentence of its body (12-40 words, seeded by the article's
  file name, so the same in every store); the question is
  that sentence's content words with every third one dropped, lower-cased (a keyword question).
  A hit at k: one of the first k chunks holds the middle of the sentence.
- summaries: each article's human-written reference summary (from the data set) asks for its
  article. A hit at k: one of the first k chunks is of that article.

The large store: the articles' chunks and vectors written thirteen times over under other ids
(no re-embedding: the index size is what latency depends on); the last copy written is dated 3
days before today, each one before it a year earlier. The period set: each question with "this
week" added, against that store; a hit at k: one of the first k chunks holds the answer in the
newest copy (a chance of one in thirteen for a retrieval that ignores dates).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, load_articles, write_articles

COPIES = 13
QUESTIONS = ROOT / "bench" / "retrieval_questions.jsonl"
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]")
KS = (1, 5, 10)


@dataclass(frozen=True)
class Case:
    """One labelled question: a hit is a chunk of `article_id` holding offset `point` (or any
    chunk of the article when `point` is None)."""

    question: str
    article_id: str
    point: int | None


def question_set(articles: list[Any]) -> list[Case]:
    """The written questions, their answers' spans mapped into the stored texts."""
    by_source = {Path(a.source).stem.split("-", 1)[1]: a for a in articles}
    texts = {a["id"]: a["text"] for a in load_articles()}
    out = []
    for line in QUESTIONS.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        q = json.loads(line)
        stored = by_source[q["id"]]
        answer = texts[q["id"]][q["start"] : q["end"]]
        at = stored.text.find(answer)
        if at < 0:
            sys.exit(f"answer of {q['id']} not in its stored text")
        out.append(Case(q["question"], stored.id, at + len(answer) // 2))
    return out


def sentence_set(articles: list[Any], seed: int = 7) -> list[Case]:
    from summarizer.corpus.retrieve import terms

    out = []
    for a in articles:
        rng = random.Random(f"{seed}:{Path(a.source).name}")  # the same sentence in any store
        body_from = a.text.find("\n") + 1
        candidates = [
            m for m in _SENTENCE.finditer(a.text, body_from) if 12 <= len(m.group().split()) <= 40
        ]
        if not candidates:
            continue
        m = rng.choice(candidates)
        words = terms(m.group(), limit=100)
        question = " ".join(w for i, w in enumerate(words) if i % 3 != 2)
        out.append(Case(question, a.id, (m.start() + m.end()) // 2))
    return out


def summary_set(articles: list[Any]) -> list[Case]:
    by_name = {f"{a['dataset']}-{a['id']}.txt": a["reference_summary"] for a in load_articles()}
    out = []
    for a in articles:
        summary = by_name.get(Path(a.source).name, "")
        if summary.strip():
            out.append(Case(" ".join(summary.split()), a.id, None))
    return out


def rank_of(hits: list[Any], case: Case) -> int | None:
    for rank, r in enumerate(hits, 1):
        if r.article_id == case.article_id and (
            case.point is None or r.start <= case.point < r.end
        ):
            return rank
    return None


def at_k(ranks: list[int | None], k: int) -> float:
    return sum(1 for r in ranks if r is not None and r <= k) / max(1, len(ranks))


@dataclass
class Hit:
    article_id: str
    start: int
    end: int


class Evaluator:
    """Each case's candidates fetched once (the deepest pool any method asks for), then fused
    for each method: the fusion is the same pure function the Retriever calls."""

    def __init__(self, retriever: Any, cases: list[Case], pool: int = 200) -> None:
        self.retriever = retriever
        self.cases = cases
        self.found = [retriever.candidates(c.question, pool, dated=False) for c in cases]
        ids = {cid for f in self.found for cid, _, _ in f.dense + f.lexical}
        self.spans = retriever.corpus.catalog.chunk_spans(list(ids))
        self.texts = retriever.corpus.catalog.chunk_texts(list(ids))
        # Lexical rankings by title weight: the one stored by default, the others on demand.
        self.lexical: dict[float, list[Any]] = {}

    def lexical_for(self, title_weight: float, pool: int = 200) -> list[Any]:
        from summarizer.corpus.retrieve import FUSION

        if title_weight == FUSION.title_weight:
            return [f.lexical for f in self.found]
        if title_weight not in self.lexical:
            from summarizer.corpus.retrieve import terms

            catalog = self.retriever.corpus.catalog
            self.lexical[title_weight] = [
                catalog.lexical(terms(case.question), pool, None, title_weight=title_weight)
                for case in self.cases
            ]  # fmt: skip
            for ranking in self.lexical[title_weight]:
                missing = [c for c, _, _ in ranking if c not in self.spans]
                self.spans.update(catalog.chunk_spans(missing))
                self.texts.update(catalog.chunk_texts(missing))
        return self.lexical[title_weight]

    def ranks(self, fusion: Any, mode: str = "hybrid") -> list[int | None]:
        from summarizer.corpus.retrieve import Candidates, fuse

        out = []
        lexical = self.lexical_for(fusion.title_weight)
        for case, found, lex in zip(self.cases, self.found, lexical, strict=True):
            cands = Candidates(
                found.dense if mode != "lexical" else [],
                lex if mode != "dense" else [],
                {},
                found.terms,
                self.texts,
            )
            picked = fuse(cands, 10, fusion)
            hits = [Hit(*self._span(f.chunk_id)) for f in picked]
            out.append(rank_of(hits, case))
        return out

    def _span(self, chunk_id: str) -> tuple[str, int, int]:
        article_id, _, start, end = self.spans[chunk_id]
        return article_id, start, end


def methods() -> dict[str, tuple[str, Any]]:
    from summarizer.corpus.retrieve import FUSION, Fusion

    # The fusion before this benchmark: reciprocal rank, 60 candidates, no titles indexed.
    before = Fusion(method="rrf", pool=60, title_weight=0.0, period=0.0)
    return {
        "dense (search before)": ("dense", replace(FUSION, per_article=10)),
        "lexical (bm25)": ("lexical", replace(FUSION, per_article=10)),
        "rrf before (ask before)": ("hybrid", before),
        "rrf, new pool and titles": ("hybrid", replace(FUSION, method="rrf")),
        "z, no verbatim rule": ("hybrid", replace(FUSION, verbatim=0.0)),
        f"fused now ({FUSION.method})": ("hybrid", FUSION),
    }


def table(title: str, evaluators: dict[str, Evaluator], rows: dict[str, tuple[str, Any]]) -> None:
    print(f"\n{title}")
    header = "".join(f"{name + f' ({len(e.cases)})':>26}" for name, e in evaluators.items())
    print(f"{'':28}{header}")
    print(f"{'':28}" + "".join(f"{'@1':>10}{'@5':>8}{'@10':>8}" for _ in evaluators))
    for name, (mode, fusion) in rows.items():
        cells = ""
        for e in evaluators.values():
            ranks = e.ranks(fusion, mode)
            cells += "".join(
                f"{at_k(ranks, k):{w}.3f}" for k, w in zip(KS, (10, 8, 8), strict=True)
            )
        print(f"{name:28}{cells}")


def sweep(evaluators: dict[str, Evaluator]) -> None:
    from summarizer.corpus.retrieve import FUSION

    grid: dict[str, tuple[float, ...]] = {
        "lexical": (0.4, 0.6, 0.8, 1.0, 1.2, 1.5),
        "pool": (30, 60, 100, 200),
        "per_article": (1, 2, 3, 4, 10),
        "rrf_k": (10, 30, 60, 100),
        "title_weight": (0.0, 0.25, 0.5, 1.0),
        "verbatim": (0.0, 2.0, 3.0, 4.0, 6.0),
        "verbatim_share": (0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 1.0),
    }
    for field, values in grid.items():
        rows = {f"{field}={v}": ("hybrid", replace(FUSION, **{field: v})) for v in values}
        table(f"sweep: {field}", evaluators, rows)


def rerank_table(retriever: Any, cases: list[Case], settings: Any) -> None:
    """hit@k of the fused first 10 and of the model's order of them, on `cases`."""
    from summarizer.analysis.asking import rerank
    from summarizer.analysis.windows import CallLog
    from summarizer.errors import SummarizerError, one_line
    from summarizer.llm import Ollama

    fused: list[int | None] = []
    reranked: list[int | None] = []
    seconds: list[float] = []
    outcomes = {"reordered": 0, "left in order": 0, "fused order kept, with a warning": 0}
    reasons: Counter[str] = Counter()
    with Ollama(replace(settings, use_cache=False)) as llm:
        print(f"\nrerank: {llm.settings.model}, the fused first 10 of {len(cases)} questions")
        try:
            llm.model_digest(llm.settings.model)  # a missing model or server: one line, no run
        except SummarizerError as e:
            sys.exit(f"rerank: {e}")
        for case in cases:
            shortlist = retriever.search(case.question, 10)
            calls = CallLog()
            started = time.perf_counter()
            ordered = rerank(llm, case.question, shortlist, calls)
            seconds.append(time.perf_counter() - started)
            kept = [w for w in calls.warnings or [] if w.startswith("reranking:")]
            reasons.update(w.split(";")[0].removeprefix("reranking: ") for w in kept)
            if [r.chunk.id for r in ordered] != [r.chunk.id for r in shortlist]:
                outcomes["reordered"] += 1
            else:
                outcomes["fused order kept, with a warning" if kept else "left in order"] += 1
            for ranks, found in ((fused, shortlist), (reranked, ordered)):
                hits = [Hit(r.article.id, r.chunk.start, r.chunk.end) for r in found]
                ranks.append(rank_of(hits, case))
    for name, ranks in (("fused", fused), ("reranked", reranked)):
        print(f"  {name:10} " + "  ".join(f"@{k} {at_k(ranks, k):.3f}" for k in KS))
    print("  " + ", ".join(f"{n} {what}" for what, n in outcomes.items()))
    for reason, n in reasons.most_common(3):
        print(f"    {n} x {one_line(reason, 100)}")
    seconds.sort()
    p95 = seconds[int(len(seconds) * 0.95)]
    print(f"  the model call: mean {statistics.mean(seconds):.1f} s  p95 {p95:.1f} s")


def copy_store(settings: Any, big: Any, today: date) -> int:
    """The store's articles and vectors written COPIES times into `big`, the last one dated 3
    days before `today`, each one before it a year earlier; returns its chunk count."""
    from summarizer.corpus.chunking import chunk_article
    from summarizer.corpus.store import Corpus

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
        day = (today - timedelta(days=365 * (COPIES - 1 - n) + 3)).isoformat()
        batch, batch_vectors = [], []
        for a in articles:
            update = {"id": f"{a.id}c{n}", "source": f"{a.source}#copy{n}", "date": day}
            copy = a.model_copy(update=update)
            chunks = chunk_article(copy.id, a.content_hash, a.text)
            originals = chunk_article(a.id, a.content_hash, a.text)
            batch.append((copy, chunks, None))
            batch_vectors += [vectors[o.id] for o in originals]
            total += len(chunks)
        dst.store(collection, batch, batch_vectors)
    dst.close()
    return total


def period_hits(retriever: Any, cases: list[Case], fusion: Any, today: date) -> list[int | None]:
    out = []
    for case in cases:
        question = case.question.rstrip("?") + " this week?"
        hits = [
            Hit(r.article.id, r.chunk.start, r.chunk.end)
            for r in retriever.search(question, 10, fusion=fusion, today=today)
        ]
        out.append(rank_of(hits, replace(case, article_id=f"{case.article_id}c{COPIES - 1}")))
    return out


def latency(run: Callable[[str], object], sample: list[str]) -> tuple[float, float]:
    times = []
    for q in sample:
        t = time.perf_counter()
        run(q)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.mean(times), times[int(len(times) * 0.95)]


def build(settings: Any) -> None:
    from summarizer import pipeline

    with tempfile.TemporaryDirectory() as tmp:
        paths = write_articles(Path(tmp) / "articles", headlines=True)
        start = time.perf_counter()
        report = pipeline.ingest(settings, [str(p) for p in paths])
    print(
        f"ingested {len(paths)} articles in {time.perf_counter() - start:.0f} s "
        f"({report.embedded} chunks)"
    )


BIG_SCHEMA = "bench_big"


def big_database(url: str) -> str:
    """The URL of the large store's catalog: the same database, its own schema (made here)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {BIG_SCHEMA}")
    joined = "&" if "?" in url else "?"
    return f"{url}{joined}options=-csearch_path%3D{BIG_SCHEMA}"


def is_built(settings: Any) -> bool:
    """Whether the store of `settings` holds articles (its catalog file, or its database's)."""
    if not settings.database_url:
        return bool(settings.catalog_path.exists())
    from summarizer.corpus import open_catalog

    catalog = open_catalog(settings)
    try:
        return catalog.count() > 0
    finally:
        catalog.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, help="keep (and reuse) the ingested store here")
    parser.add_argument("--sweep", action="store_true", help="also print a grid of settings")
    parser.add_argument(
        "--rerank", type=int, metavar="N", help="also rerank N questions' shortlists by the model"
    )
    parser.add_argument(
        "--database-url", metavar="URL", help="the catalogs in PostgreSQL (needs --chroma-url)"
    )
    parser.add_argument("--chroma-url", metavar="URL", help="the vectors on this Chroma server")
    args = parser.parse_args()
    if args.database_url and not args.chroma_url:
        parser.error("--database-url needs --chroma-url: the vectors of a shared catalog")

    from summarizer.config import Settings
    from summarizer.corpus.embed import MiniLMEmbedder, minilm_available, minilm_model_dir
    from summarizer.corpus.retrieve import FUSION, Retriever
    from summarizer.corpus.store import Corpus

    if not minilm_available():
        sys.exit(
            f"the MiniLM model is not in {minilm_model_dir()}: Chroma downloads it on first use"
        )
    with tempfile.TemporaryDirectory() as tmp:
        where = args.store or Path(tmp)
        settings = Settings.from_env(
            home=str(where / "home"),
            embedder="minilm",
            database_url=args.database_url,
            chroma_url=args.chroma_url,
        )
        backend = "PostgreSQL" if settings.database_url else "SQLite"
        print(f"catalog: {backend}")
        if not is_built(settings):
            build(settings)
        embedder = MiniLMEmbedder()
        corpus = Corpus(settings)
        retriever = Retriever(corpus, embedder)
        articles = corpus.catalog.articles()
        sets = {
            "questions": question_set(articles),
            "sentences": sentence_set(articles),
            "summaries": summary_set(articles),
        }
        evaluators = {name: Evaluator(retriever, cases) for name, cases in sets.items()}
        table("hit@k (a retrieved chunk holds the answer)", evaluators, methods())
        if args.sweep:
            sweep(evaluators)
        if args.rerank:
            rerank_table(retriever, sets["questions"][: args.rerank], settings)
        corpus.close()

        today = date.today()
        big = replace(settings, home=where / "big")
        if settings.database_url:
            big = replace(big, database_url=big_database(settings.database_url))
        if not is_built(big):
            copy_store(settings, big, today)
        corpus = Corpus(big)
        retriever = Retriever(corpus, embedder)
        n_chunks = corpus.catalog.chunk_count()
        print(f"\nperiod preference: {len(sets['questions'])} questions + 'this week'")
        print(f"on {COPIES} dated copies of each article ({n_chunks} chunks); hit = newest copy")
        for name, fusion in (("without", replace(FUSION, period=0.0)), ("with", FUSION)):
            ranks = period_hits(retriever, sets["questions"], fusion, today)
            cells = "  ".join(f"@{k} {at_k(ranks, k):.3f}" for k in KS)
            print(f"  {name:8} the period ranking: {cells}")

        sample = [c.question for c in sets["questions"][:100]]
        retriever.search(sample[0], 8)  # warm-up: caches, first query plans
        print(f"\nlatency on {n_chunks} chunks, {len(sample)} written questions, k=8, in-process:")
        catalog = corpus.catalog
        from summarizer.corpus.retrieve import terms

        runs: dict[str, Callable[[str], object]] = {
            "query embedding": lambda q: embedder.embed([q]),
            f"lexical ({backend}) query": lambda q: catalog.lexical(terms(q), FUSION.pool),
            "dense": lambda q: retriever.search(q, 8, mode="dense"),
            "lexical": lambda q: retriever.search(q, 8, mode="lexical"),
            "fused": lambda q: retriever.search(q, 8),
        }
        for name, run in runs.items():
            mean, p95 = latency(run, sample)
            print(f"  {name:22} mean {mean:6.1f} ms  p95 {p95:6.1f} ms")
        long = [c.question for c in sets["summaries"][:100]]
        mean, p95 = latency(runs["fused"], long)
        words = statistics.mean(len(q.split()) for q in long)
        print(
            f"  {'fused, long queries':22} mean {mean:6.1f} ms  p95 {p95:6.1f} ms"
            f"  ({len(long)} reference summaries as queries, {words:.0f} words on average)"
        )
        keywords = [c.question for c in sets["sentences"][:100]]
        mean, p95 = latency(runs["fused"], keywords)
        print(
            f"  {'fused, keyword queries':22} mean {mean:6.1f} ms  p95 {p95:6.1f} ms"
            f"  ({len(keywords)} of the keyword sentences: the verbatim rule applies)"
        )
        print("  target: fused <= 50 ms mean")
        corpus.close()


if __name__ == "__main__":
    main()
