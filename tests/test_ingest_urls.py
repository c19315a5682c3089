"""Ingest of http(s) URLs through the whole pipeline, against a real server on 127.0.0.1."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from summarizer import pipeline
from summarizer.config import Settings
from tests.conftest import CORPUS, Site


def article_page(title: str, body: str, canonical: str | None = None) -> bytes:
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n\n") if p.strip())
    return (
        f"<!doctype html><html><head><title>{title}</title>{link}"
        '<meta name="author" content="A. Reporter"></head><body>'
        "<nav><a href='/'>Home</a> <a href='/world'>World</a></nav>"
        f"<article><h1>{title}</h1>{paragraphs}</article>"
        "<footer>© Example News</footer></body></html>"
    ).encode()


def sample(name: str = "004_a1cf827bafe0670f.txt") -> tuple[str, str]:
    title, _, body = (CORPUS / name).read_text(encoding="utf-8").partition("\n")
    return title.strip(), body.strip()


def local() -> Settings:
    """The settings, with pages on the test's loopback server allowed (--allow-private)."""
    return replace(Settings.from_env(), allow_private=True)


def test_ingest_urls(hash_embedder: str, site: Site) -> None:
    title, body = sample()
    site.pages["/news/binance"] = (200, "text/html; charset=utf-8", article_page(title, body))
    site.pages["/old-link"] = (301, "text/html", b"/news/binance")
    site.pages["/wall"] = (
        200,
        "text/html",
        b"<html><body><p>Subscribe to read this article.</p></body></html>",
    )
    site.pages["/data.json"] = (200, "application/json", b"{}")
    site.pages["/boom"] = (500, "text/html", b"oops")
    s = local()
    urls = [f"{site.url}{p}" for p in ("/news/binance", "/wall", "/data.json", "/boom", "/gone")]
    report = pipeline.ingest(s, urls)
    by_item = {r.item.removeprefix(site.url): r for r in report.results}
    assert by_item["/news/binance"].status == "added"
    assert "implausibly short" in (by_item["/wall"].reason or "")
    assert "application/json" in (by_item["/data.json"].reason or "")
    assert "500" in (by_item["/boom"].reason or "")
    assert "404" in (by_item["/gone"].reason or "")
    (article,) = pipeline.list_articles(s)
    assert article.url == f"{site.url}/news/binance"
    assert article.title == title
    assert "Kraken" in article.text and "Home" not in article.text
    # The same page again, and through a redirect, is the same article, unchanged.
    again = pipeline.ingest(s, [f"{site.url}/news/binance", f"{site.url}/old-link"])
    assert [r.status for r in again.results] == ["unchanged", "unchanged"]
    assert again.embedded == 0
    # A changed page replaces its text.
    site.pages["/news/binance"] = (
        200,
        "text/html",
        article_page(title, body.replace("Kraken", "Krakken")),
    )
    changed = pipeline.ingest(s, [f"{site.url}/news/binance"])
    assert changed.results[0].status == "updated"
    assert "Krakken" in pipeline.get_article(s, article.id).text


def test_canonical_url_gives_the_id(hash_embedder: str, site: Site) -> None:
    title, body = sample("003_2348ef0b69992a9c.txt")
    canonical = f"{site.url}/crypto/refuse"
    page = article_page(title, body, canonical=canonical)
    site.pages["/a?utm_source=feed"] = (200, "text/html", page)
    site.pages["/amp/a"] = (200, "text/html", page)
    s = local()
    report = pipeline.ingest(s, [f"{site.url}/a?utm_source=feed", f"{site.url}/amp/a"])
    assert [r.status for r in report.results] == ["added", "unchanged"]
    assert report.results[0].article_id == pipeline.article_id("url", canonical)
    assert pipeline.list_articles(s)[0].url == canonical


def test_a_page_cannot_claim_another_article(hash_embedder: str, site: Site) -> None:
    """A canonical URL on another host, or the site's root, is not taken as the identity."""
    t1, b1 = sample("003_2348ef0b69992a9c.txt")
    t2, b2 = sample("000_e59614a57512a09a.txt")
    site.pages["/one"] = (200, "text/html", article_page(t1, b1, canonical=f"{site.url}/"))
    site.pages["/two"] = (200, "text/html", article_page(t2, b2, canonical=f"{site.url}/"))
    site.pages["/three"] = (
        200,
        "text/html",
        article_page(t2, b2, canonical="https://victim.example/news/story"),
    )
    s = local()
    urls = [f"{site.url}/one", f"{site.url}/two", f"{site.url}/three"]
    report = pipeline.ingest(s, urls)
    assert [r.status for r in report.results] == ["added", "added", "added"]
    assert [r.article_id for r in report.results] == [pipeline.article_id("url", u) for u in urls]
    assert len(pipeline.list_articles(s)) == 3


def test_canonical_url_normalisation() -> None:
    assert (
        pipeline.canonical_url("HTTPS://News.Example.com:443/a/b?utm_source=x&id=3#top")
        == "https://news.example.com/a/b?id=3"
    )
    assert pipeline.canonical_url("http://example.com") == "http://example.com/"
    assert pipeline.canonical_url("http://example.com:8080/x") == "http://example.com:8080/x"


def test_progress_bar_on_a_terminal_only(hash_embedder: str, corpus_copy: Path) -> None:
    import os
    import pty
    import subprocess
    import sys

    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "summarizer", "ingest", str(corpus_copy)],
        stdout=subprocess.PIPE,
        stderr=secondary,
        env={**os.environ, "COLUMNS": "100", "TERM": "xterm"},
    )
    os.close(secondary)
    seen = b""
    while True:
        try:
            data = os.read(primary, 4096)
        except OSError:
            break
        if not data:
            break
        seen += data
    proc.wait(timeout=60)
    os.close(primary)
    assert proc.returncode == 0
    terminal = seen.decode("utf-8", "replace")
    assert "5/5" in terminal and "━" in terminal, terminal
    assert "5 added" in terminal
    # In a pipe: no bar, only the summary line.
    piped = subprocess.run(
        [sys.executable, "-m", "summarizer", "ingest", str(corpus_copy)],
        capture_output=True,
        text=True,
    )
    assert piped.stderr.strip().splitlines() == [
        "ingest: 0 added, 0 updated, 5 unchanged, 0 failed (0 chunks embedded)"
    ]


def test_a_page_on_a_private_address_is_refused_without_allow_private(
    hash_embedder: str, site: Site
) -> None:
    """As `run` does for feeds: a page on a loopback, private or link-local address is fetched
    only with --allow-private, and the article records the permission."""
    from click.testing import CliRunner

    from summarizer.cli import cli

    title, body = sample()
    site.pages["/news/binance"] = (200, "text/html; charset=utf-8", article_page(title, body))
    url = f"{site.url}/news/binance"
    refused = CliRunner().invoke(cli, ["ingest", url])
    assert refused.exit_code == 1
    assert refused.stderr.startswith(
        f"error: {url}: refused: 127.0.0.1 is a loopback address "
        "(pass --allow-private to fetch from intranet hosts)\n"
    )
    assert pipeline.list_articles(Settings.from_env()) == []
    allowed = CliRunner().invoke(cli, ["ingest", url, "--allow-private"])
    assert allowed.exit_code == 0, allowed.output
    (article,) = pipeline.list_articles(Settings.from_env())
    assert article.allow_private and article.title == title
