"""The editor's view: server time to render the article page of a 10,000-word article with 60
citations and the corpus page of a store of 25,000 chunks (in-process, through the app's
routing, as a request is served), and the report file of the same article: its size and the
time a headless Chromium takes to open it.

Run from the repository root:
    python bench/bench_web.py [--copies 12] [--runs 30]

Articles are the shared news set (498), stored --copies times each (every copy a distinct
article) with the hashing embedder, so that the store holds >= 25,000 chunks. Targets: each page
<= 50 ms (median), the report opens in under a second.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import load_articles  # noqa: E402

TARGET_MS = 50.0
WORDS = 10_000
CITATIONS = 60


def big_article(folder: Path) -> Path:
    """A 10,000-word article made of the news set's texts, one after another."""
    parts, words = [], 0
    for a in load_articles():
        parts.append(a["text"].strip())
        words += len(a["text"].split())
        if words >= WORDS:
            break
    path = folder / "big.txt"
    path.write_text("A long article of the news set\n\n" + "\n\n".join(parts) + "\n")
    return path


def outputs_for(article: object, n: int) -> tuple[object, object]:
    """A summary and claims of `article` citing `n` of its sentences, as the pipeline keeps them."""
    from summarizer.models import Citation, Claim, ClaimSet, Counts, KeyPoint, Summary, Support

    text = article.text  # type: ignore[attr-defined]
    aid = article.id  # type: ignore[attr-defined]
    spans = [m.span() for m in re.finditer(r"[A-Z][^.!?\n]{40,200}[.!?]", text)]
    step = max(1, len(spans) // n)
    chosen = spans[::step][:n]
    cites = [
        Citation(article_id=aid, chunk_id="", start=s, end=e, quote=text[s:e]) for s, e in chosen
    ]
    ok = Support(verdict="supported")
    base = {
        "article_id": aid,
        "title": article.title,  # type: ignore[attr-defined]
        "source": article.source,  # type: ignore[attr-defined]
        "content_hash": article.content_hash,  # type: ignore[attr-defined]
        "model": "bench",
        "model_digest": "",
        "prompt_id": "bench",
        "prompt_version": 1,
        "calls": 1,
        "cached_calls": 0,
        "windows": 1,
        "counts": Counts(),
    }
    half = len(cites) // 2
    points = [KeyPoint(text=c.quote, citations=[c], support=ok) for c in cites[:half]]
    claims = [
        Claim(
            statement=c.quote,
            kind="reported_fact",
            asserted_by="the article",
            hedged=False,
            citations=[c],
            support=ok,
        )
        for c in cites[half:]
    ]
    summary = Summary(
        **base, length="long", headline="Headline", summary="Summary.", key_points=points
    )
    return summary, ClaimSet(**base, claims=claims)


def median_ms(fn: object, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def figures(ms: tuple[float, float]) -> str:
    return f"median {ms[0]:.1f} ms, p95 {ms[1]:.1f} ms (target <= {TARGET_MS:g} ms)"


def open_in_browser(path: Path) -> float | None:
    """Milliseconds from navigation to the load event of the report in headless Chromium."""
    from tests.web_browser import find_browser

    found = find_browser()
    if found is None:
        return None
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = found[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(found[1]))
    try:
        took = []
        for _ in range(5):
            driver.get(path.as_uri())
            took.append(
                driver.execute_script(
                    "const t = performance.getEntriesByType('navigation')[0];"
                    "return t.loadEventEnd - t.startTime;"
                )
            )
        return float(statistics.median(took))
    finally:
        driver.quit()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--copies", type=int, default=12)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SUMMARIZER_HOME"] = str(Path(tmp) / "home")
        os.environ["ANONYMIZED_TELEMETRY"] = "False"
        from starlette.testclient import TestClient

        from summarizer import pipeline
        from summarizer.config import Settings
        from summarizer.corpus.sqlite import SqliteCatalog as Catalog
        from summarizer.web.app import create_app
        from summarizer.web.views import article_view, report_html

        settings = Settings.from_env(embedder="hash:256")
        folder = Path(tmp) / "articles"
        folder.mkdir()
        n = 0
        for copy in range(args.copies):
            for a in load_articles():
                path = folder / f"{copy}-{a['id']}.txt"
                path.write_text(f"Copy {copy} of {a['id']}\n\n{a['text']}\n[copy {copy}]\n")
                n += 1
        big = big_article(Path(tmp))
        start = time.perf_counter()
        report = pipeline.ingest(settings, [str(folder), str(big)])
        took = time.perf_counter() - start
        print(f"stored {n + 1} articles, {report.embedded:,} chunks in {took:.0f} s")
        catalog = Catalog(settings.catalog_path)
        article = next(a for a in catalog.articles() if a.source.endswith("big.txt"))
        summary, claims = outputs_for(article, CITATIONS)
        for task, o in (("summarize", summary), ("claims", claims)):
            catalog.save_output(article.id, task, article.content_hash, o.model_dump_json())  # type: ignore[attr-defined]
        words = len(article.text.split())
        catalog.close()

        app = create_app(settings, host="testserver", port=80)
        with TestClient(app, base_url="http://testserver") as client:
            assert client.get(f"/article/{article.id}").status_code == 200
            assert client.get("/").status_code == 200
            page_ms = median_ms(lambda: client.get(f"/article/{article.id}"), args.runs)
            corpus_ms = median_ms(lambda: client.get("/"), args.runs)
            client.get("/?q=sanctions+on+Russia")
            search_ms = median_ms(lambda: client.get("/?q=sanctions+on+Russia"), args.runs)
            html = client.get(f"/article/{article.id}").text
        marks = html.count('<mark class="cite"')
        view = article_view(article, summary, claims)  # type: ignore[arg-type]
        path = Path(tmp) / "report.html"
        path.write_text(report_html([view], article.title), encoding="utf-8")
        size = path.stat().st_size
        opened = open_in_browser(path)

    print(f"article page: {words:,} words, {CITATIONS} citations ({marks} marks)")
    print(f"  server time {figures(page_ms)}")
    print(f"corpus page ({n + 1} articles, {report.embedded:,} chunks), first page of 50:")
    print(f"  server time {figures(corpus_ms)}")
    print(f"  with a search (hybrid retrieval, hashing embedder): {figures(search_ms)}")
    print(f"report file of the article: {size / 1024:.0f} KiB")
    if opened is None:
        print("  (no chromium on PATH: open time not measured)")
    else:
        print(f"  opens in headless Chromium in {opened:.0f} ms, median of 5 (target < 1000 ms)")


if __name__ == "__main__":
    main()
