"""`summarizer run` over local feeds with ~500 entries, against the stand-in Ollama server.

The 498 news articles become pages on an HTTP server in this process, listed in 10 feeds (RSS
and Atom); the stand-in runs as its own process with latency L per request and P slots; the job
is the real command, `python -m summarizer run`, in a fresh data dir. Prints:
  1. wall time of the first run against the model-bound lower bound: model calls x L / P
     (entries x calls per entry x L / P; target <= 1.15);
  2. a second run, when nothing is new: model calls (target 0) and wall time (target < 2 s).

    python bench/bench_batch.py                       # L = 0.2 s, P = 4
    python bench/bench_batch.py --latency 0.1 --slots 2 --limit 200

The store uses the hashing embedder: embedding is not what is measured (bench_ingest measures
it), and the real one would take the cores the run needs to keep the model busy.
Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, load_articles, standin
from tests.feed_site import FeedSite, Item, Story, article_page, atom, rss

TARGET_RATIO = 1.15
TARGET_NOTHING_NEW = 2.0
FEEDS = 10
SUMMARY = re.compile(
    r"(?P<new>\d+) new, (?P<unchanged>\d+) unchanged, (?P<duplicates>\d+) duplicates, "
    r"(?P<done>\d+) done, (?P<failed>\d+) failed, (?P<pending>\d+) left pending; "
    r"(?P<calls>\d+) model calls \((?P<cached>\d+) cached[,)]"
)


def story(article: dict[str, str]) -> Story:
    """The article's text in paragraphs of three sentences, under a headline of its own."""
    sentences = re.split(r"(?<=[.!?])\s+", article["text"].strip())
    paragraphs = [" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3)]
    return Story(f"{article['dataset']} article {article['id'][:12]}", "\n".join(paragraphs))


def publish(site: FeedSite, limit: int) -> int:
    articles = load_articles()[: limit or None]
    per_feed: list[list[Item]] = [[] for _ in range(FEEDS)]
    for n, article in enumerate(articles):
        s = story(article)
        path = f"/news/{article['id']}"
        site.add(path, article_page(s), content_type="text/html; charset=utf-8")
        item = Item(
            s.title,
            link=site.url + path,
            guid=f"urn:bench:{article['id']}",
            description=s.paragraphs[0],
            published=1_700_000_000 + n * 60,
        )
        per_feed[n % FEEDS].append(item)
    for f, items in enumerate(per_feed):
        if f % 2:
            site.add(f"/feed{f}.atom", atom(items, title=f"Feed {f}"),
                     content_type="application/atom+xml", etag=f'"{f}"')  # fmt: skip
        else:
            site.add(f"/feed{f}.xml", rss(items, title=f"Feed {f}"), etag=f'"{f}"')
    return len(articles)


def summarizer(args: list[str], env: dict[str, str]) -> tuple[float, str, str]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "summarizer", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"summarizer {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, proc.stdout, proc.stderr


def counts(stderr: str) -> dict[str, int]:
    match = SUMMARY.search(stderr)
    if match is None:
        sys.exit(f"no closing summary in:\n{stderr[-3000:]}")
    return {k: int(v) for k, v in match.groupdict().items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--limit", type=int, default=0, help="use only the first N articles")
    args = parser.parse_args()

    missed = []
    with (
        standin(args.latency, args.slots) as url,
        FeedSite() as site,
        tempfile.TemporaryDirectory() as tmp,
    ):
        n = publish(site, args.limit)
        env = {
            **os.environ,
            "SUMMARIZER_HOME": str(Path(tmp) / "home"),
            "SUMMARIZER_EMBEDDER": "hash:256",
            "OLLAMA_HOST": url,
            "ANONYMIZED_TELEMETRY": "False",
        }
        listing = Path(tmp) / "feeds.txt"
        listing.write_text(
            "\n".join(f"{site.url}{path}" for path in site.resources if "/feed" in path)
        )
        summarizer(["feeds", "import", str(listing)], env)
        out = Path(tmp) / "out.jsonl"
        run = ["run", "--allow-private", "--parallel", str(args.slots), "--out", str(out)]
        print(f"entries {n} in {FEEDS} feeds; stand-in latency L={args.latency} s, "
              f"P={args.slots}")  # fmt: skip

        wall, _, stderr = summarizer(run, env)
        c = counts(stderr)
        done = c["done"]
        per_entry = c["calls"] / max(1, done)
        bound = c["calls"] * args.latency / args.slots
        ratio = wall / bound if bound else float("inf")
        lines = len(out.read_text(encoding="utf-8").splitlines())
        print("\n[first run]")
        print(f"  entries new / done / duplicates / failed   {c['new']} / {done} / "
              f"{c['duplicates']} / {c['failed']}")  # fmt: skip
        print(f"  JSON lines written                        {lines}")
        print(f"  model calls                               {c['calls']} "
              f"({per_entry:.3f} per entry, {c['cached']} cached)")  # fmt: skip
        print(f"  model-bound lower bound                   {bound:.2f} s "
              f"({done} x {per_entry:.2f} x {args.latency} / {args.slots})")  # fmt: skip
        print(f"  wall time (process start to exit)         {wall:.2f} s")
        print(f"  wall / bound                              {ratio:.3f}  "
              f"(target <= {TARGET_RATIO})")  # fmt: skip
        if ratio > TARGET_RATIO:
            missed.append("first run")
        for line in stderr.splitlines():
            if line.startswith("error:"):
                print("  " + line[:200])

        wall2, _, stderr2 = summarizer(run, env)
        c2 = counts(stderr2)
        print("\n[second run, nothing new]")
        not_modified = re.search(r"\((\d+) not modified", stderr2)
        print(f"  feeds not modified (304)                  "
              f"{not_modified.group(1) if not_modified else '?'} of {FEEDS}")  # fmt: skip
        print(f"  model calls                               {c2['calls']}  (target 0)")
        print(f"  wall time (process start to exit)         {wall2:.2f} s  "
              f"(target < {TARGET_NOTHING_NEW:g} s)")  # fmt: skip
        if c2["calls"] or wall2 >= TARGET_NOTHING_NEW:
            missed.append("second run")
    if missed:
        print(f"\nmissed: {', '.join(missed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
