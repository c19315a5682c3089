"""Ingest benchmark on the 498 real news articles, with the real MiniLM embedder.

Prints, from one run: ingest throughput against the raw embedder on the same chunks, the
re-ingest speed-up and its embedding count, peak memory, and `summarizer --help` start-up time.

    python bench/bench_ingest.py            # all 498 articles
    python bench/bench_ingest.py --limit 50 # a quicker look
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, timed, write_articles


def chunk_texts(paths: list[Path]) -> list[str]:
    """The chunks the pipeline embeds: the same texts, split the same way."""
    from summarizer.corpus.chunking import chunk_article

    texts: list[str] = []
    for path in paths:
        text = path.read_text(encoding="utf-8").strip()
        texts += [c.text for c in chunk_article("x", "0" * 16, text)]
    return texts


def raw_embed(texts_file: str, which: str) -> None:
    """Child process: an embedder alone on the chunks, in the pipeline's batches."""
    texts = json.loads(Path(texts_file).read_text(encoding="utf-8"))
    if which == "chroma":  # Chroma's stock function, for reference
        from chromadb.utils.embedding_functions import DefaultEmbeddingFunction

        fn = DefaultEmbeddingFunction()
    else:  # the pipeline's own (same model, same vectors)
        from summarizer.corpus.embed import MiniLMEmbedder

        fn = MiniLMEmbedder().embed
    from summarizer.corpus.ingest import EMBED_BATCH

    fn(["warm-up"])  # loading the model is not embedding throughput
    start = time.perf_counter()
    for i in range(0, len(texts), EMBED_BATCH):
        fn(texts[i : i + EMBED_BATCH])
    print(time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0, help="only the first N articles")
    parser.add_argument(
        "--compare-chroma",
        action="store_true",
        help="also time Chroma's stock embedding function on the same chunks",
    )
    parser.add_argument("--raw-embed", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--which", default="ours", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_embed:
        raw_embed(args.raw_embed, args.which)
        return

    from summarizer.corpus.embed import minilm_available, minilm_model_dir

    if not minilm_available():
        sys.exit(
            f"the MiniLM model is not in {minilm_model_dir()}: Chroma downloads it on first use"
        )

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "articles"
        paths = write_articles(folder)
        if args.limit:
            for p in paths[args.limit :]:
                p.unlink()
            paths = paths[: args.limit]
        env = {"SUMMARIZER_HOME": str(Path(tmp) / "home"), "SUMMARIZER_EMBEDDER": "minilm"}
        cmd = [sys.executable, "-m", "summarizer", "ingest", str(folder)]

        texts_file = Path(tmp) / "chunks.json"
        texts = chunk_texts(paths)
        texts_file.write_text(json.dumps(texts), encoding="utf-8")
        raw_cmd = [sys.executable, __file__, "--raw-embed", str(texts_file)]
        # The raw embedder runs before and after the ingest, each in a fresh process like the
        # ingest's, and the two are averaged: the machine's speed drifts over minutes.
        raw_before = float(timed(raw_cmd)[2])
        first, first_peak, _, first_err = timed(cmd, env)
        raw_after = float(timed(raw_cmd)[2])
        second, second_peak, _, second_err = timed(cmd, env)
        n_chunks, raw = len(texts), (raw_before + raw_after) / 2
        stock = float(timed([*raw_cmd, "--which", "chroma"])[2]) if args.compare_chroma else 0.0
        embedded = [
            int(m) for m in re.findall(r"\((\d+) chunks embedded\)", first_err + second_err)
        ]
        # Start-up as after a first run: the package's bytecode cached (as Python does by itself
        # unless PYTHONDONTWRITEBYTECODE is set), and bare `import click` beside it for scale.
        timed([sys.executable, "-m", "compileall", "-q", str(ROOT / "summarizer")])
        click_runs = [timed([sys.executable, "-c", "import click"])[0] for _ in range(15)]
        help_runs = [timed([sys.executable, "-m", "summarizer", "--help"])[0] for _ in range(15)]
        exe = Path(sys.executable).parent / "summarizer"
        script_runs = [timed([str(exe), "--help"])[0] for _ in range(15)] if exe.exists() else []

    pipeline_rate = embedded[0] / first
    raw_rate = n_chunks / raw
    print(f"articles                      {len(paths)}")
    print(f"chunks                        {n_chunks} (pipeline embedded {embedded[0]})")
    print(f"first ingest                  {first:.2f} s  ({pipeline_rate:.1f} chunks/s, all of it)")
    print(
        f"raw embedder, same chunks     {raw:.2f} s  ({raw_rate:.1f} chunks/s, model loaded; "
        f"{raw_before:.1f} s before, {raw_after:.1f} s after the ingest)"
    )
    if stock:
        print(f"Chroma's stock function       {stock:.2f} s  ({n_chunks / stock:.1f} chunks/s)")
    print(f"ingest / raw embedder speed   {pipeline_rate / raw_rate:.3f}   (target >= 0.9)")
    print(f"re-ingest, unchanged          {second:.3f} s  ({embedded[1]} chunks embedded)")
    print(f"first / re-ingest             {first / second:.0f}x   (target >= 50x, 0 embedded)")
    print(f"peak RSS, first ingest        {first_peak} MiB")
    print(f"peak RSS, re-ingest           {second_peak} MiB")
    print(f"python -c 'import click'      {statistics.median(click_runs) * 1000:.0f} ms median")
    print(f"python -m summarizer --help   {statistics.median(help_runs) * 1000:.0f} ms median")
    if script_runs:
        print(
            f"summarizer --help (script)    {statistics.median(script_runs) * 1000:.0f} ms median"
            "   (target <= 60 ms)"
        )


if __name__ == "__main__":
    main()
