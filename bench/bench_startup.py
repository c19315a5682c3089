"""What a query costs end to end: CLI `search` on the sample corpus against the floor of a bare
process that imports the store client, loads the embedder once and runs the same query; and
CLI `ask` against an instant stand-in model server, so that its figure is the tool's own cost
(retrieval, prompt, grounding the reply), not the model's.

Run from the repository root:
    python bench/bench_startup.py [--runs N]

Prints the median wall time of each (alternated, in one run, so the machine's noise is shared)
and the ratios. Target: CLI `search` <= 1.5x the floor. Uses Chroma's real MiniLM embedder.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import standin, timed  # noqa: E402

QUERY = "Which exchanges refused to freeze Russian accounts?"
FLOOR = """
import chromadb
from chromadb.utils.embedding_functions import ONNXMiniLM_L6_V2
client = chromadb.PersistentClient(path={chroma!r})
collection = client.get_collection(client.list_collections()[0].name)
vector = ONNXMiniLM_L6_V2()([{query!r}])[0]
print(collection.query(query_embeddings=[vector.tolist()], n_results=3)["ids"])
"""


def main() -> None:
    from summarizer.corpus.embed import minilm_available

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    if not minilm_available():
        sys.exit("Chroma's MiniLM model is not in its cache: the benchmark needs the real embedder")
    python = sys.executable
    cli = str(Path(python).with_name("summarizer"))
    with standin() as url, tempfile.TemporaryDirectory() as tmp:
        home = str(Path(tmp) / "data")
        timed([cli, "ingest", str(ROOT / "corpus"), "--home", home])
        floor_cmd = [python, "-c", FLOOR.format(chroma=f"{home}/chroma", query=QUERY)]
        search_cmd = [cli, "search", QUERY, "-k", "3", "--home", home]
        ask_cmd = [cli, "ask", QUERY, "--home", home, "--ollama-host", url, "--no-cache"]
        floor, search, ask = [], [], []
        for _ in range(args.runs):
            floor.append(timed(floor_cmd)[0])
            search.append(timed(search_cmd)[0])
            ask.append(timed(ask_cmd)[0])
    f, s, a = (statistics.median(x) for x in (floor, search, ask))
    print(f"floor (import chromadb, load MiniLM, one query): median {f:.2f} s over {args.runs}")
    print(f"summarizer search -k 3 (5 sample articles):      median {s:.2f} s")
    print(f"summarizer ask (instant stand-in model):         median {a:.2f} s")
    print(f"search / floor: {s / f:.2f}x (target <= 1.5x)")
    print(f"ask / floor:    {a / f:.2f}x (ask - search: {a - s:.2f} s for the model's calls)")


if __name__ == "__main__":
    main()
