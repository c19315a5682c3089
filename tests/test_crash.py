"""A killed ingest leaves nothing half-visible, the next run completes it, and concurrent
ingests on one data dir do not corrupt it. Every scenario runs real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from summarizer import pipeline
from summarizer.config import Settings
from summarizer.corpus.store import Corpus
from tests.test_ingest import assert_consistent, vector_rows

ROOT = Path(__file__).resolve().parent.parent


def make_articles(folder: Path, n: int, tag: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        body = "\n\n".join(
            f"Paragraph {p} of story {i}{tag}: exchanges, sanctions and regulators in country {p}."
            * 6
            for p in range(4)
        )
        (folder / f"story{i:04d}.txt").write_text(f"Story {i}{tag}\n\n{body}\n", encoding="utf-8")
    return folder


def assert_visible_state_is_whole(s: Settings) -> None:
    """Every article the catalog shows has all of its chunks searchable; nothing else shows."""
    rows = vector_rows(s)
    corpus = Corpus(s)
    try:
        for article in corpus.catalog.articles():
            for c in corpus.catalog.chunks(article):
                assert c.id in rows, f"{article.id} is visible but chunk {c.id} is missing"
                assert rows[c.id]["content_hash"] == article.content_hash
    finally:
        corpus.close()
    for hit in pipeline.search(s, "exchanges sanctions regulators", k=50):
        article = pipeline.get_article(s, hit.article_id)
        assert article.text[hit.start : hit.end] == hit.text


DRIVER = textwrap.dedent(
    """
    import os, sys
    from summarizer import pipeline
    from summarizer.corpus import store
    from summarizer.corpus.sqlite import articles as catalog
    from summarizer.config import Settings

    where, after = sys.argv[1], int(sys.argv[2])
    target = {"upsert": (store.VectorStore, "upsert"),
              "delete": (store.VectorStore, "delete_article"),
              "put": (catalog.SqliteCatalog, "put")}[where]
    real = getattr(*target)
    calls = [0]

    def dying(*args, **kwargs):
        calls[0] += 1
        if calls[0] > after:
            if where == "upsert":
                real(*args, **kwargs)  # the vectors land, the catalog never hears of them
            os._exit(9)
        return real(*args, **kwargs)

    setattr(target[0], target[1], dying)
    pipeline.ingest(Settings.from_env(), sys.argv[3:])
    """
)


def run_driver(where: str, after: int, *sources: Path) -> int:
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, where, str(after), *map(str, sources)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode


@pytest.mark.parametrize("where", ["upsert", "put", "delete"])
def test_killed_between_steps_of_an_update(hash_embedder: str, tmp_path: Path, where: str) -> None:
    s = Settings.from_env()
    folder = make_articles(tmp_path / "a", 3)
    assert pipeline.ingest(s, [str(folder)]).failed == 0
    before = {a.id: a.content_hash for a in pipeline.list_articles(s)}
    make_articles(folder, 3, tag=" (revised)")
    assert run_driver(where, 0, folder) == 9
    assert_visible_state_is_whole(s)
    visible = {a.id: a.content_hash for a in pipeline.list_articles(s)}
    assert set(visible) == set(before)
    report = pipeline.ingest(s, [str(folder)])
    assert report.failed == 0
    assert_consistent(s)
    assert all("(revised)" in a.title for a in pipeline.list_articles(s))


def test_killed_while_adding(hash_embedder: str, tmp_path: Path) -> None:
    s = Settings.from_env()
    folder = make_articles(tmp_path / "a", 100)
    # Chunks are embedded and stored in batches: die after the second batch's vectors landed.
    assert run_driver("upsert", 1, folder) == 9
    assert_visible_state_is_whole(s)
    partial = len(pipeline.list_articles(s))
    assert 0 < partial < 100
    report = pipeline.ingest(s, [str(folder)])
    assert report.count("added") == 100 - partial
    assert report.count("unchanged") == partial
    assert_consistent(s)


@pytest.mark.parametrize("where", ["upsert", "delete"])
def test_killed_first_ingest_or_last_removal_is_no_lost_catalog(
    hash_embedder: str, tmp_path: Path, where: str
) -> None:
    """Killed after the vectors of the first batch landed, before the catalog took them (or
    after the last article left the catalog, before its vectors did): no article, vectors
    beside - but journalled, so the next ingest recovers, not "the catalog was lost"."""
    s = Settings.from_env()
    folder = make_articles(tmp_path / "a", 3)
    if where == "delete":
        assert pipeline.ingest(s, [str(folder)]).failed == 0
        driver = textwrap.dedent(
            """
            import os, sys
            from summarizer import pipeline
            from summarizer.config import Settings
            from summarizer.corpus import store

            def dying(*args, **kwargs):
                os._exit(9)

            store.VectorStore.delete_article = dying
            ids = [a.id for a in pipeline.list_articles(Settings.from_env())]
            list(pipeline.remove(Settings.from_env(), ids[:1]))
            """
        )
        for a in pipeline.list_articles(s)[1:]:
            list(pipeline.remove(s, [a.id]))
        done = subprocess.run([sys.executable, "-c", driver], cwd=ROOT, timeout=120, check=False)
        assert done.returncode == 9
    else:
        assert run_driver(where, 0, folder) == 9
    assert pipeline.list_articles(s) == []
    report = pipeline.ingest(s, [str(folder)])
    assert report.failed == 0 and report.count("added") == 3
    assert_consistent(s)


SLOW_INGEST = textwrap.dedent(
    """
    import sys, time
    from summarizer import pipeline
    from summarizer.config import Settings
    from summarizer.corpus.embed import HashEmbedder

    real = HashEmbedder.embed
    def slow(self, texts):
        time.sleep(0.02)
        return real(self, texts)
    HashEmbedder.embed = slow
    report = pipeline.ingest(Settings.from_env(), sys.argv[1:])
    sys.exit(1 if report.failed else 0)
    """
)


@pytest.mark.parametrize("delay", [0.6, 1.1, 1.7])
def test_sigkill_at_any_moment_then_resume(
    hash_embedder: str, tmp_path: Path, delay: float
) -> None:
    s = Settings.from_env()
    folder = make_articles(tmp_path / "a", 150)
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_INGEST, str(folder)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if s.catalog_path.exists():
        assert_visible_state_is_whole(s)
    report = pipeline.ingest(s, [str(folder)])
    assert report.failed == 0
    assert len(pipeline.list_articles(s)) == 150
    assert_consistent(s)


def test_two_concurrent_ingests(hash_embedder: str, tmp_path: Path) -> None:
    s = Settings.from_env()
    a = make_articles(tmp_path / "a", 60, tag=" A")
    b = make_articles(tmp_path / "b", 60, tag=" B")
    env = {**os.environ}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "summarizer", "ingest", str(folder)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for folder in (a, b)
    ]
    outputs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert len(pipeline.list_articles(s)) == 120
    assert_consistent(s)
