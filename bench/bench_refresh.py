"""`refresh --all` over 500 URL articles on a local server: what re-reading an unchanged corpus
costs (pages answering 304, then 200 with the same text), and what 10% of them changed costs.

Targets: 0 model calls and 0 embeddings when nothing changed; with 10% changed, embeddings and
model calls only for those. The articles are the real news texts of the evaluation set, the
embedder the real MiniLM one, the model the stand-in (whose calls are counted).

    python bench/bench_refresh.py [--n 500] [--changed 0.1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import load_articles, standin


@dataclass
class Pages:
    bodies: dict[str, bytes]
    validators: bool = True  # answer a conditional GET with 304
    served: int = 0
    not_modified: int = 0


def serve(pages: Pages) -> ThreadingHTTPServer:
    import hashlib

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body apart would wait for a delayed ACK

        def do_GET(self) -> None:
            body = pages.bodies.get(self.path)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if pages.validators and self.headers.get("If-None-Match") == etag:
                pages.not_modified += 1
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            pages.served += 1
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            if pages.validators:
                self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--changed", type=float, default=0.1)
    args = parser.parse_args()

    articles = load_articles()
    texts = [articles[i % len(articles)]["text"] for i in range(args.n)]
    pages = Pages(
        {f"/p/{i}": f"Story {i} of the wire\n\n{t}\n".encode() for i, t in enumerate(texts)}
    )
    server = serve(pages)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    home = Path(tempfile.mkdtemp(prefix="bench-refresh-"))
    os.environ["SUMMARIZER_HOME"] = str(home)
    os.environ["SUMMARIZER_SUPPORT"] = "rules"  # the model's support check: one call less each

    with standin() as url:
        os.environ["OLLAMA_HOST"] = url
        from summarizer import pipeline
        from summarizer.config import Settings
        from summarizer.refresh import refresh, select

        # The pages are on a loopback server: fetched, and read again, with --allow-private.
        settings = replace(Settings.from_env(), allow_private=True)
        started = time.perf_counter()
        report = pipeline.ingest(settings, [f"{base}/p/{i}" for i in range(args.n)])
        if report.failed:
            sys.exit(f"ingest failed: {report.results[0].reason}")
        print(
            f"ingest of {args.n} URL articles: {time.perf_counter() - started:.1f} s, "
            f"{report.embedded} chunks embedded ({settings.embedder})"
        )
        ids = [r.article_id for r in report.results if r.article_id]
        n_changed = max(1, round(args.n * args.changed))
        with_outputs = ids[: 2 * n_changed]  # half of them will change, half not
        for task in ("summarize", "claims"):
            done = pipeline.analyze(settings, with_outputs, task)
            failed = [r.error for r in done if r.error]
            if failed:
                sys.exit(f"{task} failed: {failed[0]}")
        print(f"summaries and claims kept for {len(with_outputs)} of them")

        def one_pass(label: str) -> None:
            pages.served = pages.not_modified = 0
            chosen = select(settings, every=True)
            t0 = time.perf_counter()
            done = refresh(settings, chosen)
            wall = time.perf_counter() - t0
            updated = done.ingest.count("updated")
            print(
                f"{label}: {wall:.2f} s wall ({1000 * wall / len(chosen):.1f} ms per article), "
                f"{pages.not_modified} answered 304, {pages.served} answered 200; "
                f"{updated} updated; {done.ingest.embedded} chunks embedded; "
                f"{done.model_calls} model calls"
            )
            if done.failed:
                sys.exit(f"{label}: {done.failed} failed")

        one_pass("refresh --all, every page 304")
        changed = [f"/p/{i}" for i in range(n_changed)]
        chunks_before = 0
        corpus = pipeline.open_corpus(settings)
        try:
            for aid in ids[:n_changed]:
                chunks_before += len(corpus.catalog.chunks(corpus.catalog.resolve(aid)))
        finally:
            corpus.close()
        for path in changed:  # a correction in the first paragraph
            body = pages.bodies[path].decode()
            head, rest = body.split("\n\n", 1)
            pages.bodies[path] = f"{head}\n\nCorrection: an earlier version erred. {rest}".encode()
        one_pass(f"refresh --all, {n_changed} of {args.n} changed, the rest 304")
        print(
            f"  the {n_changed} changed articles held {chunks_before} chunks; "
            f"all {n_changed} had summaries and claims (as had {n_changed} unchanged ones)"
        )
        pages.validators = False  # a server that sends no ETag: every page comes whole
        one_pass("refresh --all, 200 with the same text")
    server.shutdown()


if __name__ == "__main__":
    main()
