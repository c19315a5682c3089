"""Shared by the benchmarks: where the evaluation data lives and how to time a command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT.parent / "shared" / "eval"
ARTICLES = EVAL / "news" / "articles.jsonl"


def require(path: Path) -> Path:
    if not path.exists():
        sys.exit(f"benchmark data not found: {path} (the shared evaluation folder beside the repo)")
    return path


def load_articles() -> list[dict[str, str]]:
    lines = require(ARTICLES).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def name(article: dict[str, str]) -> str:
    """A title made of the article's data set and id."""
    return f"{article['dataset']} article {article['id']}"


def headline(article: dict[str, str]) -> str:
    """The headline in the article's URL where its publisher put one there (the Daily Mail's and
    CNN's URLs end in it), else its name."""
    from urllib.parse import urlsplit

    url = urlsplit(article["url"].split("id_/", 1)[-1].split("/", 5)[-1])
    parts = [p for p in url.path.split("/") if p and p != "index.html"]
    slug = parts[-1].removesuffix(".html") if parts else ""
    words = slug.split("-")
    if ("dailymail" in article["url"] or "cnn.com" in article["url"]) and len(words) >= 3:
        return " ".join(words)
    return name(article)


def write_articles(folder: Path, *, headlines: bool = False) -> list[Path]:
    """The 498 articles as .txt files: a headline line, a blank line, the body. The headline is
    a name of the article unless `headlines` asks for the one its URL holds."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for a in load_articles():
        path = folder / f"{a['dataset']}-{a['id']}.txt"
        title = headline(a) if headlines else name(a)
        path.write_text(f"{title}\n\n{a['text']}\n", encoding="utf-8")
        paths.append(path)
    return paths


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str, str]:
    """(wall seconds, peak RSS in MiB, stdout, stderr) of one command; exits if it fails."""
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, env={**os.environ, **(env or {})}, stdout=out, stderr=err, cwd=ROOT
        )
        _, status, rusage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr[-2000:]}")
    return wall, rusage.ru_maxrss // 1024, stdout, stderr


@contextmanager
def standin(latency: float = 0.0, slots: int | None = None) -> Iterator[str]:
    """The stand-in Ollama server as a child process; yields its URL."""
    cmd = [sys.executable, "-m", "tests.standin_ollama", "--port", "0", "--latency", str(latency)]
    if slots is not None:
        cmd += ["--slots", str(slots)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://"):
            raise SystemExit(f"the stand-in did not start (printed {url!r})")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
