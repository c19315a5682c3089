"""Prompt tokens the server evaluated, model calls and wall time per article, for one tree of the
code (this checkout, or an earlier revision's files): each article summarised, then its claims
extracted, each with its support check, one after the other on one server - as a user runs
`summarize` then `claims`. bench_real_model.py runs it on the tree before and after the shared
prompt prefix, in separate processes.

    python bench/prompt_tokens.py TREE URL MODEL OUT ARTICLE...

Prints nothing; writes OUT as JSON: one object per article. A reply stopped as a loop reports no
prompt_eval_count (its connection is closed before the counts come): such replies are counted
apart ("loops"), in both trees alike.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path


def main(tree: str, url: str, model: str, out: str, articles: list[str]) -> None:
    # The code of `tree`, not the installed checkout's: its package first on the path, and the
    # editable install's finder (which maps the package to the checkout) set aside.
    sys.path.insert(0, tree)
    sys.meta_path[:] = [
        f for f in sys.meta_path if "editable" not in getattr(f, "__module__", "").lower()
    ]
    from summarizer import pipeline
    from summarizer.config import Settings

    rows = []
    with tempfile.TemporaryDirectory() as home:
        settings = replace(
            Settings.from_env(), home=Path(home), ollama_hosts=[url], model=model,
            embedder="hash:256", use_cache=False, read_timeout=600.0,
        )  # fmt: skip
        report = pipeline.ingest(settings, articles)
        assert not report.failed, [r.reason for r in report.results if r.reason]
        for path in articles:
            row = {"article": Path(path).name, "prompt_tokens": 0, "calls": 0, "wall": 0.0,
                   "loops": 0}  # fmt: skip
            for task in ("summarize", "claims"):
                started = time.perf_counter()
                (result,) = pipeline.analyze(settings, [path], task)
                row["wall"] += time.perf_counter() - started
                if result.output is None:
                    row[f"{task}_error"] = result.error
                    continue
                row["prompt_tokens"] += result.output.prompt_tokens
                row["calls"] += result.output.calls
                # A reply stopped as a loop reports no counts (the connection is closed first).
                row["loops"] += sum("reply stopped after" in w for w in result.output.warnings)
            rows.append(row)
    Path(out).write_text(json.dumps(rows), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
