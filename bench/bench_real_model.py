"""The real small model against the scripted stand-in: what is shown of each article, and what the
model layer makes of the replies.

Run from the repository root:
    python bench/bench_real_model.py [--articles N] [--questions N] [--standin-only]
                                     [--before REV] [--prefix-only]

On the five sample articles and N (default 20) articles of `news/articles.jsonl` of the shared
evaluation data (the first with 1,500-4,000 characters), `summarize` and `claims` per article, and
`ask` for 10 questions written about the sample corpus; once on the real model (SmolLM2-135M
behind the Ollama protocol, as the tests' real tier runs it) and once on the stand-in. Printed:

1. per task, the share of articles (questions) showing at least one supported statement, and of
   the supported statements shown, how many are the model's words and how many the article's own
   sentence; every citation asserted an exact slice of the stored text;
2. per task, the model layer: replies parsed on the first try, after the repair, never; loops
   stopped; citations found; statements shown (supported); outcomes; wall time and output tokens
   per article; wall time against one clean generation of the final replies;
3. ROUGE-1/2/L F1 against the reference summaries of the N news articles: the key points shown
   (real model and stand-in) beside the article's first three sentences (lead-3);
4. with the real model, prompt tokens the server evaluated, model calls and wall time per article
   for summarize + claims with their support checks, on this tree and on REV's (before the shared
   prompt prefix; default 84209d6), each in its own process (`--prefix-only`: this part alone).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import load_articles  # noqa: E402
from summarizer import pipeline  # noqa: E402
from summarizer.config import Settings  # noqa: E402
from summarizer.errors import DegenerateReply, InvalidReply, LLMError  # noqa: E402
from summarizer.llm.stream import Activity, watching  # noqa: E402

QUESTIONS = [
    "Which exchanges refused to freeze the accounts of Russian users?",
    "What did Japan ask its crypto exchanges to do about Russia?",
    "Is Chinese crypto mining equipment reaching Russia?",
    "Why did Binance say it would not freeze Russian accounts?",
    "Who asked crypto exchanges to block Russian users?",
    "What sanctions were placed on Russia after the invasion of Ukraine?",
    "Can cryptocurrency be used to evade sanctions on Russia?",
    "What did Coinbase say about sanctioned Russian users?",
    "Which miners have ties with Russia?",
    "What did the Ukrainian Vice Prime Minister ask for?",
]


@dataclass
class Call:
    task: str
    result: str  # "first", "repaired", "never" (schema), "loop" (degenerate twice), "error"
    degenerate: int = 0
    looped_to_limit: bool = False
    output_tokens: int = 0
    last_request: float = 0.0


@dataclass
class Tally:
    calls: list[Call] = field(default_factory=list)
    # What is shown of each article (question): with at least one supported statement; the
    # supported statements in the model's words and as the article's own sentence.
    items: int = 0
    with_supported: int = 0
    model_words: int = 0
    article_words: int = 0
    citations: int = 0
    shown_text: dict[str, str] = field(default_factory=dict)  # file name -> key points shown
    walls: list[float] = field(default_factory=list)
    clean: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    quotes: int = 0
    verified: int = 0
    shown: int = 0
    supported: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    failed: int = 0


class Tracer:
    """Wraps `llm.structured` to see each call's fate and its requests' times."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.calls: list[Call] = []
        self._requests: list[Activity] = []
        self.task = ""
        original = llm.structured

        def traced(*args: Any, **kwargs: Any) -> Any:
            before = len(self._requests)
            call = Call(self.task, "first")
            self.calls.append(call)
            try:
                out = original(*args, **kwargs)
            except DegenerateReply as e:
                call.result, call.degenerate = "loop", 2
                call.looped_to_limit = "saying the same things" in e.message
                raise
            except InvalidReply:
                call.result = "never"
                raise
            except LLMError:
                call.result = "error"
                raise
            finally:
                mine = self._requests[before:]
                call.last_request = mine[-1].elapsed if mine else 0.0
                call.output_tokens = sum(a.tokens for a in mine)
            record = out.record
            call.degenerate = record.degenerate
            call.looped_to_limit = any("saying the same things" in w for w in record.warnings)
            if any(w.startswith("reply rejected") for w in record.warnings):
                call.result = "repaired"
            return out

        llm.structured = traced

    def seen(self, activity: Activity) -> None:
        if activity.done:
            self._requests.append(activity)


@contextmanager
def model_server(real: bool) -> Iterator[str]:
    if real:
        from tests.real_model import served, unavailable

        why = unavailable()
        if why:
            sys.exit(f"the real model is not available: {why}")
        with served() as url:
            yield url
    else:
        from tests.standin_ollama import StandinOllama

        with StandinOllama() as server:
            yield server.url


def _articles(n: int, folder: Path) -> tuple[list[Path], dict[str, str]]:
    """The sample articles and `n` news articles written to `folder`; the reference summary of
    each news article, by file name."""
    paths = sorted((ROOT / "corpus").glob("*.txt"))
    chosen = [a for a in load_articles() if 1500 <= len(a["text"]) <= 4000][:n]
    references = {}
    for a in chosen:
        path = folder / f"{a['dataset']}-{a['id'][:12]}.txt"
        path.write_text(f"{a['dataset']} article {a['id'][:12]}\n\n{a['text']}\n", encoding="utf-8")
        paths.append(path)
        references[path.name] = a["reference_summary"]
    return paths, references


def run(real: bool, paths: list[Path], n_questions: int) -> tuple[dict[str, Tally], str]:
    from summarizer.analysis.asking import ask
    from summarizer.analysis.claims import extract_claims
    from summarizer.analysis.summarize import summarize
    from summarizer.analysis.windows import num_predict
    from summarizer.corpus.embed import minilm_available
    from summarizer.llm import Ollama

    tallies: dict[str, Tally] = defaultdict(Tally)
    with tempfile.TemporaryDirectory() as tmp, model_server(real) as url:
        model = "smollm2:135m" if real else "llama3.2"
        embedder = "default" if minilm_available() else "hash:256"
        settings = replace(
            Settings.from_env(), home=Path(tmp) / "data", ollama_hosts=[url], model=model,
            embedder=embedder, use_cache=False, read_timeout=600.0,
        )  # fmt: skip
        report = pipeline.ingest(settings, [str(p) for p in paths])
        if report.failed:
            sys.exit(f"ingest failed: {[r.reason for r in report.results if r.reason]}")
        with pipeline.open_corpus(settings) as corpus, Ollama(settings) as llm:
            tracer = Tracer(llm)
            articles = corpus.catalog.articles()
            texts = {a.id: a.text for a in articles}
            jobs: list[tuple[str, Callable[[], Any]]] = []
            for a in articles:
                chunks = corpus.catalog.chunks(a)
                jobs.append(("summarize", lambda a=a, c=chunks: summarize(llm, a, c)))
                jobs.append(("claims", lambda a=a, c=chunks: extract_claims(llm, a, c)))
            retriever = pipeline.open_retriever(settings, corpus)
            for q in QUESTIONS[:n_questions]:
                jobs.append(("ask", lambda q=q: ask(llm, retriever, q)))
            with watching(tracer.seen):
                for i, (task, job) in enumerate(jobs, 1):
                    tally = tallies[task]
                    tracer.task = task
                    before = len(tracer.calls)
                    started = time.perf_counter()
                    try:
                        output = job()
                    except LLMError as e:
                        output = None
                        tally.failed += 1
                        tally.outcomes["failed: " + type(e).__name__] += 1
                    wall = time.perf_counter() - started
                    mine = tracer.calls[before:]
                    tally.calls += mine
                    tally.walls.append(wall)
                    tally.clean.append(sum(c.last_request for c in mine))
                    tally.tokens.append(sum(c.output_tokens for c in mine))
                    if output is not None:
                        _count(tally, task, output, texts)
                    print(f"  [{'real' if real else 'stand-in'} {i}/{len(jobs)}] {task}: "
                          f"{wall:.1f} s", file=sys.stderr, flush=True)  # fmt: skip
            retriever.close()
            stats, limit = llm.stats, num_predict(llm)
    stopped = stats.degenerate_replies
    at = stats.degenerate_tokens / stopped if stopped else 0.0
    loops = (
        f"Loops: {stopped} replies stopped as loops, at {at:.0f} output tokens on average "
        f"against num_predict {limit}: {stopped * limit - stats.degenerate_tokens:,} tokens not "
        f"generated; {stats.chat_calls} chat requests, {stats.output_tokens:,} output tokens."
    )
    return tallies, loops


def _count(tally: Tally, task: str, output: Any, texts: dict[str, str]) -> None:
    counts = output.counts
    tally.quotes += counts.quotes_produced
    tally.verified += counts.quotes_verified
    items = {"summarize": "key_points", "claims": "claims", "ask": "points"}[task]
    shown = getattr(output, items)
    tally.shown += len(shown)
    supported = [s for s in shown if s.support and s.support.verdict == "supported"]
    tally.supported += len(supported)
    tally.outcomes[output.outcome] += 1
    tally.items += 1
    tally.with_supported += bool(supported)
    article = [s for s in supported if getattr(s, "statement_source", "model") == "article"]
    tally.article_words += len(article)
    tally.model_words += len(supported) - len(article)
    for s in shown:  # every citation shown is the stored text's own words at its offsets
        for c in s.citations:
            tally.citations += 1
            assert texts[c.article_id][c.start : c.end] == c.quote, (task, c)
    if task == "summarize":
        tally.shown_text[output.source.rsplit("/", 1)[-1]] = " ".join(p.text for p in shown)


def _share(n: int, total: int) -> str:
    return f"{n / total:.0%}" if total else "-"


def report(name: str, result: tuple[dict[str, Tally], str]) -> None:
    tallies, loops = result
    print(f"\n## {name}\n")
    print("| task | calls | parsed 1st | after repair | never | loop stops | looped twice | "
          "ran to num_predict in a loop | quotes verified | shown (supported) | outcomes | "
          "wall/article median (max) | output tokens/article | wall / clean |")  # fmt: skip
    print("|" + "---|" * 14)
    for task in ("summarize", "claims", "ask"):
        t = tallies.get(task)
        if t is None:
            continue
        results = Counter(c.result for c in t.calls)
        n = len(t.calls)
        stops = sum(c.degenerate for c in t.calls)
        to_limit = sum(c.looped_to_limit for c in t.calls)
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(t.outcomes.items()))
        ratio = [w / c for w, c in zip(t.walls, t.clean, strict=True) if c > 0]
        print(
            f"| {task} | {n} | {_share(results['first'], n)} | {_share(results['repaired'], n)} "
            f"| {_share(results['never'], n)} | {stops} | {results['loop']} | {to_limit} | "
            f"{t.verified}/{t.quotes} | {t.shown} ({t.supported}) | {outcomes} | "
            f"{statistics.median(t.walls):.2f} s ({max(t.walls):.2f} s) | "
            f"{statistics.median(t.tokens):.0f} | "
            f"{statistics.median(ratio):.2f}x median, {max(ratio):.2f}x max |"
            if ratio
            else f"| {task} | {n} | - |"
        )
    print(f"\n{loops}")


def shown(name: str, tallies: dict[str, Tally]) -> None:
    print(f"\n## What is shown: {name}\n")
    print("| task | articles (questions) | with a supported statement | supported statements: "
          "model's words / article's sentence | citations (all exact) |")  # fmt: skip
    print("|---|---|---|---|---|")
    for task in ("summarize", "claims", "ask"):
        t = tallies.get(task)
        if t is None:
            continue
        n = len(t.walls)
        print(f"| {task} | {n} | {t.with_supported} ({_share(t.with_supported, n)}) | "
              f"{t.model_words} / {t.article_words} | {t.citations} |")  # fmt: skip


def rouge(references: dict[str, str], texts: dict[str, str], runs: dict[str, Tally]) -> None:
    """ROUGE-1/2/L F1 of what each run shows as key points, and of lead-3, against the
    reference summaries."""
    from rouge_score import rouge_scorer

    from summarizer.words import sentence_spans

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    candidates: dict[str, dict[str, str]] = {
        "lead-3": {
            name: " ".join(text[a:b] for a, b in sentence_spans(text)[:3])
            for name, text in texts.items()
        }
    }
    for label, tally in runs.items():
        candidates[label] = tally.shown_text
    print(f"\n## Key points against the reference summaries ({len(references)} news articles)\n")
    print("| shown | ROUGE-1 F1 | ROUGE-2 F1 | ROUGE-L F1 | articles with nothing shown |")
    print("|---|---|---|---|---|")
    for label, shown_of in candidates.items():
        scores: dict[str, list[float]] = defaultdict(list)
        empty = 0
        for name, reference in references.items():
            text = shown_of.get(name, "")
            empty += not text.strip()
            for key, score in scorer.score(reference, text).items():
                scores[key].append(score.fmeasure)
        means = " | ".join(f"{statistics.fmean(scores[k]):.3f}" for k in ("rouge1", "rouge2",
                                                                          "rougeL"))  # fmt: skip
        print(f"| {label} | {means} | {empty} |")


def prefix(before: str, paths: list[Path]) -> None:
    """Prompt tokens evaluated, calls and wall per article for summarize + claims (each with its
    support check), on REV's tree and on this one, on the real model."""
    import json
    import subprocess

    from tests.real_model import MODEL, served

    print(f"\n## One prompt prefix per article: before ({before}) and now, on the real model\n")
    rows: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "before"
        old.mkdir()
        archive = subprocess.run(["git", "archive", before], cwd=ROOT, capture_output=True,
                                 check=True).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        for label, tree in (("before", old), ("now", ROOT)):
            out = Path(tmp) / f"{label}.json"
            with served() as url:  # a fresh server: no cache from the other tree's run
                subprocess.run(
                    [sys.executable, str(ROOT / "bench" / "prompt_tokens.py"), str(tree), url,
                     MODEL, str(out), *map(str, paths)],
                    check=True,
                )  # fmt: skip
            rows[label] = json.loads(out.read_text(encoding="utf-8"))
    print("| tree | prompt tokens evaluated / article: median (sum) | model calls | "
          "wall / article: median | replies stopped as loops |")  # fmt: skip
    print("|---|---|---|---|---|")
    for label, found in rows.items():
        tokens = [r["prompt_tokens"] for r in found]
        print(f"| {label} | {statistics.median(tokens):.0f} ({sum(tokens):,}) | "
              f"{sum(r['calls'] for r in found)} | "
              f"{statistics.median(r['wall'] for r in found):.1f} s | "
              f"{sum(r['loops'] for r in found)} |")  # fmt: skip
    now = sum(r["prompt_tokens"] for r in rows["now"])
    then = sum(r["prompt_tokens"] for r in rows["before"])
    walls = [n["wall"] / b["wall"] for n, b in zip(rows["now"], rows["before"], strict=True)]
    print(
        f"\nprompt tokens evaluated, now / before: {now / then:.2f}x (target <= 0.5x); "
        f"wall per article, now / before: {statistics.median(walls):.2f}x median"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--articles", type=int, default=20, help="eval articles beside the 5 samples")
    ap.add_argument("--questions", type=int, default=10)
    ap.add_argument("--standin-only", action="store_true", help="skip the real model")
    ap.add_argument("--before", default=BEFORE, metavar="REV",
                    help="the revision before the shared prompt prefix")  # fmt: skip
    ap.add_argument("--prefix-only", action="store_true",
                    help="only the prompt tokens before and now (part 4)")  # fmt: skip
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths, references = _articles(args.articles, Path(tmp))
        if args.prefix_only:
            print(f"# Real model: {len(paths)} articles")
            prefix(args.before, paths)
            return
        print(f"# Real model vs stand-in: {len(paths)} articles, {args.questions} questions")
        texts = {p.name: p.read_text(encoding="utf-8").split("\n", 2)[2] for p in paths
                 if p.name in references}  # fmt: skip
        runs = {"stand-in (scripted)": run(False, paths, args.questions)}
        if not args.standin_only:
            runs["real model (SmolLM2-135M on llama.cpp)"] = run(True, paths, args.questions)
        for name, result in runs.items():
            shown(name, result[0])
        for name, result in runs.items():
            report(name, result)
        rouge(references, texts, {name: result[0]["summarize"] for name, result in runs.items()})
        if not args.standin_only:
            prefix(args.before, paths)


# The last revision before one prompt prefix per article.
BEFORE = "84209d6"


if __name__ == "__main__":
    main()
