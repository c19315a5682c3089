"""Summaries and claims of the 498 real news articles through the stand-in Ollama server.

Prints: model calls per article and task (target 1 when the article fits), prompt tokens per
article against the article's own tokens (target <= 1.3x plus the fixed instructions), and wall
time against the model-bound lower bound N*L/P (target <= 1.15), then a second, cached run.

    python bench/bench_summarize.py                  # L = 0.2 s, P = 4
    python bench/bench_summarize.py --latency 0.1 --slots 2 --limit 100

The store is built with the hashing embedder: no embedding is on the path being measured, and the
real one would only add minutes of ingest before the figures start.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import standin, write_articles


def words(text: str) -> int:
    return len(text.split())  # the stand-in's token rule


def fixed_tokens(task: str) -> int:
    """The prompt with no article in it: the instructions every call carries."""
    from summarizer.analysis import prompts

    prompt = prompts.load(task)
    given = {"points": "5", "summary_sentences": "3", "max_claims": "15"}
    system, user = prompt.render(**{s: given.get(s, "") for s in prompt.slots})
    return words(system) + words(user)


def run_task(settings: Any, ids: list[str], task: str) -> tuple[float, list[Any], list[str]]:
    from summarizer import pipeline

    start = time.perf_counter()
    results = pipeline.analyze(settings, ids, task)
    wall = time.perf_counter() - start
    return wall, [r.output for r in results if r.output], [r.error for r in results if r.error]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()

    with standin(args.latency, args.slots) as url, tempfile.TemporaryDirectory() as tmp:
        os.environ["SUMMARIZER_HOME"] = str(Path(tmp) / "home")
        from summarizer import pipeline
        from summarizer.config import Settings

        settings = Settings.from_env(embedder="hash:256", ollama_hosts=url)
        settings = replace(settings, parallel=args.slots)
        paths = write_articles(Path(tmp) / "articles")
        if args.limit:
            paths = paths[: args.limit]
        report = pipeline.ingest(settings, [str(p) for p in paths])
        ids = [r.article_id for r in report.results if r.article_id]
        n = len(ids)
        articles = {a.id: a for a in pipeline.list_articles(settings)}
        bound = n * args.latency / args.slots
        print(f"articles {n}, stand-in latency L={args.latency} s, slots P={args.slots}")
        print(f"model-bound lower bound N*L/P = {bound:.2f} s per task\n")
        for task, name in (("summarize", "summarize"), ("claims", "claims")):
            wall, outputs, errors = run_task(settings, ids, task)
            calls = sum(o.calls for o in outputs)
            requests = sum(o.requests for o in outputs)
            extra = [o for o in outputs if o.requests > o.calls]
            fits = [o for o in outputs if o.windows == 1]
            fixed = fixed_tokens(name)
            ratios = [
                (o.prompt_tokens - fixed) / max(1, words(articles[o.article_id].text)) for o in fits
            ]
            again, cached, _ = run_task(settings, ids, task)
            cached_calls = sum(o.cached_calls for o in cached)
            print(f"[{task}]")
            print(f"  failed                        {len(errors)}")
            print(
                f"  model calls per article       {calls / n:.3f}  "
                f"(articles that fit: {len(fits)}/{n}, their calls "
                f"{sum(o.calls for o in fits) / max(1, len(fits)):.3f})"
            )
            print(
                f"  chat requests per article     {requests / n:.3f}  "
                f"({len(extra)} articles needed a second request)"
            )
            worst = max(fits, key=lambda o: ratios[fits.index(o)])
            mean = sum(ratios) / max(1, len(ratios))
            print(
                f"  prompt tokens / article's     {mean:.3f} mean, "
                f"{max(ratios, default=0):.3f} max ({worst.article_id}, "
                f"{worst.requests} requests)  (plus {fixed} fixed instruction tokens)"
            )
            print(f"  wall time                     {wall:.2f} s  (bound {bound:.2f} s)")
            print(f"  wall / bound                  {wall / bound:.3f}  (target <= 1.15)")
            print(
                f"  second run                    {again:.2f} s, "
                f"{cached_calls}/{sum(o.calls for o in cached)} calls from the cache"
            )
            verified = sum(o.counts.verified for o in outputs)
            produced = sum(o.counts.produced for o in outputs)
            print(f"  points/claims verified        {verified}/{produced}\n")
            for e in errors[:3]:
                print("  error:", " ".join(e.split())[:200])


if __name__ == "__main__":
    main()
