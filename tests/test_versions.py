"""Versions of articles: refresh against a real local server whose page changes between requests
(a corrected figure, a removed paragraph, a changed headline, whitespace, a date stamp, a 304);
history, diff, old citations resolving; the catalog migrating in place; a kill mid-refresh."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from summarizer import pipeline
from summarizer.cli import cli
from summarizer.config import Settings
from tests.standin_ollama import StandinOllama

FIRST = (
    "Exchange keeps Russian accounts open\n\n"
    "The exchange said on Monday that it had frozen 1.5 billion dollars of assets held by "
    "sanctioned Russian clients, far more than regulators had expected from it.\n\n"
    "Its chief executive told reporters that ordinary Russian users would keep their accounts, "
    "because closing them would punish people who had nothing to do with the war.\n\n"
    "Regulators in Europe have asked every large exchange to report what it holds for clients "
    "in Russia and Belarus by the end of the month, and to name the banks they use.\n"
)


@dataclass
class Page:
    body: str
    etag: str | None = "v1"
    location: str | None = None  # a redirect


@dataclass
class EditedSite:
    """A real HTTP server on 127.0.0.1 whose pages the test edits between requests; it answers
    a conditional GET with 304 while the page's ETag is the one asked about."""

    url: str
    pages: dict[str, Page]
    asked: list[tuple[str, int]] = field(default_factory=list)  # (path, status)

    def page(self, path: str) -> str:
        return f"{self.url}{path}"


@pytest.fixture
def edited() -> Iterator[EditedSite]:
    site = EditedSite("", {})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            # Each request is noted before it is answered: a client that has its answer finds
            # it in `asked` (noted after, it could race the test's next look).
            page = site.pages.get(self.path)
            if page is None:
                site.asked.append((self.path, 404))
                self.send_response(404)
                self.end_headers()
                return
            if page.location:
                site.asked.append((self.path, 301))
                self.send_response(301)
                self.send_header("Location", page.location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if page.etag and self.headers.get("If-None-Match") == page.etag:
                site.asked.append((self.path, 304))
                self.send_response(304)
                self.send_header("ETag", page.etag)
                self.end_headers()
                return
            body = page.body.encode()
            site.asked.append((self.path, 200))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            if page.etag:
                self.send_header("ETag", page.etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield site
    server.shutdown()
    server.server_close()


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def _stored(site: EditedSite, path: str = "/story") -> str:
    site.pages[path] = Page(FIRST)
    result = run("ingest", site.page(path), "--allow-private", "--json")
    assert result.exit_code == 0, result.output
    aid: str = json.loads(result.stdout)[0]["article_id"]
    return aid


def _refresh(*args: str) -> tuple[list[dict[str, Any]], str]:
    result = run("refresh", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr


def test_a_304_and_an_unchanged_page_cost_nothing(hash_embedder: str, edited: EditedSite) -> None:
    aid = _stored(edited)
    items, line = _refresh("--all")
    assert [i["status"] for i in items] == ["unchanged"] and items[0]["version"] == 1
    assert edited.asked[-1] == ("/story", 304)  # the ETag of the first fetch was sent back
    assert "0 chunks embedded, 0 model calls" in line
    edited.pages["/story"].etag = None  # a server without validators: 200, the same text
    items, line = _refresh(aid)
    assert edited.asked[-1] == ("/story", 200)
    assert [i["status"] for i in items] == ["unchanged"] and "0 chunks embedded" in line
    assert len(pipeline.history(Settings.from_env(), aid)) == 1


def test_whitespace_and_a_date_stamp_are_not_a_new_version(
    hash_embedder: str, edited: EditedSite
) -> None:
    aid = _stored(edited)
    spaced = FIRST.replace(" said on", "  said\non").replace("\n\nIts", "\n\n\n   Its")
    stamped = spaced.replace("\n\nRegulators", "\n\nUpdated 10:32 GMT, 3 March 2022\n\nRegulators")
    for body, etag in ((spaced, "v2"), (stamped, "v3")):
        edited.pages["/story"] = Page(body, etag)
        items, line = _refresh(aid)
        assert items[0]["status"] == "unchanged", body
        assert "0 chunks embedded" in line
    settings = Settings.from_env()
    assert len(pipeline.history(settings, aid)) == 1
    assert pipeline.get_article(settings, aid).text.startswith("Exchange keeps")
    edited.pages["/story"] = Page(stamped, "v3")
    items, _ = _refresh(aid)
    assert edited.asked[-1] == ("/story", 304)  # the validators of the last fetch were kept


def test_a_corrected_figure_is_a_new_version_and_the_report_names_what_the_text_no_longer_says(
    hash_embedder: str, edited: EditedSite, ollama_env: StandinOllama
) -> None:
    aid = _stored(edited)
    for task in ("summarize", "claims"):
        made = run(task, aid, "--json")
        assert made.exit_code == 0, made.output
    settings = Settings.from_env()
    old = pipeline.get_article(settings, aid)
    old_claims = json.loads(run("claims", aid, "--json").stdout)
    quotes = [c["quote"] for claim in old_claims["claims"] for c in claim["citations"]]
    assert any("1.5 billion" in q for q in quotes)  # a claim cites the figure to be corrected
    edited.pages["/story"] = Page(FIRST.replace("1.5 billion", "2.5 billion"), "v2")
    calls = len(ollama_env.requests("/api/chat"))
    items, line = _refresh(aid)
    assert "1 updated" in line
    (item,) = items
    assert item["status"] == "updated" and item["version"] == 2
    assert (item["words_added"], item["words_removed"]) == (1, 1)
    assert len(ollama_env.requests("/api/chat")) > calls  # summary and claims were made again
    by_task = {o["task"]: o for o in item["outputs"]}
    assert set(by_task) == {"summarize", "claims"}
    gone = [v["quote"] for v in by_task["claims"]["no_longer_says"]]
    assert gone and all("1.5 billion" in q for q in gone)
    # The old citations still resolve, to the exact words of the version they were made on.
    catalog = pipeline.open_corpus(settings)
    try:
        for claim in old_claims["claims"]:
            for c in claim["citations"]:
                assert c["content_hash"] == old.content_hash
                text = catalog.catalog.text_of(aid, c["content_hash"])
                assert text is not None and text[c["start"] : c["end"]] == c["quote"]
    finally:
        catalog.close()
    shown = run("show", aid, "--version", "1", "--json")
    assert json.loads(shown.stdout)["text"] == old.text
    assert "2.5 billion" in pipeline.get_article(settings, aid).text
    # Search and new answers see the new text only.
    hits = pipeline.search(settings, "frozen billion dollars of assets", k=5)
    assert hits and all("1.5 billion" not in h.text for h in hits)
    edited.pages["/story"] = Page(FIRST.replace("1.5 billion", "3.5 billion"), "v3")
    text_report = run("refresh", aid)
    assert text_report.exit_code == 0 and "1 updated" in text_report.stderr
    assert f"{aid}  version 3 (+1/-1 words)" in text_report.stdout
    lines = text_report.stdout.splitlines()[1:]
    gone = [n for n, line in enumerate(lines) if line.startswith("  the article no longer says")]
    assert gone == list(range(len(gone))) and gone and "2.5 billion" in lines[0]  # first
    assert any(line.startswith("  claim added: ") and "3.5 billion" in line for line in lines)


def test_history_and_diff_of_a_removed_paragraph_and_a_changed_headline(
    hash_embedder: str, edited: EditedSite
) -> None:
    aid = _stored(edited)
    removed = FIRST.replace(FIRST.split("\n\n")[2] + "\n\n", "")
    edited.pages["/story"] = Page(removed, "v2")
    _refresh(aid)
    retitled = removed.replace("Exchange keeps Russian accounts open", "Exchange closes accounts")
    edited.pages["/story"] = Page(retitled, "v3")
    _refresh(aid)
    history = json.loads(run("history", aid, "--json").stdout)
    assert [h["n"] for h in history] == [1, 2, 3]
    assert history[1]["words_removed"] == len(FIRST.split("\n\n")[2].split())
    assert history[1]["words_added"] == 0 and not history[1]["title_changed"]
    assert history[2]["title_changed"] and history[2]["title"] == "Exchange closes accounts"
    latest = json.loads(run("diff", aid, "--json").stdout)
    assert (latest["a"], latest["b"]) == (2, 3)
    assert latest["title"] == ["Exchange keeps Russian accounts open", "Exchange closes accounts"]
    first = json.loads(run("diff", aid, "1", "2", "--json").stdout)
    (change,) = first["changes"]
    assert change["op"] == "delete" and "ordinary Russian users" in change["removed"]
    text = run("diff", aid, "1", "2")
    assert text.exit_code == 0 and "[-Its chief executive" in text.stdout
    assert run("diff", aid, "1", "9").exit_code == 1
    assert "has no version 9" in run("show", aid, "--version", "9").output
    listed = run("history", aid)
    assert listed.exit_code == 0 and "(title changed)" in listed.stdout


def test_refresh_reports_a_failed_page_and_goes_on_with_the_rest(
    hash_embedder: str, edited: EditedSite
) -> None:
    _stored(edited, "/a")
    aid_b = _stored(edited, "/b")
    del edited.pages["/a"]  # now 404
    edited.pages["/b"] = Page(FIRST.replace("Monday", "Tuesday"), "v2")
    result = run("refresh", "--all")
    assert result.exit_code == 1
    assert f"error: {edited.page('/a')}: HTTP 404" in result.stderr
    assert "1 updated, 0 unchanged, 1 failed" in result.stderr
    assert len(pipeline.history(Settings.from_env(), aid_b)) == 2
    nothing = run("refresh")  # neither ids nor --all
    assert nothing.exit_code == 2 and "nothing to refresh" in nothing.output
    assert edited.asked.count(("/b", 200)) == 2  # nothing was fetched for it


def test_a_data_dir_of_an_earlier_schema_migrates_in_place_and_loses_nothing(
    hash_embedder: str, corpus_copy: Path
) -> None:
    import sqlite3

    from summarizer.corpus.sqlite import SCHEMA_VERSION
    from summarizer.corpus.sqlite import SqliteCatalog as Catalog

    settings = Settings.from_env()
    pipeline.ingest(settings, [str(corpus_copy)])
    before = {a.id: a.text for a in pipeline.list_articles(settings)}
    aid = next(iter(before))
    for old in ("2", "3", "4", "5"):
        db = sqlite3.connect(settings.catalog_path)  # as that version left it
        if old != "5":
            db.execute("DROP TABLE chunk_text")  # the lexical index, without titles
            db.execute(
                "CREATE VIRTUAL TABLE chunk_text USING fts5 (text, chunk_id UNINDEXED,"
                " article_id UNINDEXED, tokenize = 'porter unicode61 remove_diacritics 2')"
            )
            db.execute("INSERT INTO chunk_text SELECT 'x', id, article_id FROM chunks")
        db.execute("ALTER TABLE articles DROP COLUMN allow_private")  # recorded since 6
        if old not in ("4", "5"):
            db.execute("DROP TABLE versions")
            db.execute("DROP TABLE outputs")
        if old == "3":
            db.execute(
                "CREATE TABLE outputs (article_id TEXT NOT NULL, task TEXT NOT NULL,"
                " content_hash TEXT NOT NULL, made_at TEXT NOT NULL, data TEXT NOT NULL,"
                " PRIMARY KEY (article_id, task))"
            )
            db.execute("INSERT INTO outputs VALUES (?, 'summarize', 'h', 'now', '{}')", (aid,))
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (old,))
        db.commit()
        db.close()
        catalog = Catalog(settings.catalog_path)
        try:
            assert catalog.meta("schema_version") == SCHEMA_VERSION == "6"
            assert catalog.get(aid).allow_private is False  # no permission assumed
            assert catalog.lexical(["binance"], 3), "the lexical index holds the texts again"
            assert [v.n for v in catalog.versions(aid)] == [1]
            assert catalog.version_text(aid, 1) == before[aid]
            if old == "3":
                assert catalog.output(aid, "summarize") == ("h", "now", "{}")
        finally:
            catalog.close()
    assert {a.id: a.text for a in pipeline.list_articles(settings)} == before
    db = sqlite3.connect(settings.catalog_path)
    titled = db.execute(
        "SELECT count(*) FROM chunk_text JOIN articles ON articles.id = chunk_text.article_id"
        " WHERE chunk_text.title = articles.title"
    ).fetchone()[0]
    chunks = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
    db.close()
    assert titled == chunks > 0  # every chunk indexed with its article's title
    assert pipeline.search(settings, "Binance Russia", k=3)


KILLED_REFRESH = """
import sys, time
from summarizer import refresh
from summarizer.corpus import ingest
from summarizer.config import Settings
from summarizer.corpus.embed import HashEmbedder

ingest.EMBED_BATCH = 1  # every article stored on its own: a kill lands between any two
real = HashEmbedder.embed
def slow(self, texts):
    time.sleep(0.03)
    return real(self, texts)
HashEmbedder.embed = slow
settings = Settings.from_env()
chosen = refresh.select(settings, every=True)
print("ready", flush=True)
refresh.refresh(settings, chosen)
"""


@pytest.mark.parametrize("delay", [1.2, 2.0, 2.8])
def test_a_refresh_killed_at_any_moment_leaves_each_article_old_or_new_and_whole(
    hash_embedder: str, edited: EditedSite, delay: float
) -> None:
    import signal
    import subprocess
    import sys
    import time

    from summarizer.corpus.sqlite import SqliteCatalog as Catalog
    from tests.test_crash import ROOT, assert_visible_state_is_whole

    ids = {f"/s{i}": _stored(edited, f"/s{i}") for i in range(40)}
    settings = Settings.from_env()
    old = {a.id: a for a in pipeline.list_articles(settings)}
    for path in ids:
        edited.pages[path] = Page(FIRST.replace("Monday", f"Tuesday{path[2:]}"), "v2")
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_REFRESH], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert_visible_state_is_whole(settings)

    def check(must_be_new: bool) -> int:
        catalog = Catalog(settings.catalog_path)
        new = 0
        try:
            for aid, was in old.items():
                now = catalog.get(aid)
                assert now is not None
                versions = catalog.versions(aid)
                assert versions[-1].content_hash == now.content_hash
                assert catalog.version_text(aid, 1) == was.text  # the first text, whole
                if now.content_hash == was.content_hash:
                    assert len(versions) == 1 and not must_be_new
                else:
                    assert len(versions) == 2 and "Tuesday" in now.text
                    new += 1
        finally:
            catalog.close()
        return new

    done = check(must_be_new=False)
    items, line = _refresh("--all")
    assert sum(i["status"] == "updated" for i in items) == len(old) - done, line
    assert check(must_be_new=True) == len(old)


@pytest.fixture
def feed_site(hash_embedder: str, ollama_env: StandinOllama) -> Iterator[Any]:
    from tests.feed_site import FeedSite

    with FeedSite() as s:
        yield s


def _wire(feed_site: Any) -> tuple[Any, Any]:
    """An Atom feed "wire" of one story with its page: (the story, its feed item)."""
    from tests.feed_site import Story, atom
    from tests.test_batch import item_for, publish

    story = Story("Exchange keeps Russian accounts open", FIRST.split("\n\n", 1)[1])
    publish(feed_site, "/a/0", story)
    item = item_for(feed_site, "/a/0", story, 0)
    feed_site.add("/f.atom", atom([item]), content_type="application/atom+xml")
    assert run("feeds", "add", feed_site.url + "/f.atom", "--name", "wire").exit_code == 0
    return story, item


def test_an_updated_feed_item_makes_a_new_version_with_the_claim_report_in_line_and_digest(
    feed_site: Any, ollama_env: StandinOllama, tmp_path: Path
) -> None:
    from tests.feed_site import Story, atom
    from tests.test_batch import publish, records

    story, item = _wire(feed_site)
    first = run("run", "--allow-private")
    assert first.exit_code == 0, first.output
    (line,) = records(first.stdout)
    aid = line["article_id"]
    # The page is corrected; nothing in the feed says so yet: a plain run does not look.
    corrected = Story(story.title, story.text.replace("1.5 billion", "2.5 billion"))
    publish(feed_site, "/a/0", corrected)
    quiet = run("run", "--allow-private")
    assert quiet.exit_code == 0 and quiet.stdout == ""
    assert len(pipeline.history(Settings.from_env(), aid)) == 1
    # The feed updates the item: its page is read again after the new entries.
    item.published = (item.published or 0) + 3600
    feed_site.add("/f.atom", atom([item]), content_type="application/atom+xml")
    digest = tmp_path / "digest.md"
    updated = run("run", "--allow-private", "--digest", str(digest))
    assert updated.exit_code == 0, updated.output
    (update,) = records(updated.stdout)
    assert update["kind"] == "update" and update["entry_id"] == line["entry_id"]
    assert update["article_id"] == aid and update["version"] == 2
    assert update["claims_changed"] >= 2  # the claim with the old figure dropped, one added
    gone = [q["quote"] for o in update["outputs"] for q in o["no_longer_says"]]
    assert gone and all("1.5 billion" in q for q in gone)
    assert "1 rechecked (1 updated)" in updated.stderr
    text = digest.read_text(encoding="utf-8")
    assert "## Updated since they were summarised" in text
    assert "claims changed" in text and "the article no longer says “" in text
    # Done once: the next run does not read the page again.
    again = run("run", "--allow-private")
    assert again.exit_code == 0 and again.stdout == "" and "rechecked" not in again.stderr
    # --recheck DAYS reads the pages of entries done lately, changed in the feed or not.
    publish(feed_site, "/a/0", Story(story.title, corrected.text.replace("Monday", "Friday")))
    rechecked = run("run", "--allow-private", "--recheck", "2")
    assert rechecked.exit_code == 0, rechecked.output
    (late,) = records(rechecked.stdout)
    assert late["version"] == 3 and "1 rechecked (1 updated)" in rechecked.stderr


def test_an_rss_item_edited_only_in_its_date_or_title_is_read_again(
    feed_site: Any, ollama_env: StandinOllama
) -> None:
    """RSS has no updated date: an edit may show only as a new pubDate or a new title."""
    from tests.feed_site import Story, rss
    from tests.test_batch import item_for, publish, records

    story = Story("Exchange keeps Russian accounts open", FIRST.split("\n\n", 1)[1])
    publish(feed_site, "/a/0", story)
    item = item_for(feed_site, "/a/0", story, 0)
    feed_site.add("/f.xml", rss([item]))
    assert run("feeds", "add", feed_site.url + "/f.xml", "--name", "wire").exit_code == 0
    assert run("run", "--allow-private").exit_code == 0
    text = story.text
    for edit, figure in (("published", "2.5 billion"), ("title", "3.5 billion")):
        text = text.replace("1.5 billion" if figure == "2.5 billion" else "2.5 billion", figure)
        publish(feed_site, "/a/0", Story(story.title, text))
        if edit == "published":
            item.published = (item.published or 0) + 3600
        else:
            item.title = "Exchange keeps Russian accounts open, corrected"
        feed_site.add("/f.xml", rss([item]))
        ran = run("run", "--allow-private")
        assert ran.exit_code == 0, ran.output
        (update,) = records(ran.stdout)
        assert update["kind"] == "update", edit
        assert "1 rechecked (1 updated)" in ran.stderr, edit
    quiet = run("run", "--allow-private")  # nothing edited since: not read again
    assert quiet.exit_code == 0 and "rechecked" not in quiet.stderr


def test_refresh_chooses_by_date_and_by_feed(
    feed_site: Any, ollama_env: StandinOllama, edited: EditedSite
) -> None:
    from tests.feed_site import Story, rss
    from tests.test_batch import item_for, publish

    loose = _stored(edited, "/loose")  # stored by hand, from no feed
    story = Story("Exchange keeps Russian accounts open", FIRST.split("\n\n", 1)[1])
    publish(feed_site, "/a/0", story)
    feed_site.add("/f.xml", rss([item_for(feed_site, "/a/0", story, 0)]))
    assert run("feeds", "add", feed_site.url + "/f.xml", "--name", "wire").exit_code == 0
    assert run("run", "--allow-private").exit_code == 0
    settings = Settings.from_env()
    from_feed = {a.id for a in pipeline.list_articles(settings)} - {loose}
    items, _ = _refresh("--feed", "wire")
    assert {i["article_id"] for i in items} == from_feed
    items, _ = _refresh("--since", "2000-01-01")
    assert {i["article_id"] for i in items} == from_feed | {loose}
    items, _ = _refresh("--since", "2999-01-01")
    assert items == []
    bad = run("refresh", "--since", "yesterday")
    assert bad.exit_code != 0 and "not a date" in bad.output
    assert "no feed" in run("refresh", "--feed", "nope").output.lower()
    assert run("refresh", loose, "--all").exit_code != 0  # ids or a selection, not both


def test_a_ledger_of_schema_1_gains_the_columns_of_updated_items(feed_site: Any) -> None:
    import sqlite3

    from summarizer.feeds import open_ledger
    from tests.feed_site import Story, rss
    from tests.test_batch import item_for, publish

    story = Story("Exchange keeps Russian accounts open", FIRST.split("\n\n", 1)[1])
    publish(feed_site, "/a/0", story)
    feed_site.add("/f.xml", rss([item_for(feed_site, "/a/0", story, 0)]))
    assert run("feeds", "add", feed_site.url + "/f.xml", "--name", "wire").exit_code == 0
    settings = Settings.from_env()
    with open_ledger(settings) as ledger:
        path = ledger.path
    db = sqlite3.connect(path)  # as the previous version left it
    for column in ("updated", "recheck"):
        db.execute(f"ALTER TABLE entries DROP COLUMN {column}")
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    result = run("run", "--allow-private")
    assert result.exit_code == 0, result.output
    with open_ledger(settings) as ledger:
        assert [e.status for e in ledger.entries()] == ["done"]
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("2",)
    db.close()


def test_a_refresh_without_its_model_keeps_the_new_version_and_says_what_it_could_not_redo(
    hash_embedder: str,
    edited: EditedSite,
    ollama_env: StandinOllama,
    monkeypatch: Any,
    closed_ollama_url: str,
) -> None:
    aid = _stored(edited)
    assert run("claims", aid).exit_code == 0
    edited.pages["/story"] = Page(FIRST.replace("1.5 billion", "2.5 billion"), "v2")
    monkeypatch.setenv("OLLAMA_HOST", closed_ollama_url)
    result = run("refresh", aid)
    assert result.exit_code == 1
    assert "the article no longer says “" in result.stdout  # found without the model
    assert "claims: could not be made again: " in result.stdout
    assert len(pipeline.history(Settings.from_env(), aid)) == 2
    # The claims made on the old text stay due work: the next refresh makes them, though the
    # page answers 304 now; the one after has nothing left to do.
    monkeypatch.setenv("OLLAMA_HOST", ollama_env.url)
    items, line = _refresh(aid)
    assert items[0]["status"] == "unchanged" and edited.asked[-1] == ("/story", 304)
    (change,) = items[0]["outputs"]
    assert change["task"] == "claims" and change["error"] is None, change
    assert "1 with summaries or claims made again" in line and " 0 model calls" not in line
    settings = Settings.from_env()
    latest = pipeline.get_article(settings, aid).content_hash
    with pipeline.open_corpus(settings) as corpus:
        assert corpus.catalog.output(aid, "claims", latest) is not None
    items, line = _refresh(aid)
    assert items[0]["outputs"] == [] and "0 model calls" in line


def test_a_sentence_that_starts_like_a_stamp_is_a_change() -> None:
    from summarizer.corpus.versions import same_substance

    base = "Title\n\nThe story begins here.\n\n{}\n\nIt ends here."
    for old, new in [
        ("Updated figures show 12 people died", "Updated figures show 45 people died"),
        ("Published results: 52% voted yes.", "Published results: 48% voted yes."),
        ("Edited 2 times: the minister resigned.", "Edited 2 times: the minister did not."),
        ("Modified vehicles caused 7 crashes.", ""),
    ]:
        assert not same_substance(base.format(old), base.format(new)), old
    for stamp in ("Updated 10:32 GMT, 3 March 2022", "Last modified: 2022-03-03 14:05"):
        assert same_substance(base.format(""), base.format(stamp)), stamp


def test_a_page_that_now_redirects_is_a_new_version_of_its_article(
    hash_embedder: str, edited: EditedSite
) -> None:
    aid = _stored(edited, "/old-slug")
    edited.pages["/new-slug"] = Page(FIRST.replace("Monday", "Tuesday"), "n1")
    edited.pages["/old-slug"] = Page("", None, location="/new-slug")  # the slug changed
    items, line = _refresh(aid)
    assert [i["status"] for i in items] == ["updated"] and items[0]["article_id"] == aid, line
    settings = Settings.from_env()
    assert [a.id for a in pipeline.list_articles(settings)] == [aid]
    assert len(pipeline.history(settings, aid)) == 2


def test_a_recheck_that_failed_is_tried_again_by_the_next_run(
    feed_site: Any, ollama_env: StandinOllama
) -> None:
    from tests.feed_site import Story, atom
    from tests.test_batch import publish, records

    story, item = _wire(feed_site)
    assert run("run", "--allow-private").exit_code == 0
    item.published = (item.published or 0) + 3600  # the feed updates the item ...
    feed_site.add("/f.atom", atom([item]), content_type="application/atom+xml")
    corrected = Story(story.title, story.text.replace("1.5 billion", "2.5 billion"))
    publish(feed_site, "/a/0", corrected)
    feed_site.resources["/a/0"].fail_status, feed_site.resources["/a/0"].fail_times = 503, 5
    failed = run("run", "--allow-private")  # ... but its page fails just then
    assert failed.exit_code == 1 and "recheck" in failed.stderr and "503" in failed.stderr
    feed_site.resources["/a/0"].fail_times = 0
    again = run("run", "--allow-private")
    assert again.exit_code == 0, again.output
    (update,) = records(again.stdout)
    assert update["kind"] == "update" and update["version"] == 2


def _intranet_at(monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    """The guard against private addresses as if the test server were on the public internet,
    but for the pages under `path` (there is no public server to test with here)."""
    from summarizer.errors import RefusedAddress
    from summarizer.reading import fetch

    def only_intranet(url: object, timeout: float = 5.0) -> None:
        if path in str(url):
            raise RefusedAddress(
                "refused: 127.0.0.1 is a loopback address",
                hint="pass --allow-private to fetch from intranet hosts",
            )

    monkeypatch.setattr(fetch, "check_public", only_intranet)
    monkeypatch.setattr(fetch, "_check_peer", lambda response: None)


def test_a_refresh_reads_a_page_only_with_the_permission_it_was_first_fetched_with(
    hash_embedder: str, edited: EditedSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page ingested without --allow-private that now redirects into the intranet is refused
    by refresh: nothing stored, its source not re-pointed. One ingested with --allow-private
    (recorded with the article) may follow its redirect there."""
    _intranet_at(monkeypatch, "/secret")
    edited.pages["/secret"] = Page(FIRST.replace("Monday", "Sunday"), "s1")
    edited.pages["/public"] = Page(FIRST)
    ingested = run("ingest", edited.page("/public"), "--json")
    assert ingested.exit_code == 0, ingested.output
    aid = json.loads(ingested.stdout)[0]["article_id"]
    shown = json.loads(run("show", aid, "--json").stdout)
    assert shown["allow_private"] is False and shown["source"] == edited.page("/public")

    edited.pages["/public"] = Page("", None, location="/secret")
    for refreshed in (run("refresh", aid), run("refresh", "--all")):
        assert refreshed.exit_code == 1
        assert (
            f"error: {edited.page('/public')}: refused: 127.0.0.1 is a loopback address (it was "
            "stored without --allow-private: ingest its URL again with --allow-private to allow it)"
        ) in refreshed.stderr
    assert ("/secret", 200) not in edited.asked
    settings = Settings.from_env()
    (article,) = pipeline.list_articles(settings)
    assert article.source == edited.page("/public") and "Monday" in article.text
    assert len(pipeline.history(settings, aid)) == 1

    allowed = _stored(edited, "/allowed")  # ingested with --allow-private
    assert json.loads(run("show", allowed, "--json").stdout)["allow_private"] is True
    edited.pages["/allowed"] = Page("", None, location="/secret")
    items, line = _refresh(allowed)
    assert [i["status"] for i in items] == ["updated"], line
    assert ("/secret", 200) in edited.asked


def test_an_article_removed_while_a_refresh_waited_is_not_stored_again(
    hash_embedder: str, edited: EditedSite
) -> None:
    """A refresh chose its articles, then waited for the write lock while `remove` deleted one:
    it reads only those still stored, and says so of the other."""
    from summarizer.refresh import refresh

    kept, gone = _stored(edited, "/kept"), _stored(edited, "/gone")
    settings = Settings.from_env()
    chosen = pipeline.list_articles(settings)  # as the refresh saw them before the lock
    assert run("remove", gone).exit_code == 0
    for page in ("/kept", "/gone"):
        edited.pages[page] = Page(FIRST.replace("Monday", "Tuesday"), "v2")
    report = refresh(settings, chosen)
    by_id = {i.result.article_id: i.result for i in report.items}
    assert by_id[kept].status == "updated"
    assert by_id[gone].status == "failed"
    assert by_id[gone].reason == "removed by another process meanwhile: not read again"
    assert [a.id for a in pipeline.list_articles(settings)] == [kept]
    assert ("/gone", 200) not in edited.asked[2:]  # not even fetched


def test_changes_a_few_words_apart_are_one_piece_of_the_diff() -> None:
    """Apart, the first piece showed as its context the old words the second one changes."""
    from summarizer.corpus.versions import diff, render_diff, words_changed

    old = "The exchange froze 1.5 billion dollars on Monday and said it would keep the accounts."
    new = "The exchange froze 2.5 billion dollars on Tuesday and said it would keep the accounts."
    (change,) = diff(old, new)
    assert change.removed == "1.5 billion dollars on Monday"
    assert change.added == "2.5 billion dollars on Tuesday"
    assert render_diff(diff(old, new)).count("[-") == 1
    # Counted as the words changed, not the unchanged ones between them.
    assert words_changed(diff(old, new)) == (2, 2)
    far = "One two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    changed = far.replace("two", "TWO").replace("thirteen", "THIRTEEN")
    assert len(diff(far, changed)) == 2  # far apart: two pieces, each with its own context
