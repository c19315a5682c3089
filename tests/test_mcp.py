"""`summarizer mcp`: the SDK's own client against a real server process, over stdio and HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from summarizer import pipeline
from summarizer.config import Settings
from summarizer.corpus import open_catalog
from tests.ollama_fixtures import free_port
from tests.standin_ollama import StandinOllama

QUESTION = "Which exchanges refused to freeze Russian accounts?"
TOOLS = {"search", "ask", "show_article", "list_articles", "summarize", "extract_claims"}


def server_env() -> dict[str, str]:
    """The test's settings (data dir, embedder, Ollama host) for the server process."""
    keep = ("SUMMARIZER_", "OLLAMA_HOST", "ANONYMIZED_TELEMETRY")
    return {k: v for k, v in os.environ.items() if k.startswith(keep)}


@asynccontextmanager
async def connected(*args: str) -> AsyncIterator[ClientSession]:
    """A session with a fresh `python -m summarizer mcp ARGS` process."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "summarizer", "mcp", *args], env=server_env()
    )
    with open(os.devnull, "w") as quiet:
        async with (
            stdio_client(params, errlog=quiet) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


def run(test: Callable[[ClientSession], Awaitable[None]], *args: str) -> None:
    async def main() -> None:
        async with connected(*args) as session:
            await test(session)

    anyio.run(main)


async def call(session: ClientSession, tool: str, **arguments: Any) -> Any:
    """The tool's JSON answer (failing the test on a tool error)."""
    result = await session.call_tool(tool, arguments)
    text = result.content[0].text  # type: ignore[union-attr]
    assert not result.is_error, text
    return json.loads(text)


async def error(session: ClientSession, tool: str, **arguments: Any) -> str:
    """The tool error's text: one line, never a traceback."""
    result = await session.call_tool(tool, arguments)
    assert result.is_error
    text: str = result.content[0].text  # type: ignore[union-attr]
    assert text.startswith("error: ") and "\n" not in text and "Traceback" not in text, text
    return text


@pytest.fixture
def stored(corpus_copy: Path, hash_embedder: str) -> list[str]:
    """The sample corpus ingested into the test's data dir; the article ids."""
    settings = Settings.from_env()
    report = pipeline.ingest(settings, [str(corpus_copy)])
    assert not report.failed
    return [a.id for a in pipeline.list_articles(settings)]


def test_read_tools_resources_and_their_errors(stored: list[str]) -> None:
    async def test(s: ClientSession) -> None:
        names = {t.name for t in (await s.list_tools()).tools}
        assert TOOLS | {"ingest_url"} <= names
        hits = await call(s, "search", query=QUESTION)
        assert hits and len(hits) <= 5
        for hit in hits:
            article = await call(s, "show_article", id=hit["article_id"][:6])
            assert article["text"][hit["start"] : hit["end"]] == hit["text"]
            resource = await s.read_resource(f"article://{hit['article_id']}")
            assert resource.contents[0].text == article["text"]  # type: ignore[union-attr]
        first = hits[0]["article_id"]
        v1 = await s.read_resource(f"article://{first}/v1")
        shown = await call(s, "show_article", id=first, version=1)
        assert v1.contents[0].text == shown["text"]  # type: ignore[union-attr]
        only = await call(s, "search", query="exchanges", k=3, article=[first])
        assert only and {h["article_id"] for h in only} == {first}

        page = await call(s, "list_articles", limit=2)
        assert page["total"] == len(stored) and len(page["articles"]) == 2
        rest = await call(s, "list_articles", offset=2, limit=50)
        listed = [a["id"] for a in page["articles"] + rest["articles"]]
        assert sorted(listed) == sorted(stored)
        assert (await call(s, "list_articles", source="no-such-site"))["total"] == 0

        # Unknown ids, bad arguments, ingest not enabled: one line each.
        assert "no article 'zzzz'" in await error(s, "show_article", id="zzzz")
        assert "no article" in await error(s, "summarize", id="zzzz")
        assert "no version 9" in (await error(s, "show_article", id=first, version=9)).lower()
        assert await error(s, "search", query="x", k=0) == (
            "error: k: Input should be greater than or equal to 1"
        )
        assert (await error(s, "search", query="x", k="many")).startswith("error: k: ")
        assert (await error(s, "summarize", id=first, length="huge")).startswith("error: length")
        assert "query" in await error(s, "search")
        assert "since" in await error(s, "list_articles", since="last Tuesday")
        assert "empty" in await error(s, "search", query="  ")
        assert "--allow-ingest" in await error(s, "ingest_url", url="https://example.org/")
        with pytest.raises(Exception, match="no article 'zzzz'"):
            await s.read_resource("article://zzzz")

    run(test)


def exact(citations: list[dict[str, Any]], texts: dict[str, str]) -> int:
    """How many citations there are; each checked to be its article's text[start:end]."""
    for c in citations:
        assert texts[c["article_id"]][c["start"] : c["end"]] == c["quote"]
    return len(citations)


def test_model_tools_progress_and_kept_outputs(
    stored: list[str], ollama_env: StandinOllama
) -> None:
    async def test(s: ClientSession) -> None:
        texts = {a: (await call(s, "show_article", id=a))["text"] for a in stored}
        told: list[tuple[float, float | None, str | None]] = []

        async def progress(done: float, total: float | None, message: str | None) -> None:
            told.append((done, total, message))

        first = stored[0]
        result = await s.call_tool(
            "summarize", {"id": first, "length": "short"}, progress_callback=progress
        )
        assert not result.is_error, result.content
        summary = json.loads(result.content[0].text)  # type: ignore[union-attr]
        assert summary["article_id"] == first and summary["length"] == "short"
        assert sum(exact(p["citations"], texts) for p in summary["key_points"]) > 0
        assert any(p.get("support") for p in summary["key_points"])  # verdicts included
        assert told and any("call 1 of" in (m or "") for _, _, m in told), told
        assert result.structured_content == summary

        # Kept: asked again, the model is not; another length is made anew.
        chats = len(ollama_env.requests("/api/chat"))
        assert await call(s, "summarize", id=first, length="short") == summary
        assert len(ollama_env.requests("/api/chat")) == chats
        assert (await call(s, "summarize", id=first))["length"] == "medium"

        claims = await call(s, "extract_claims", id=first[:7])
        assert claims["claims"] and sum(exact(c["citations"], texts) for c in claims["claims"])

        told.clear()
        answer = await s.call_tool(
            "ask",
            {"question": QUESTION},
            progress_callback=progress,
        )
        data = json.loads(answer.content[0].text)  # type: ignore[union-attr]
        assert {"answer", "found", "outcome", "points", "conflicts", "retrieved"} <= set(data)
        assert data["found"] and told
        cited = [c for p in data["points"] for c in p["citations"]]
        cited += [c for x in data["conflicts"] for side in x["sides"] for c in side["citations"]]
        assert exact(cited, texts) > 0
        absent = await call(s, "ask", question=QUESTION, source=["no-such-site.example"])
        assert absent["found"] is False and absent["outcome"] == "not_in_corpus"
        # The model finds nothing: the passages that best match are shown, exact.
        ollama_env.field_values["found"] = False
        # (another wording: the first answer's reply is cached)
        unanswered = await call(s, "ask", question="Which exchanges declined to freeze accounts?")
        assert unanswered["found"] is False and unanswered["outcome"] == "not_answered"
        assert unanswered["passages"] and exact(unanswered["passages"], texts)

    run(test)
    with closing(open_catalog(Settings.from_env())) as catalog:
        assert catalog.output(stored[0], "summarize") is not None
        assert catalog.output(stored[0], "claims") is not None


def test_model_unreachable_is_said_as_the_cli_says_it(
    stored: list[str], closed_ollama_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", closed_ollama_url)
    from click.testing import CliRunner

    from summarizer.cli import cli

    said = CliRunner().invoke(cli, ["summarize", stored[0]]).output.strip().splitlines()[-1]

    async def test(s: ClientSession) -> None:
        line = await error(s, "summarize", id=stored[0])
        assert line == said.split(f"{stored[0]}: ", 1)[-1] or line in said or said in line
        assert closed_ollama_url.split("//")[1] in line
        assert "127.0.0.1" in await error(s, "extract_claims", id=stored[0])

    run(test)
    with closing(open_catalog(Settings.from_env())) as catalog:
        assert catalog.output(stored[0], "summarize") is None


def test_a_cancelled_summarize_keeps_nothing(stored: list[str], ollama_env: StandinOllama) -> None:
    ollama_env.misbehave("delay", seconds=3, times=None, endpoint="/api/chat")

    async def test(s: ClientSession) -> None:
        told: list[str] = []

        async def progress(done: float, total: float | None, message: str | None) -> None:
            told.append(message or "")

        with anyio.move_on_after(1.5) as scope:
            await s.call_tool("summarize", {"id": stored[0]}, progress_callback=progress)
        assert scope.cancelled_caught and told
        # The abandoned call's replies come in meanwhile; nothing of it may be kept.
        await anyio.sleep(12)
        with closing(open_catalog(Settings.from_env())) as catalog:
            assert catalog.output(stored[0], "summarize") is None
        # The server is still there and answers.
        assert await call(s, "search", query="exchanges")

    run(test)
    with closing(open_catalog(Settings.from_env())) as catalog:
        assert catalog.output(stored[0], "summarize") is None
        assert catalog.count() == len(stored)


def test_ingest_url_refuses_private_addresses(stored: list[str]) -> None:
    async def test(s: ClientSession) -> None:
        refused = await error(s, "ingest_url", url=f"http://127.0.0.1:{free_port()}/a.html")
        assert "private" in refused or "loopback" in refused, refused
        assert "not an http(s) URL" in await error(s, "ingest_url", url="/etc/passwd")
        assert (await call(s, "list_articles"))["total"] == len(stored)

    run(test, "--allow-ingest")


def test_ingest_url_stores_an_intranet_page_with_allow_private(
    stored: list[str], site: Any
) -> None:
    from tests.feed_site import article_page, synthetic_story

    story = synthetic_story(7)
    site.pages["/intranet.html"] = (200, "text/html; charset=utf-8", article_page(story).encode())

    async def test(s: ClientSession) -> None:
        item = await call(s, "ingest_url", url=f"{site.url}/intranet.html")
        assert item["status"] == "added" and item["article_id"]
        shown = await call(s, "show_article", id=item["article_id"])
        assert shown["title"] == story.title and shown["url"] == f"{site.url}/intranet.html"
        assert (await call(s, "list_articles"))["total"] == len(stored) + 1

    run(test, "--allow-ingest", "--allow-private")


def test_http_answers_only_for_its_own_host(stored: list[str]) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "summarizer", "mcp", "--http", "--port", str(port)],
        env={**os.environ, **server_env()},
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    hello = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream"}
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        evil = {**headers, "Host": f"attacker.example:{port}"}
        assert httpx.post(url, json=hello, headers=evil).status_code in (400, 421)
        wrong_port = {**headers, "Host": f"localhost:{port + 1}"}
        assert httpx.post(url, json=hello, headers=wrong_port).status_code in (400, 421)
        for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
            ok = httpx.post(url, json=hello, headers={**headers, "Host": host})
            assert ok.status_code == 200, ok.text
            assert '"serverInfo"' in ok.text and "summarizer" in ok.text
    finally:
        process.terminate()
        process.wait(10)
