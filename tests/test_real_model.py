"""The real-model tier: the CLI end to end on a REAL small model (SmolLM2-135M behind the Ollama
protocol), the way a user with a laptop runs it. Its content is often wrong; what is asserted are
the guarantees: valid output or a clear one-line outcome, every citation shown an exact slice of
the stored text, nothing unsupported shown as supported, bounded time.

Skipped, with the reason, when the real-model server is not here or not set up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from summarizer import pipeline
from summarizer.config import Settings
from summarizer.grounding.statements import standalone
from tests import real_model
from tests.feed_site import FeedSite, Item, article_page, corpus_stories, rss

pytestmark = pytest.mark.real_model

ROOT = Path(__file__).resolve().parent.parent
# The shortest sample articles: the tier's time goes to the model (~30 output tokens/s).
ARTICLES = ("000_e59614a57512a09a.txt", "002_797977910b246ba2.txt")
# One command on one short article: a summary's two replies and its support check, at most.
BOUND_SECONDS = 240.0
ALLOWED_STDERR = ("error: ", "warning: ", "ingest: ", "run: ", "wrote ")


@pytest.fixture(scope="module")
def real_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    why = real_model.unavailable()
    if why is not None:
        pytest.skip(why)
    log = tmp_path_factory.mktemp("real-model") / "requests.jsonl"
    with real_model.served(log=log) as url:
        yield url


@pytest.fixture(scope="module")
def real_home(tmp_path_factory: pytest.TempPathFactory, real_url: str) -> Path:
    """A data dir with the sample articles ingested (hashing embedder: no download)."""
    home = tmp_path_factory.mktemp("real-home")
    cli("ingest", str(ROOT / "corpus"), home=home, url=real_url)
    return home


def cli(*args: str, home: Path, url: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, in its own process; asserts the time bound and that stderr
    holds only one-line errors, warnings and closing lines."""
    env = {
        **os.environ,
        "SUMMARIZER_HOME": str(home),
        "OLLAMA_HOST": url,
        "SUMMARIZER_MODEL": real_model.MODEL,
        "SUMMARIZER_EMBEDDER": "hash:256",
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "summarizer", *args],
        capture_output=True, text=True, env=env, timeout=BOUND_SECONDS * 2, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert elapsed < BOUND_SECONDS, f"{args} took {elapsed:.0f} s"
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr
    for line in done.stderr.splitlines():
        assert line.startswith(ALLOWED_STDERR), line
    return done


def stored(home: Path, article_id: str) -> str:
    settings = replace(Settings.from_env(), home=home, embedder="hash:256")
    return pipeline.get_article(settings, article_id).text


def assert_exact(citations: list[dict[str, Any]], text_of: Any) -> None:
    for c in citations:
        assert text_of(c["article_id"])[c["start"] : c["end"]] == c["quote"]


def assert_shown_supported(items: list[dict[str, Any]]) -> None:
    """Nothing shown without a verified citation, nothing shown that its sentences do not back;
    the article's own words shown as they stand in it, each a statement on its own."""
    for item in items:
        assert item["citations"], item
        assert item["support"]["verdict"] in ("supported", "partial"), item
        if item.get("statement_source") == "article":
            (citation,) = item["citations"]
            said = item.get("text") or item["statement"]
            assert said == citation["quote"] and standalone(said), item


def assert_outcome(data: dict[str, Any], items: list[dict[str, Any]], done: Any) -> None:
    """Either something checkable is shown, or the outcome says why not, in one line."""
    if items:
        assert data["outcome"] == "ok" and data["outcome_message"] is None
        return
    assert data["outcome"] in (
        "nothing_given",
        "nothing_supported",
        "not_in_corpus",
        "not_answered",
    )
    if data["outcome"] != "not_in_corpus":
        assert done.returncode == 1
        assert f"{data['outcome_message']}" in done.stderr


def _article_id(name: str) -> str:
    return pipeline.article_id("file", str((ROOT / "corpus" / name).resolve()))


@pytest.mark.parametrize("name", ARTICLES)
def test_summarize(real_home: Path, real_url: str, name: str) -> None:
    done = cli("summarize", str(ROOT / "corpus" / name), "--json", home=real_home, url=real_url)
    data = json.loads(done.stdout)
    if "error" in data:  # the model failed the article: one clear line, and exit 1
        assert done.returncode == 1 and data["source"] == str(ROOT / "corpus" / name)
        assert done.stderr.startswith(f"error: {ROOT / 'corpus' / name}: {data['error']}")
        return
    text = stored(real_home, data["article_id"])
    points = data["key_points"]
    for p in points:
        assert_exact(p["citations"], lambda _: text)
    assert_shown_supported(points)
    assert_outcome(data, points, done)
    # The server held the model to the ids of the prompt's sentences: none cited is unknown.
    assert data["counts"]["quotes_dropped"] == 0
    # The model's headline and summary are shown only when its points' quotes back them.
    if data["headline_source"] == "model":
        assert data["headline_support"]["verdict"] == "supported"
    else:
        assert data["headline"] == data["title"]
    if data["summary_source"] == "model":
        assert data["summary_support"]["verdict"] == "supported"


@pytest.mark.parametrize("name", ARTICLES)
def test_claims(real_home: Path, real_url: str, name: str) -> None:
    done = cli("claims", str(ROOT / "corpus" / name), "--json", home=real_home, url=real_url)
    data = json.loads(done.stdout)
    if "error" in data:
        assert done.returncode == 1 and done.stderr.startswith(f"error: {data['source']}: ")
        return
    text = stored(real_home, data["article_id"])
    for c in data["claims"]:
        assert_exact(c["citations"], lambda _: text)
    assert_shown_supported(data["claims"])
    assert_outcome(data, data["claims"], done)
    assert data["counts"]["quotes_dropped"] == 0


def test_ask(real_home: Path, real_url: str) -> None:
    question = "Which exchanges refused to freeze the accounts of Russian users?"
    done = cli("ask", question, "--json", home=real_home, url=real_url)
    data = json.loads(done.stdout)
    texts: dict[str, str] = {}

    def text_of(article_id: str) -> str:
        if article_id not in texts:
            texts[article_id] = stored(real_home, article_id)
        return texts[article_id]

    cited = [c for p in data["points"] for c in p["citations"]]
    assert_exact(cited, text_of)
    assert_shown_supported(data["points"])
    assert_outcome(data, data["points"], done)
    if data["found"]:
        assert data["answer_support"]["verdict"] == "supported" or data["answer_source"] == "points"
    elif data["outcome"] == "not_in_corpus":
        assert data["answer"].startswith("The corpus does not say.") and not data["passages"]
    else:  # the model found or gave nothing backed: not said to be what the corpus says
        assert data["answer"].startswith(("The model gave no answer", "The model found no answer"))
        assert_exact(data["passages"], text_of)  # the passages to read the answer in


def test_the_second_task_on_an_article_reads_only_its_own_instructions(
    real_url: str, tmp_path: Path
) -> None:
    """Two tasks on one article, one after the other: the second starts with the same messages
    (the reader's rules and the numbered article), which the server keeps in its cache and does
    not read again: it evaluates only its own instructions."""
    from pydantic import BaseModel

    from summarizer.analysis import prompts
    from summarizer.analysis.checking import VerdictReply
    from summarizer.analysis.windows import CallLog, article_windows
    from summarizer.llm import Ollama
    from summarizer.models import Article

    class Verdicts(BaseModel):
        verdicts: list[VerdictReply]

    title, _, body = (ROOT / "corpus" / ARTICLES[0]).read_text(encoding="utf-8").partition("\n")
    article = Article(id="a", source="a.txt", title=title, text=body.strip(), content_hash="h")
    settings = Settings(home=tmp_path, ollama_hosts=[real_url], model=real_model.MODEL,
                        use_cache=False)  # fmt: skip
    evaluated = []
    with Ollama(settings) as llm:
        calls = CallLog(affinity=article.id)
        (window,) = article_windows(llm, article, calls)
        prompt = prompts.load("support_article")
        for statement in ("Japan asked its exchanges to act.", "Miners in Siberia were named."):
            before = calls.prompt_tokens
            values = {"statements": f"[1] {statement} (cites s2)", "count": "1"}
            calls.run_with(llm, Verdicts, prompt, values, window=window, reply_tokens=128)
            evaluated.append(calls.prompt_tokens - before)
    assert evaluated[0] > 300  # the whole prompt, read once
    assert evaluated[1] < evaluated[0] / 5, evaluated


def test_search_rerank(real_home: Path, real_url: str) -> None:
    """The model orders a shortlist of the fused retrieval, or the fused order stays, said so."""
    question = "Which exchanges refused to freeze the accounts of Russian users?"
    shortlist = json.loads(
        cli("search", question, "-k", "10", "--json", home=real_home, url=real_url).stdout
    )
    done = cli("search", question, "-k", "5", "--rerank", "--json", home=real_home, url=real_url)
    assert done.returncode == 0, done.stderr
    hits = json.loads(done.stdout)
    fused = [h["chunk_id"] for h in shortlist]
    assert len(hits) == 5 and {h["chunk_id"] for h in hits} <= set(fused)
    for h in hits:
        assert stored(real_home, h["article_id"])[h["start"] : h["end"]] == h["text"]
    ranks = [h["model_rank"] for h in hits]
    ranked = len([r for r in ranks if r is not None])
    assert ranks[:ranked] == list(range(1, ranked + 1)), "the model's passages come first"
    if not ranked:
        assert [h["chunk_id"] for h in hits] == fused[:5]
        assert "warning: reranking: " in done.stderr


def test_run_over_a_local_feed(tmp_path: Path, real_url: str) -> None:
    home = tmp_path / "data"
    stories = [s for s in corpus_stories() if s.title][:1]
    with FeedSite() as site:
        items = []
        for i, story in enumerate(stories):
            path = f"/a/{i}"
            site.add(path, article_page(story), content_type="text/html; charset=utf-8")
            items.append(Item(story.title, link=site.url + path, guid=f"urn:{i}",
                              published=1_700_000_000 + i))  # fmt: skip
        site.add("/feed.xml", rss(items))
        cli("feeds", "add", site.url + "/feed.xml", "--name", "news", home=home, url=real_url)
        digest = tmp_path / "digest.md"
        done = cli("run", "--allow-private", "--digest", str(digest), home=home, url=real_url)
    # Every entry is either done (a line on stdout) or failed (an error line); the run says so.
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    failed = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) + len(failed) == len(stories), done.stderr
    assert done.returncode == (1 if failed else 0)
    assert any(line.startswith("run: ") for line in done.stderr.splitlines())
    assert digest.exists()
    for record in lines:
        text = stored(home, record["article_id"])
        summary = record["summary"]
        for part in summary["key_points"] + record["claims"]:
            assert_exact(
                [{**c, "article_id": record["article_id"]} for c in part["citations"]],
                lambda _, text=text: text,
            )
        assert_shown_supported(summary["key_points"])
        assert_shown_supported(record["claims"])
        if not summary["key_points"]:
            assert summary["outcome"] != "ok" and summary["outcome_message"]
            assert summary["outcome_message"] in digest.read_text(encoding="utf-8")
