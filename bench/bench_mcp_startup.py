"""Start-up to the first answer of `summarizer mcp`: a fresh server process over stdio, the SDK's
client, `initialize` then one `search` tool call; against the CLI's `summarizer search` on the
same store (a whole process, start to exit).

Run from the repository root:
    python bench/bench_mcp_startup.py [--runs N]

Prints the median wall time of each (alternated, so the machine's noise is shared) and the
ratio. Target: MCP first answer <= 1.2x the CLI search. Uses Chroma's real MiniLM embedder
when it is in its cache, else the hashing one, and says which.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import timed  # noqa: E402

QUERY = "Which exchanges refused to freeze Russian accounts?"


async def first_answer(python: str, home: str, env: dict[str, str]) -> float:
    """Seconds from spawning the server to its first `search` answer."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=python, args=["-m", "summarizer", "mcp", "--home", home], env=env, cwd=ROOT
    )
    with open(os.devnull, "w") as quiet:
        start = time.perf_counter()
        async with (
            stdio_client(params, errlog=quiet) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            result = await session.call_tool("search", {"query": QUERY, "k": 3})
            took = time.perf_counter() - start
            if result.is_error:
                sys.exit(f"search failed: {result.content}")
    return took


def main() -> None:
    import anyio

    from summarizer.corpus.embed import minilm_available

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    embedder = "chroma:all-MiniLM-L6-v2" if minilm_available() else "hash:256"
    python = sys.executable
    cli = str(Path(python).with_name("summarizer"))
    env = {"SUMMARIZER_EMBEDDER": embedder, "ANONYMIZED_TELEMETRY": "False"}
    server_env = {**{k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}, **env}
    with tempfile.TemporaryDirectory() as tmp:
        home = str(Path(tmp) / "data")
        timed([cli, "ingest", str(ROOT / "corpus"), "--home", home], env)
        search_cmd = [cli, "search", QUERY, "-k", "3", "--home", home, "--json"]
        timed(search_cmd, env)  # the first run warms the disk cache for both
        cli_times, mcp_times = [], []
        for _ in range(args.runs):
            cli_times.append(timed(search_cmd, env)[0])
            mcp_times.append(anyio.run(first_answer, python, home, server_env))
    c, m = statistics.median(cli_times), statistics.median(mcp_times)
    print(f"embedder: {embedder}")
    print(f"summarizer search -k 3 (process start to exit):     median {c:.2f} s over {args.runs}")
    print(f"summarizer mcp: spawn, initialize, first search:    median {m:.2f} s")
    print(f"mcp / cli: {m / c:.2f}x (target <= 1.2x)")


if __name__ == "__main__":
    main()
