"""A fleet of `summarizer run` workers on one PostgreSQL database, a Chroma server and 4 stand-in
Ollama hosts, over real news articles (the evaluation set's pages, served by an HTTP server in
this process, in 8 RSS feeds). Prints:
  1. throughput (articles per minute) with 1, 2 and 4 worker processes, each with its own data
     dir and `--parallel 1` (one request per host at a time: 4 model slots a worker), against
     the model-bound ideal (model calls x L / (workers x 4)); and the scaling efficiency
     T1 / (P x TP) on the wall time, process start to the last exit (target >= 0.9 at 4), and
     on the steady rate, lines written per second from the first line to the last (what a
     fleet that runs for hours sees: without a run's start-up and its last articles' calls);
  2. one worker on PostgreSQL against one on SQLite (the embedded default), same work:
     wall-time ratio (target <= 1.2);
  3. recovery: two workers, one killed with SIGKILL; the time from the kill until the entries it
     held are done by the other (the lease's length + the work).

    python bench/bench_scaleout.py                    # 320 articles, L = 0.5 s per call
    python bench/bench_scaleout.py --articles 160 --latency 1.0

Each configuration gets a fresh database (on one server started here with initdb/pg_ctl, as the
tests do), a fresh `chroma run` server and fresh data dirs. Embeddings are the hashing embedder's:
the model's latency is what the fleet shares out. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_batch import story
from bench.common import ROOT, load_articles, standin
from tests.conftest import chroma_run
from tests.feed_site import FeedSite, Item, article_page, rss
from tests.postgres_server import PostgresServer, start_server

HOSTS = 4
FEEDS = 8
TARGET_EFFICIENCY = 0.9
TARGET_OVERHEAD = 1.2
LEASE = 5.0


def publish(site: FeedSite, n: int) -> list[str]:
    """`n` news articles as pages, listed in FEEDS feeds; the feeds' URLs."""
    per_feed: list[list[Item]] = [[] for _ in range(FEEDS)]
    for i, article in enumerate(load_articles()[:n]):
        s = story(article)
        path = f"/news/{article['id']}"
        site.add(path, article_page(s), content_type="text/html; charset=utf-8")
        per_feed[i % FEEDS].append(
            Item(s.title, link=site.url + path, guid=f"urn:{article['id']}",
                 published=1_700_000_000 + i * 60)
        )  # fmt: skip
    for f, items in enumerate(per_feed):
        site.add(f"/feed{f}.xml", rss(items, title=f"Feed {f}"))
    return [f"{site.url}/feed{f}.xml" for f in range(FEEDS)]


class Setup:
    """What every configuration shares: the feed site, the hosts, the database server."""

    def __init__(self, tmp: Path, feeds: list[str], hosts: list[str], pg: PostgresServer) -> None:
        self.tmp, self.feeds, self.hosts, self.pg = tmp, feeds, hosts, pg
        self.runs = 0

    def env(self, home: Path, database: str | None, chroma: str | None) -> dict[str, str]:
        env = {
            **os.environ,
            "SUMMARIZER_HOME": str(home),
            "SUMMARIZER_EMBEDDER": "hash:256",
            "OLLAMA_HOST": ",".join(self.hosts),
            "SUMMARIZER_LEASE_SECONDS": str(LEASE),
            "SUMMARIZER_HOST_INTERVAL": "0.01",
            "ANONYMIZED_TELEMETRY": "False",
        }
        for key in ("SUMMARIZER_DATABASE_URL", "SUMMARIZER_CHROMA_URL"):
            env.pop(key, None)
        if database:
            env["SUMMARIZER_DATABASE_URL"] = database
        if chroma:
            env["SUMMARIZER_CHROMA_URL"] = chroma
        return env

    def register(self, env: dict[str, str]) -> None:
        listing = self.tmp / "feeds.txt"
        listing.write_text("\n".join(self.feeds), encoding="utf-8")
        subprocess.run(
            [sys.executable, "-m", "summarizer", "feeds", "import", str(listing)],
            cwd=ROOT, env=env, check=True, capture_output=True,
        )  # fmt: skip

    def worker(self, env: dict[str, str], out: Path) -> subprocess.Popen[str]:
        """`summarizer run` writing its lines to `out` and its messages to `out`.err."""
        args = ["run", "--allow-private", "--parallel", "1", "--out", str(out)]
        with open(out.with_suffix(".err"), "w") as err:
            return subprocess.Popen(
                [sys.executable, "-m", "summarizer", *args],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err, text=True,
            )  # fmt: skip

    def fleet(self, workers: int, *, shared: bool = True) -> dict[str, float]:
        """Run `workers` workers over every feed, from a fresh store; their figures."""
        self.runs += 1
        base = self.tmp / f"run{self.runs}"
        with ExitStack() as stack:
            database = chroma = None
            if shared:
                database = self.pg.create_database()
                chroma, _ = stack.enter_context(chroma_run(base / "chroma"))
            homes = [base / f"w{i}" for i in range(workers)]
            self.register(self.env(homes[0], database, chroma))
            outs = [base / f"out{i}.jsonl" for i in range(workers)]
            start = time.perf_counter()
            procs = [
                self.worker(self.env(h, database, chroma), o)
                for h, o in zip(homes, outs, strict=True)
            ]
            first, last = _lines_written(procs, outs)
            wall = time.perf_counter() - start
        for p, out in zip(procs, outs, strict=True):
            if p.returncode != 0:
                err = out.with_suffix(".err").read_text(encoding="utf-8")
                sys.exit(f"a worker failed ({p.returncode}):\n{err[-3000:]}")
        records = [json.loads(x) for o in outs if o.exists() for x in o.read_text().splitlines()]
        calls = sum(int(r.get("model_calls") or 0) for r in records)
        return {
            "done": len(records),
            "distinct": len({r["entry_id"] for r in records}),
            "calls": calls,
            "wall": wall,
            # Lines per second from the first line written to the last, by all the workers.
            "rate": (len(records) - 1) / max(last - first, 1e-9),
        }


def _lines_written(procs: list[subprocess.Popen[str]], outs: list[Path]) -> tuple[float, float]:
    """Wait for the workers; when the first output line and the last were written."""
    first = last = 0.0
    sizes = [0] * len(outs)
    while True:
        running = any(p.poll() is None for p in procs)
        for i, out in enumerate(outs):
            size = out.stat().st_size if out.exists() else 0
            if size != sizes[i]:
                sizes[i], last = size, time.perf_counter()
                first = first or last
        if not running:
            return first, last
        time.sleep(0.02)


def recovery(setup: Setup) -> tuple[float, int]:
    """Two workers; the first killed once it has written 3 lines: seconds from the kill until
    every entry it held is done, and how many it held."""
    import psycopg

    setup.runs += 1
    base = setup.tmp / f"run{setup.runs}"
    database = setup.pg.create_database()
    with chroma_run(base / "chroma") as (chroma, _):
        homes = [base / "w0", base / "w1"]
        setup.register(setup.env(homes[0], database, chroma))
        first = setup.worker(setup.env(homes[0], database, chroma), base / "out0.jsonl")
        deadline = time.monotonic() + 300
        out0 = base / "out0.jsonl"
        while not (out0.exists() and len(out0.read_text().splitlines()) >= 3):
            if time.monotonic() > deadline or first.poll() is not None:
                sys.exit("the first worker made no progress")
            time.sleep(0.05)
        second = setup.worker(setup.env(homes[1], database, chroma), base / "out1.jsonl")
        time.sleep(2.0)  # both at work
        with psycopg.connect(database, autocommit=True) as conn:
            held = [
                r[0]
                for r in conn.execute(
                    "SELECT item FROM leases WHERE kind = 'entry' AND owner LIKE %s",
                    (f"%:{first.pid}",),
                ).fetchall()
            ]
            first.send_signal(signal.SIGKILL)
            killed = time.perf_counter()
            first.wait()
            while True:
                row = conn.execute(
                    "SELECT count(*) FROM ledger_entries WHERE id = ANY(%s) AND status = 'pending'",
                    (held,),
                ).fetchone()
                if row is not None and row[0] == 0:
                    break
                if second.poll() is not None:
                    err = (base / "out1.err").read_text(encoding="utf-8")
                    sys.exit(f"the second worker stopped first:\n{err[-2000:]}")
                time.sleep(0.05)
            took = time.perf_counter() - killed
        second.terminate()  # the rest of the feeds are not what is measured
        second.wait()
    return took, len(held)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=320)
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per model call")
    args = parser.parse_args()

    missed = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        pg = start_server(tmp)
        stack.callback(pg.stop, "immediate")
        hosts = [stack.enter_context(standin(args.latency)) for _ in range(HOSTS)]
        site = stack.enter_context(FeedSite())
        setup = Setup(tmp, publish(site, args.articles), hosts, pg)
        print(f"{args.articles} news articles in {FEEDS} feeds; {HOSTS} stand-in hosts, "
              f"L={args.latency} s per call; each worker --parallel 1 "
              f"({HOSTS} model slots)")  # fmt: skip

        print("\n[throughput]")
        print("  workers   wall s   articles/min   ideal s   wall/ideal   efficiency   "
              "steady articles/min   steady efficiency")  # fmt: skip
        base: dict[str, float] = {}
        for workers in (1, 2, 4):
            f = setup.fleet(workers)
            if f["done"] != args.articles or f["distinct"] != f["done"]:
                sys.exit(f"{workers} workers: {f['done']} lines, {f['distinct']} distinct")
            if workers == 1:
                base = f
            ideal = f["calls"] * args.latency / (workers * HOSTS)
            eff_wall = base["wall"] / (workers * f["wall"])
            eff_rate = f["rate"] / (workers * base["rate"])
            print(f"  {workers:7d}   {f['wall']:6.1f}   {60 * f['done'] / f['wall']:12.1f}   "
                  f"{ideal:7.1f}   {f['wall'] / ideal:10.2f}   {eff_wall:10.2f}   "
                  f"{60 * f['rate']:19.1f}   {eff_rate:17.2f}")  # fmt: skip
            if workers == 4 and eff_wall < TARGET_EFFICIENCY:
                missed.append("efficiency at 4 workers")

        print("\n[one worker: PostgreSQL + Chroma server against SQLite + embedded Chroma]")
        lite = setup.fleet(1, shared=False)
        ratio = base["wall"] / lite["wall"]
        print(f"  SQLite {lite['wall']:.1f} s, PostgreSQL {base['wall']:.1f} s: "
              f"{ratio:.2f}x  (target <= {TARGET_OVERHEAD})")  # fmt: skip
        if ratio > TARGET_OVERHEAD:
            missed.append("PostgreSQL overhead")

        print("\n[recovery]")
        took, held = recovery(setup)
        print(f"  a worker killed holding {held} entries: all done by the other "
              f"{took:.1f} s after the kill (lease {LEASE:g} s)")  # fmt: skip
    if missed:
        print(f"\nmissed: {', '.join(missed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
