"""`summarizer feeds` and `summarizer run` end to end: a real HTTP server on 127.0.0.1 serving
feeds and article pages, the stand-in Ollama server, the real store with the hashing embedder,
and a run killed with SIGKILL and resumed."""

from __future__ import annotations

import codecs
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from summarizer import pipeline
from summarizer.cli import cli
from summarizer.config import Settings
from summarizer.feeds import open_ledger
from tests.feed_site import (
    EVAL_FEEDS,
    ROOT,
    FeedSite,
    Item,
    Story,
    article_page,
    atom,
    corpus_stories,
    rss,
    syndicated,
    synthetic_story,
)
from tests.standin_ollama import SUPPORT_SCHEMA, StandinOllama

HTML = "text/html; charset=utf-8"
RECORD_FIELDS = {
    "entry_id", "feed", "feed_url", "guid", "link", "published", "article_id", "url", "title",
    "author", "content_from", "content_hash", "warnings", "summary", "claims", "claim_counts",
    "model", "model_digest", "prompts", "model_calls", "cached_calls",
}  # fmt: skip


@pytest.fixture
def site(hash_embedder: str, ollama_env: StandinOllama) -> Iterator[FeedSite]:
    """The feed site; the stand-in is OLLAMA_HOST and the store uses the hashing embedder."""
    with FeedSite() as s:
        yield s


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def publish(site: FeedSite, path: str, story: Story, **kw: Any) -> str:
    return site.add(path, article_page(story, **kw), content_type=HTML)


def item_for(site: FeedSite, path: str, story: Story, n: int, **kw: Any) -> Item:
    return Item(
        story.title,
        link=site.url + path,
        guid=kw.pop("guid", f"urn:{path}"),
        published=1_700_000_000 + n * 3600,
        **kw,
    )


def published(site: FeedSite, stories: list[tuple[str, Story]]) -> list[Item]:
    """Each story published at its path, as a feed item (the n-th an hour after the first)."""
    items = []
    for n, (path, story) in enumerate(stories):
        publish(site, path, story)
        items.append(item_for(site, path, story, n))
    return items


def run_feed(site: FeedSite, items: list[Item], name: str) -> Result:
    """A feed of `items` registered as `name` and run; the run succeeded."""
    site.add("/f.xml", rss(items))
    run("feeds", "add", site.url + "/f.xml", "--name", name)
    result = run("run", "--allow-private")
    assert result.exit_code == 0, result.output
    return result


def records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def chats(server: StandinOllama) -> list[tuple[str, str]]:
    """(task, article title) of every chat request the stand-in received (not counting the
    support checks that follow each summary and claims request)."""
    out = []
    for r in server.requests("/api/chat"):
        body = r.body or {}
        if "format" not in body:  # cut off by a killed client before its body was whole
            continue
        if body["format"].get("title") == SUPPORT_SCHEMA:
            continue
        task = "summary" if "key_points" in body["format"]["properties"] else "claims"
        prompt = "\n".join(m["content"] for m in body["messages"])
        title = re.search(r"^Title: (.*)$", prompt, re.MULTILINE)
        out.append((task, title.group(1).strip() if title else "?"))
    return out


def ledger_entries() -> list[Any]:
    with open_ledger(Settings.from_env()) as ledger:
        return ledger.entries()


def assert_cited(record: dict[str, Any]) -> None:
    """Every citation of the line is the stored article's own words at its offsets."""
    article = pipeline.get_article(Settings.from_env(), record["article_id"])
    assert article.content_hash == record["content_hash"]
    cited = 0
    for part in record["summary"]["key_points"] + record["claims"]:
        for c in part["citations"]:
            assert article.text[c["start"] : c["end"]] == c["quote"]
            cited += 1
    assert cited


# --- the good path -----------------------------------------------------------------------------


def test_run_processes_new_entries_then_nothing_on_a_second_run(
    site: FeedSite, ollama_env: StandinOllama, tmp_path: Path
) -> None:
    stories = corpus_stories()
    items = [item_for(site, f"/a/{i}", s, i) for i, s in enumerate(stories[:3])]
    for i, s in enumerate(stories[:3]):  # each page names its canonical URL on its own site
        publish(site, f"/a/{i}", s, canonical=f"{site.url}/story/{i}")
    site.add("/alpha.xml", rss(items), etag='"a1"')
    atom_items = [item_for(site, f"/b/{i}", s, i) for i, s in enumerate(stories[3:])]
    for i, s in enumerate(stories[3:]):
        publish(site, f"/b/{i}", s)
    site.add("/beta.atom", atom(atom_items), content_type="application/atom+xml",
             last_modified="Tue, 14 Nov 2023 22:13:20 GMT")  # fmt: skip
    assert run("feeds", "add", site.url + "/alpha.xml", "--name", "alpha").exit_code == 0
    added = run("feeds", "add", site.url + "/beta.atom", "--name", "beta")
    assert added.stdout == f"added feed beta: {site.url}/beta.atom\n"

    digest = tmp_path / "digest.md"
    result = run("run", "--allow-private", "--digest", str(digest))
    assert result.exit_code == 0, result.output
    lines = records(result.stdout)
    assert len(lines) == 5
    for line in lines:
        assert set(line) >= RECORD_FIELDS
        assert line["content_from"] == "page" and line["published"].startswith("2023-11-1")
        assert line["summary"]["headline"] and line["claims"]
        assert_cited(line)
    assert {(r["feed"], r["link"]) for r in lines} == {
        ("alpha", f"{site.url}/a/{i}") for i in range(3)
    } | {("beta", f"{site.url}/b/{i}") for i in range(2)}
    assert {r["url"] for r in lines if r["feed"] == "alpha"} == {
        f"{site.url}/story/{i}" for i in range(3)
    }
    assert (
        "5 new, 0 unchanged, 0 duplicates, 5 done, 0 failed, 0 left pending; "
        "20 model calls (0 cached, at most 4 per article)"
        in result.stderr  # summary, claims, a check of each
    )
    assert sorted(chats(ollama_env)) == sorted(
        (task, s.title) for s in stories for task in ("summary", "claims")
    )
    text = digest.read_text(encoding="utf-8")
    assert text.startswith("# Feed digest") and "5 stories from 2 feeds" in text
    assert text.index("## alpha") < text.index("## beta")
    assert text.count("### [") == 5

    before = len(ollama_env.requests())
    again = run("run", "--allow-private")
    assert again.exit_code == 0 and again.stdout == ""
    assert "(2 not modified, 0 failed); 0 new" in again.stderr
    assert "0 model calls" in again.stderr
    assert len(ollama_env.requests()) == before  # not even a metadata request
    alpha = [h for p, h in site.requests if p == "/alpha.xml"]
    assert alpha[-1]["if-none-match"] == '"a1"'
    beta = [h for p, h in site.requests if p == "/beta.atom"]
    assert beta[-1]["if-modified-since"] == "Tue, 14 Nov 2023 22:13:20 GMT"

    listed = json.loads(run("feeds", "list", "--json").stdout)
    assert [(f["name"], f["entries"]["done"]) for f in listed] == [("alpha", 3), ("beta", 2)]


def test_only_new_items_are_processed(site: FeedSite, ollama_env: StandinOllama) -> None:
    stories = corpus_stories()
    for i, s in enumerate(stories):
        publish(site, f"/a/{i}", s)
    items = [item_for(site, f"/a/{i}", s, i) for i, s in enumerate(stories)]
    site.add("/f.xml", rss(items[:2]), etag='"1"')
    run("feeds", "add", site.url + "/f.xml")
    assert run("run", "--allow-private").exit_code == 0
    ollama_env.clear_log()
    site.add("/f.xml", rss(items[:3]), etag='"2"')
    result = run("run", "--allow-private")
    assert result.exit_code == 0
    assert [r["title"] for r in records(result.stdout)] == [stories[2].title]
    assert "1 new, 2 unchanged" in result.stderr
    assert sorted(chats(ollama_env)) == [
        ("claims", stories[2].title),
        ("summary", stories[2].title),
    ]


# --- pages that fail -------------------------------------------------------------------------


def test_fallback_to_the_feeds_text_failures_and_retry(site: FeedSite) -> None:
    a, b, c = corpus_stories()[:3]
    full_a = "".join(f"<p>{p}</p>" for p in a.paragraphs)
    items = [
        item_for(site, "/gone", a, 0, content=full_a),  # page 404: the feed's full text
        item_for(site, "/paywall", b, 1, description=b.text),  # a paywall: the summary
        item_for(site, "/broken", c, 2, description="Read the full story on our site."),
    ]
    site.add("/paywall", "<html><body><p>Subscribe to read.</p></body></html>",
             content_type=HTML)  # fmt: skip
    site.add("/broken", article_page(c), content_type=HTML, fail_times=100, fail_status=500)
    site.add("/f.xml", rss(items))
    run("feeds", "add", site.url + "/f.xml", "--name", "news")
    result = run("run", "--allow-private")
    assert result.exit_code == 1
    done = {r["link"].rsplit("/", 1)[1]: r for r in records(result.stdout)}
    assert set(done) == {"gone", "paywall"}
    assert done["gone"]["content_from"] == "feed" and done["paywall"]["content_from"] == "feed"
    assert done["gone"]["warnings"][0] == "HTTP 404 Not Found: used the feed's own text"
    assert done["paywall"]["warnings"][0].startswith("no article on the page (implausibly short")
    err = result.stderr.splitlines()
    assert f"warning: news: {site.url}/gone: HTTP 404 Not Found: used the feed's own text" in err
    (error,) = [line for line in err if line.startswith("error:")]
    assert error.startswith(
        f"error: news: {site.url}/broken: HTTP 500 Internal Server Error; "
        "the feed's own text is implausibly short"
    )
    assert "2 done, 1 failed" in result.stderr
    article = pipeline.get_article(Settings.from_env(), done["gone"]["article_id"])
    assert article.text.startswith(a.paragraphs[0][:40])
    # The feed item's date is the article's (it had none: `list` showed the ingest date and
    # --since/--until could not find it).
    assert article.date == done["gone"]["published"][:10] == "2023-11-14"
    with pipeline.open_corpus(Settings.from_env()) as corpus:  # what --since/--until filter on
        assert article.id in corpus.catalog.select_ids(since="2023-11-14", until="2023-11-14")

    again = run("run", "--allow-private")  # failed entries wait for --retry-failed
    assert again.exit_code == 0 and again.stdout == "" and "0 done, 0 failed" in again.stderr
    site.resources["/broken"].fail_times = 0
    retried = run("run", "--allow-private", "--retry-failed")
    assert retried.exit_code == 0, retried.output
    assert [r["link"] for r in records(retried.stdout)] == [f"{site.url}/broken"]
    broken = next(e for e in ledger_entries() if e.link and e.link.endswith("/broken"))
    assert (broken.status, broken.attempts, broken.reason) == ("done", 2, None)


# --- what is new ---------------------------------------------------------------------------------


def test_duplicates_and_syndicated_copies_are_linked_not_processed(
    site: FeedSite, ollama_env: StandinOllama, tmp_path: Path
) -> None:
    s1, s2, s3, s4 = corpus_stories()[:4]
    url1 = publish(site, "/a/1", s1)
    publish(site, "/a/2", s2)
    publish(site, "/b/copy-of-2", syndicated(s2))
    publish(site, "/b/amp-of-1", s1, canonical=url1)
    alpha = [item_for(site, "/a/1", s1, 1), item_for(site, "/a/2", s2, 2)]
    alpha.append(item_for(site, "/a/1", s1, 1))  # the same item twice in the document
    beta = [
        item_for(site, "/a/1", s1, 3, guid="beta-1"),  # same link, its own guid
        item_for(site, "/b/copy-of-2", syndicated(s2), 4),  # another URL, nearly the same text
        item_for(site, "/b/amp-of-1", s1, 5),  # another URL, canonical link to the first
    ]
    site.add("/alpha.xml", rss(alpha))
    site.add("/beta.xml", rss(beta))
    run("feeds", "add", site.url + "/alpha.xml", "--name", "alpha")
    run("feeds", "add", site.url + "/beta.xml", "--name", "beta")

    first = run("run", "--allow-private", "--feed", "alpha")
    assert first.exit_code == 0 and len(records(first.stdout)) == 2
    assert "2 new, 0 unchanged, 0 duplicates" in first.stderr
    assert site.hits("/beta.xml") == 0

    digest = tmp_path / "d.md"
    second = run("run", "--allow-private", "--digest", str(digest))
    assert second.exit_code == 0 and second.stdout == ""
    assert "3 new, 2 unchanged, 3 duplicates, 0 done" in second.stderr
    assert site.hits("/a/1") == 1  # the copy with the same link was not even fetched
    assert len(chats(ollama_env)) == 4  # two stories, summary and claims each
    entries = {(e.feed, e.link): e for e in ledger_entries()}
    first_copy = {e.link: e.id for e in entries.values() if e.feed == "alpha"}
    reasons = {}
    for (feed, link), e in entries.items():
        if feed == "beta":
            assert e.status == "duplicate"
            reasons[link.rsplit("/", 1)[1]] = (e.reason, e.duplicate_of)
    assert reasons["1"] == ("same link", first_copy[url1])
    assert reasons["amp-of-1"] == ("same article", first_copy[url1])
    assert reasons["copy-of-2"][0].startswith("same story (")
    assert reasons["copy-of-2"][1] == first_copy[f"{site.url}/a/2"]

    # Two copies of a new story arriving in one run: one is processed, the other linked to it.
    publish(site, "/a/3", s3)
    publish(site, "/b/3", syndicated(s3))
    publish(site, "/a/4", s4)
    site.add(
        "/alpha.xml", rss([*alpha, item_for(site, "/a/3", s3, 6), item_for(site, "/a/4", s4, 7)])
    )
    site.add("/beta.xml", rss([*beta, item_for(site, "/b/3", syndicated(s3), 6)]))
    third = run("run", "--allow-private", "--digest", str(digest))
    assert third.exit_code == 0
    assert len(records(third.stdout)) == 2 and "1 duplicate, 2 done" in third.stderr
    text = digest.read_text(encoding="utf-8")
    assert "*Also published as:*" in text and text.count("### [") == 2


# --- feeds of every kind -----------------------------------------------------------------------


def billion_laughs(items: list[Item]) -> bytes:
    ents = '<!ENTITY l0 "lol">' + "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
    )
    doc = rss(items).replace('<?xml version="1.0" encoding="utf-8"?>\n', "")
    doc = doc.replace("<title>Test feed</title>", "<title>&l9;</title>")
    return f'<?xml version="1.0"?><!DOCTYPE rss [{ents}]>{doc}'.encode()


def test_malformed_oddly_encoded_and_broken_feeds_in_one_run(site: FeedSite) -> None:
    stories = corpus_stories()
    for i, s in enumerate(stories):
        publish(site, f"/a/{i}", s)
    item = [item_for(site, f"/a/{i}", s, i) for i, s in enumerate(stories)]
    utf16 = codecs.BOM_UTF16_LE + rss([item[0]]).replace("utf-8", "utf-16").encode("utf-16-le")
    koi8 = rss([item[1]], title="Новости").replace("utf-8", "koi8-r").encode("koi8_r")
    malformed = rss([item[2]]).replace("</channel></rss>", "").replace("<title>Test", "<title>T & ")
    site.add("/utf16.xml", utf16, content_type="application/rss+xml")
    site.add("/koi8.xml", koi8, content_type="text/xml")
    site.add("/malformed.xml", malformed)
    site.add("/laughs.xml", billion_laughs([item[3]]))
    site.add("/page.html", "<html><body><p>Not a feed.</p></body></html>", content_type=HTML)
    site.add("/empty.xml", "")
    good = ["utf16", "koi8", "malformed", "laughs"]
    broken = {
        "page": "not a feed",
        "empty": "empty response, not a feed",
        "missing": "HTTP 404 Not Found",
    }
    for name in good:
        run("feeds", "add", f"{site.url}/{name}.xml", "--name", name)
    for name in broken:
        path = "/page.html" if name == "page" else f"/{name}.xml"
        run("feeds", "add", site.url + path, "--name", name)
    if EVAL_FEEDS.is_dir():
        fixture = EVAL_FEEDS / "feedparser-fixtures" / "illformed" / "rss_empty_document.xml"
        site.add("/fixture.xml", fixture.read_bytes(), content_type="application/xml")
        run("feeds", "add", site.url + "/fixture.xml", "--name", "fixture")
        broken["fixture"] = "not a feed: no element found"

    result = run("run", "--allow-private")
    assert result.exit_code == 1
    assert sorted(r["feed"] for r in records(result.stdout)) == sorted(good)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == len(broken)
    for name, reason in broken.items():
        (line,) = [e for e in errors if e.startswith(f"error: feed {name} (")]
        assert reason in line
    assert "Traceback" not in result.stderr
    assert "warning: feed laughs: its DOCTYPE declares XML entities" in result.stderr
    assert f"0 not modified, {len(broken)} failed); 4 new" in result.stderr
    listed = {f["name"]: f for f in json.loads(run("feeds", "list", "--json").stdout)}
    assert "HTTP 404" in listed["missing"]["error"] and listed["koi8"]["title"] == "Новости"


def test_feed_lists_and_one_line_errors(site: FeedSite, tmp_path: Path) -> None:
    opml = tmp_path / "subs.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><body>'
        '<outline text="World" xmlUrl="https://world.example/rss"/>'
        '<outline text="Tech" xmlUrl="https://tech.example/atom"/></body></opml>',
        encoding="utf-8",
    )
    listing = tmp_path / "feeds.txt"
    listing.write_text("https://tech.example/atom\nhttps://more.example/f Tech\nnot-a-url\n")
    first = run("feeds", "import", str(opml))
    assert (
        first.exit_code == 0 and "import: 2 added, 0 already registered, 0 failed" in first.stderr
    )
    second = run("feeds", "import", str(listing))
    assert second.exit_code == 1
    assert f"error: {listing}:3: not an http(s) URL: 'not-a-url'" in second.stderr
    # A name written in the list is chosen, as with --name: taken, it is refused, not changed.
    assert f"error: {listing}:2: a feed named 'Tech' already exists" in second.stderr
    assert "import: 0 added, 1 already registered, 2 failed" in second.stderr
    names = [f["name"] for f in json.loads(run("feeds", "list", "--json").stdout)]
    assert names == ["Tech", "World"]
    assert run("feeds", "add", "https://more.example/f", "--name", "More").exit_code == 0
    removed = run("feeds", "remove", "More")
    assert removed.stdout.startswith("removed feed More (https://more.example/f)")

    for args, message in [
        (("feeds", "add", "ftp://x.example/f"), "error: not an http(s) URL: 'ftp://x.example/f'"),
        (("feeds", "add", "https://other.example/", "--name", "World"),
         "error: a feed named 'World' already exists (pick another with --name)"),
        (("feeds", "remove", "nope"), "error: no feed named 'nope'"),
        (("run", "--feed", "nope"), "error: no feed named 'nope'"),
    ]:  # fmt: skip
        result = run(*args)
        assert result.exit_code == 1 and result.stderr.startswith(message), result.stderr
        assert len(result.stderr.splitlines()) == 1
    assert run("run", "--since", "yesterday").exit_code == 2
    for name in ("Tech", "World"):
        run("feeds", "remove", name)
    empty = run("run")
    assert empty.exit_code == 1
    assert empty.stderr == (
        "error: no feeds registered (add one with `summarizer feeds add URL`)\n"
    )


# --- safety ------------------------------------------------------------------------------------


def test_private_addresses_are_refused_without_allow_private(site: FeedSite) -> None:
    site.add("/f.xml", rss([Item("x", link=site.url + "/a/0")]))
    run("feeds", "add", site.url + "/f.xml", "--name", "intranet")
    result = run("run")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.splitlines()[0] == (
        f"error: feed intranet ({site.url}/f.xml): refused: 127.0.0.1 is a loopback address "
        "(pass --allow-private to fetch from intranet hosts)"
    )
    assert site.requests == []


def test_a_page_many_entries_point_at_is_fetched_once_and_a_host_is_not_hammered(
    site: FeedSite, ollama_env: StandinOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hostile feed of 300 items, each its own guid, all linking to one page: the page is
    fetched once (the rest are copies by link). And requests to one host start at least
    SUMMARIZER_HOST_INTERVAL apart."""
    monkeypatch.setenv("SUMMARIZER_HOST_INTERVAL", "0.3")
    story = corpus_stories()[0]
    publish(site, "/a/0", story)
    items = [item_for(site, "/a/0", story, n, guid=f"urn:copy:{n}") for n in range(300)]
    items += published(site, [(f"/b/{n}", synthetic_story(n)) for n in range(1, 4)])
    result = run_feed(site, items, "hostile")
    assert "303 new, 0 unchanged, 299 duplicates, 4 done" in result.stderr
    assert site.hits("/a/0") == 1
    starts = sorted(site.times)  # when the site saw each request (after its connection)
    assert len(starts) == 5  # the feed and four pages
    gaps = [b - a for a, b in pairwise(starts)]
    # Started 0.3 s apart; seen here a little earlier or later each, never all at once.
    assert starts[-1] - starts[0] >= 4 * 0.3 - 0.05 and min(gaps) >= 0.1, gaps
    again = run("run", "--allow-private")
    assert again.exit_code == 0 and site.hits("/a/0") == 1


def test_an_emptied_catalog_is_said_not_taken_for_a_new_corpus(
    site: FeedSite, ollama_env: StandinOllama
) -> None:
    """The catalog emptied (or deleted) beside the vectors and the ledger's done stories used to
    become a new empty corpus whose run never fetched those stories again."""
    feed_of(site, 2)
    assert run("run", "--allow-private").exit_code == 0
    settings = Settings.from_env()
    catalog = settings.catalog_path
    for emptied in ("truncated", "deleted"):
        for extra in ("-wal", "-shm"):
            catalog.with_name(catalog.name + extra).unlink(missing_ok=True)
        if emptied == "truncated":
            catalog.write_bytes(b"")
        else:
            catalog.unlink()
        fetched = len(site.requests)
        for args in (["run", "--allow-private"], ["search", "exchange"], ["list"]):
            refused = run(*args)
            assert refused.exit_code == 1, (emptied, args, refused.output)
            line = refused.stderr.strip().splitlines()[-1]
            assert "the catalog was lost or emptied" in line and "restore it from a backup" in line
        assert len(site.requests) == fetched  # nothing fetched again
    # Once the vectors and the ledger are moved aside as the hint says, a new corpus starts.
    shutil.move(settings.chroma_path, settings.home / "chroma.old")
    (settings.home / "ledger.sqlite3").rename(settings.home / "ledger.old")
    assert run("list").exit_code == 0


def test_items_of_a_templated_feed_are_not_copies_of_each_other(
    site: FeedSite, ollama_env: StandinOllama
) -> None:
    """Release notes share most of their words; their versions tell them apart ("3.5.0" was
    taken as a copy of "3.5.0beta1", 86% alike, and never summarised)."""
    body = (
        "The PostGIS development team is pleased to announce the release of PostGIS {v}. "
        "This version requires PostgreSQL 12 or higher, GEOS 3.8 or higher and Proj 6.1 or "
        "higher. To take advantage of all the features, GEOS 3.12 is needed. Binaries for "
        "Windows will be available in the next few days. Please report any problems you find "
        "to the issue tracker, and thank you to everyone who tested the earlier releases and "
        "sent us their reports, which made this release possible."
    )
    versions = ["3.5.0", "3.5.0beta1", "3.5.0alpha2", "3.4.3"]
    stories = [(f"/v/{n}", Story(f"PostGIS {v}", body.format(v=v))) for n, v in enumerate(versions)]
    result = run_feed(site, published(site, stories), "postgis")
    assert "4 new, 0 unchanged, 0 duplicates, 4 done" in result.stderr
    assert {r["title"] for r in records(result.stdout)} == {f"PostGIS {v}" for v in versions}


def test_a_copys_own_headline_does_not_make_it_another_story() -> None:
    """Only titles that each carry figures the other lacks tell two stories apart."""
    from summarizer.feeds.dedupe import other_figures

    text = "The storm hit Texas on Monday, killing 3 people and leaving 40,000 homes dark."
    assert not other_figures("3 killed as storm hits Texas", text, "Storm kills three", text)
    assert not other_figures("Storm kills 3", text, "Storm kills 3, updated 14:05", text)
    assert other_figures("PostGIS 3.5.0", text, "PostGIS 3.5.0beta1", text)
    assert other_figures("Storm", text, "Storm", text.replace("40,000", "45,000"))


@pytest.mark.skipif(not EVAL_FEEDS.is_dir(), reason="the evaluation feeds are absent")
def test_no_two_items_of_the_evaluation_feeds_are_taken_for_one_story() -> None:
    """Measured on the real feeds of the evaluation data (every item of one feed is its own
    story): the rule merged 18 pairs, 17 of them PostGIS releases; now none."""
    import itertools

    from summarizer.feeds.dedupe import other_figures, same_story, shingle_sample
    from summarizer.feeds.parse import normalize_text, parse_feed

    merged, pairs = [], 0
    for path in sorted(EVAL_FEEDS.rglob("*.xml")):
        try:
            parsed = parse_feed(path.read_bytes(), url="https://feeds.example/f")
        except Exception:  # a fixture no parser reads: nothing to compare
            continue
        items = [(e.title, normalize_text(e.content)) for e in parsed.entries]
        samples = [shingle_sample(text) for _, text in items]
        for i, j in itertools.combinations(range(len(items)), 2):
            a, b = samples[i], samples[j]
            pairs += 1
            if same_story(len(a & b), len(a), len(b)) and not other_figures(*items[i], *items[j]):
                merged.append((path.name, items[i][0], items[j][0]))
    assert pairs > 1000 and merged == []


# --- concurrency, limits, resumption ------------------------------------------------------------


def test_a_stored_article_unlike_the_one_foreseen_is_asked_about_again(
    site: FeedSite, ollama_env: StandinOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model starts on the article as ingest is expected to store it; should ingest store
    something else, the answers are thrown away and the stored article is asked about."""
    from summarizer.feeds import job

    story = corpus_stories()[0]
    publish(site, "/a/0", story)
    site.add("/f.xml", rss([item_for(site, "/a/0", story, 0)]))
    run("feeds", "add", site.url + "/f.xml")
    real = job.foreseen

    def mistaken(raw: Any, doc: Any, **given: Any) -> Any:
        article, chunks = real(raw, doc, **given)
        return article.model_copy(update={"title": "A wrong guess"}), chunks

    monkeypatch.setattr(job, "foreseen", mistaken)
    result = run("run", "--allow-private")
    assert result.exit_code == 0, result.output
    (line,) = records(result.stdout)
    assert line["title"] == story.title and line["summary"]["headline"]
    assert_cited(line)
    # The claims are asked for once the summary is in (one article's calls one after the
    # other): of the wrong guess, only if the stored article was not there by then.
    asked = chats(ollama_env)
    assert {("summary", story.title), ("claims", story.title), ("summary", "A wrong guess")} <= set(
        asked
    )
    assert set(asked) <= {(task, title) for task in ("summary", "claims")
                          for title in (story.title, "A wrong guess")}  # fmt: skip


def test_one_run_at_a_time_and_unwritable_outputs(site: FeedSite, tmp_path: Path) -> None:
    from summarizer.feeds import run_lock

    site.add("/f.xml", rss([]))
    run("feeds", "add", site.url + "/f.xml")
    with run_lock(Settings.from_env()):
        busy = run("run", "--allow-private")
    assert busy.exit_code == 1
    assert busy.stderr.startswith("error: another `summarizer run` is working on ")
    assert f"(pid {os.getpid()})" in busy.stderr
    for option in ("--out", "--digest"):
        bad = run("run", "--allow-private", option, str(tmp_path / "no" / "such" / "file"))
        assert bad.exit_code == 2 and bad.stderr.startswith("error: cannot write ")
    assert run("run", "--allow-private").exit_code == 0


def test_fetches_are_parallel_but_bounded_per_host_and_model_work_by_capacity(
    site: FeedSite, ollama_env: StandinOllama
) -> None:
    stories = [synthetic_story(n) for n in range(8)]
    for i, s in enumerate(stories):
        publish(site, f"/a/{i}", s)
        site.resources[f"/a/{i}"].delay = 0.3
    site.add("/f.xml", rss([item_for(site, f"/a/{i}", s, i) for i, s in enumerate(stories)]))
    # Long enough that several articles are at the model at once: one article's calls go one
    # after the other (its prompt prefix stays in the host's cache), different articles' not.
    ollama_env.latency = 0.3
    run("feeds", "add", site.url + "/f.xml")
    result = run("run", "--allow-private", "--parallel", "3")
    assert result.exit_code == 0 and len(records(result.stdout)) == 8
    assert site.max_in_flight == 2  # two at a time to one host, not one, not eight
    assert ollama_env.max_concurrency == 3
    # The stages overlap: the model is at work on the first pages before the last is fetched.
    last_page = max(t for (path, _), t in zip(site.requests, site.times, strict=True)
                    if path.startswith("/a/")) + 0.3  # fmt: skip
    assert ollama_env.requests("/api/chat")[0].time < last_page


def test_limit_and_since_leave_the_rest_pending(site: FeedSite) -> None:
    stories = [synthetic_story(n) for n in range(4)]
    for i, s in enumerate(stories):
        publish(site, f"/a/{i}", s)
    site.add("/f.xml", rss([item_for(site, f"/a/{i}", s, i * 24) for i, s in enumerate(stories)]))
    run("feeds", "add", site.url + "/f.xml")
    first = run("run", "--allow-private", "--limit", "1")
    assert [r["title"] for r in records(first.stdout)] == [stories[0].title]
    assert "1 done, 0 failed, 3 left pending" in first.stderr
    since = run("run", "--allow-private", "--since", "2023-11-17")
    assert [r["title"] for r in records(since.stdout)] == [stories[3].title]
    rest = run("run", "--allow-private")
    assert sorted(r["title"] for r in records(rest.stdout)) == [s.title for s in stories[1:3]]
    assert "0 left pending" in rest.stderr


def test_an_unreachable_model_stops_the_run_and_loses_nothing(
    site: FeedSite, monkeypatch: pytest.MonkeyPatch, closed_ollama_url: str
) -> None:
    story = corpus_stories()[0]
    publish(site, "/a/0", story)
    site.add("/f.xml", rss([item_for(site, "/a/0", story, 0)]))
    run("feeds", "add", site.url + "/f.xml")
    standin = os.environ["OLLAMA_HOST"]
    monkeypatch.setenv("OLLAMA_HOST", closed_ollama_url)
    monkeypatch.setenv("SUMMARIZER_CONNECT_TIMEOUT", "0.5")
    down = run("run", "--allow-private")
    assert down.exit_code == 1
    said = down.stderr.splitlines()
    assert said[-1].startswith("error: Ollama is not reachable")
    assert said[-2].startswith("run: ") and "0 done, 0 failed, 1 left pending" in said[-2]
    assert [e.status for e in ledger_entries()] == ["pending"]
    monkeypatch.setenv("OLLAMA_HOST", standin)
    up = run("run", "--allow-private")
    assert up.exit_code == 0 and len(records(up.stdout)) == 1

    # Down again, with a new entry: the model facts an earlier run remembered do not hide it.
    later = corpus_stories()[1]
    publish(site, "/a/1", later)
    site.add("/f.xml", rss([item_for(site, f"/a/{i}", s, i) for i, s in enumerate([story, later])]))
    monkeypatch.setenv("OLLAMA_HOST", closed_ollama_url)
    down = run("run", "--allow-private")
    assert down.exit_code == 1
    assert down.stderr.splitlines()[-1].startswith("error: Ollama is not reachable")
    assert sorted(e.status for e in ledger_entries()) == ["done", "pending"]


def feed_of(site: FeedSite, n: int, words: int = 160) -> list[Story]:
    """A feed "wire" of `n` synthetic stories, each with its page."""
    stories = [synthetic_story(i, words) for i in range(n)]
    for i, s in enumerate(stories):
        publish(site, f"/a/{i}", s)
    site.add("/f.xml", rss([item_for(site, f"/a/{i}", s, i) for i, s in enumerate(stories)]))
    run("feeds", "add", site.url + "/f.xml", "--name", "wire")
    return stories


def run_in_background(out: Path, **env: str) -> tuple[subprocess.Popen[str], list[str]]:
    """`summarizer run` writing to `out` in a process of its own, and its arguments."""
    args = ["run", "--allow-private", "--parallel", "2", "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "summarizer", *args],
        cwd=ROOT,
        env=dict(os.environ, **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, args


def wait_until(proc: subprocess.Popen[str], done: Callable[[], bool], failure: str) -> None:
    """Until `done()`, for at most a minute, while the process lives."""
    deadline = time.monotonic() + 60
    while not done():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, failure
        time.sleep(0.02)


def test_a_run_killed_midway_resumes_without_redoing_or_losing_work(
    site: FeedSite, ollama_env: StandinOllama, tmp_path: Path
) -> None:
    stories = feed_of(site, 12)
    ollama_env.latency = 0.2
    out = tmp_path / "out.jsonl"
    proc, args = run_in_background(out)
    wait_until(
        proc,
        lambda: out.exists() and len(out.read_text().splitlines()) >= 3,
        "the run made no progress",
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.stderr is not None
    proc.stderr.close()
    before = chats(ollama_env)
    done_before = {r["title"] for r in records(out.read_text())}
    assert 3 <= len(done_before) < len(stories)

    digest = tmp_path / "digest.md"
    resumed = run(*args, "--digest", str(digest))
    assert resumed.exit_code == 0, resumed.output
    lines = records(out.read_text())
    assert sorted(r["title"] for r in lines) == sorted(s.title for s in stories)  # once each
    # The killed run wrote no digest: this one has its stories too, and says so.
    text = digest.read_text(encoding="utf-8")
    assert all(f"*{title}*" in text for title in done_before)
    assert f"{len(stories)} stories from 1 feed" in text
    assert f"{len(done_before)} of them finished by an earlier run" in text
    again = run(*args, "--digest", str(digest))  # and once only
    assert "0 stories" in digest.read_text(encoding="utf-8") and again.exit_code == 0
    after = chats(ollama_env)[len(before) :]
    assert not {title for _, title in after} & done_before  # nothing finished is done again
    repeated = [k for k, n in Counter(before + after).items() if n > 1]
    assert len(repeated) <= 2  # at most the requests in flight at the kill (--parallel 2)
    assert Counter(task for task, _ in set(before + after)) == {"summary": 12, "claims": 12}
    entries = ledger_entries()
    assert {e.status for e in entries} == {"done"}
    assert all(e.attempts == 1 for e in entries if e.title in done_before)


def test_ctrl_c_stops_at_once_and_the_next_run_finishes(
    site: FeedSite, ollama_env: StandinOllama, tmp_path: Path
) -> None:
    """Ctrl-C while model requests are in flight: out in a moment with one line (not after the
    replies, which can take minutes), and the entries they were for are done by the next run."""
    stories = feed_of(site, 6)
    # Replies that take minutes; the run must be out long before one comes (however loaded
    # the machine: the bound is a quarter of a reply, not a speed).
    ollama_env.latency = 120.0
    out = tmp_path / "out.jsonl"
    proc, args = run_in_background(out, SUMMARIZER_READ_TIMEOUT="300")
    requests = ollama_env.requests
    wait_until(proc, lambda: len(requests("/api/chat")) >= 2, "no model request was made")
    interrupted = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert time.monotonic() - interrupted < ollama_env.latency / 4
    assert proc.returncode == 130
    assert stderr.strip().splitlines()[-1] == "interrupted"
    assert "Traceback" not in stderr
    assert {e.status for e in ledger_entries()} == {"pending"}

    ollama_env.latency = 0.0
    resumed = run(*args)
    assert resumed.exit_code == 0, resumed.output
    assert sorted(r["title"] for r in records(out.read_text())) == sorted(s.title for s in stories)


def test_ctrl_c_while_pages_are_embedded_drops_the_batch_at_once(
    site: FeedSite, ollama_env: StandinOllama, tmp_path: Path
) -> None:
    """Ctrl-C while a batch of long pages is being embedded (seconds of work on a real
    embedder): the embedding stops at its next slice, nothing of the batch is stored, and the
    next run stores and finishes every entry."""
    stories = feed_of(site, 8, words=5000)
    ollama_env.latency = 2.0  # per request of 32 texts; the batch needs several rounds of them
    out = tmp_path / "out.jsonl"
    embedder = {"SUMMARIZER_EMBEDDER": "ollama:nomic-embed-text"}
    proc, args = run_in_background(out, **embedder)
    wait_until(proc, lambda: bool(ollama_env.requests("/api/embed")), "nothing was embedded")
    at_interrupt = len(ollama_env.requests("/api/embed"))
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    # The embedding stopped at its next slice: at most one more round of requests (two, one per
    # slot), not the rest of the batch - counted, not timed, so that load does not matter.
    assert len(ollama_env.requests("/api/embed")) - at_interrupt <= 2
    assert proc.returncode == 130, stderr
    assert pipeline.list_articles(Settings.from_env()) == []
    assert {e.status for e in ledger_entries()} == {"pending"}

    ollama_env.latency = 0.0
    resumed = subprocess.run(
        [sys.executable, "-m", "summarizer", *args],
        cwd=ROOT,
        env=dict(os.environ, **embedder),
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(r["title"] for r in records(out.read_text())) == sorted(s.title for s in stories)


def test_a_run_that_loses_ollama_midway_reports_what_it_finished(
    site: FeedSite, ollama_env: StandinOllama, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    feed_of(site, 6)
    monkeypatch.setenv("SUMMARIZER_CONNECT_TIMEOUT", "0.5")

    def pull_the_plug() -> None:  # after two entries' worth of model calls
        deadline = time.monotonic() + 60
        while len(ollama_env.requests("/api/chat")) < 8 and time.monotonic() < deadline:
            time.sleep(0.005)
        ollama_env.stop()

    threading.Thread(target=pull_the_plug, daemon=True).start()
    digest = tmp_path / "digest.md"
    down = run("run", "--allow-private", "--parallel", "1", "--digest", str(digest))
    assert down.exit_code == 1
    done = records(down.stdout)
    assert done, down.stderr
    said = down.stderr.splitlines()
    assert said[-1].startswith("error: Ollama is not reachable")
    closing = next(line for line in said if line.startswith("run: "))
    assert f"{len(done)} done" in closing
    text = digest.read_text(encoding="utf-8")
    assert "The run stopped early: Ollama is not reachable" in text
    for record in done:  # the stories it finished are in its digest
        assert record["title"].replace("_", "\\_") in text or record["title"] in text
    statuses = [e.status for e in ledger_entries()]
    assert statuses.count("done") == len(done) and "pending" in statuses
