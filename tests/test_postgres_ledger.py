"""The feed ledger and the reply cache on PostgreSQL: the same contract as the SQLite ones (each
test runs on both), and what a fleet sharing one database needs of them: an article claimed by
one worker only, an item read by two workers at once stored once, an entry done once, and calls
that go on when the server restarts."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from summarizer import feeds
from summarizer.config import Settings
from summarizer.errors import FeedError
from summarizer.feeds.ledger import Ledger
from summarizer.feeds.parse import FeedEntry
from summarizer.feeds.postgres import PgLedger
from summarizer.feeds.sqlite import SqliteLedger
from summarizer.llm.cache import ReplyCache
from summarizer.llm.pg_cache import PgReplyCache
from summarizer.llm.sqlite_cache import SqliteReplyCache
from tests.feed_site import Item, rss
from tests.postgres_server import PostgresServer

FEED_URL = "http://example.com/feed.xml"
LONG_TEXT = "A long enough text of the story, shared by both feeds word for word. " * 6

MakeLedger = Callable[[], Ledger]


@pytest.fixture(params=["sqlite", "postgres"])
def make_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeLedger]:
    """Opens the ledger under test (each call a new object on the same tables)."""
    opened: list[Ledger] = []

    def make() -> Ledger:
        ledger: Ledger
        if request.param == "sqlite":
            ledger = SqliteLedger(tmp_path / "ledger.sqlite3")
        else:
            ledger = PgLedger(request.getfixturevalue("database_url"))
        opened.append(ledger)
        return ledger

    yield make
    for ledger in opened:
        ledger.close()


@pytest.fixture
def pg(database_url: str) -> PgLedger:
    return PgLedger(database_url)


def parsed(items: list[Item]) -> list[FeedEntry]:
    return feeds.parse_feed(rss(items).encode(), url=FEED_URL).entries


def entry(key: str, *, link: str | None = None, text: str = "", title: str = "") -> FeedEntry:
    from summarizer.corpus import content_hash

    return FeedEntry(
        key=key, guid=key, link=link, title=title or key, published=None, author=None,
        content=text, content_type="text", content_hash=content_hash(text) if text else None,
        text_length=len(text),
    )  # fmt: skip


def fetch(ledger: Ledger, feed_id: int, entries: list[FeedEntry], **validators: Any) -> Any:
    validators = {"title": None, "etag": None, "last_modified": None, **validators}
    return ledger.record_fetch(feed_id, entries, **validators)


def set_seen_at(ledger: Ledger, entry_id: int, when: str) -> None:
    """Make an entry look first seen at `when` (the story window is by that date)."""
    if isinstance(ledger, SqliteLedger):
        ledger.execute("UPDATE entries SET seen_at = ? WHERE id = ?", (when, entry_id))
    else:
        assert isinstance(ledger, PgLedger)
        ledger._db.execute("UPDATE ledger_entries SET seen_at = %s WHERE id = %s", (when, entry_id))


# --- the contract, on both ---------------------------------------------------------------------


def test_feeds_names_and_removal(make_ledger: MakeLedger) -> None:
    with make_ledger() as ledger:
        a = ledger.add_feed("https://www.news.example/rss")
        b = ledger.add_feed("https://news.example/atom")
        assert (a.name, b.name) == ("news.example", "news.example-2")
        with pytest.raises(FeedError, match=r"already registered as 'news\.example'"):
            ledger.add_feed("https://www.news.example/rss")
        with pytest.raises(FeedError, match=r"a feed named 'news\.example' already exists"):
            ledger.add_feed("https://other.example/", "news.example")
        c = ledger.add_feed("https://other.example/", "news.example", unique=True)
        assert c.name == "news.example-3"
        # A name that only looks like a numbered one ("news_example") is another name.
        assert ledger.add_feed("https://u.example/", "news_example").name == "news_example"
        with pytest.raises(FeedError, match="not an http"):
            ledger.add_feed("javascript:alert(1)")
        assert ledger.feed_for_url(" https://news.example/atom ") == b
        assert [f.name for f in ledger.feeds(["news.example-3", "news.example"])] == [
            "news.example-3",
            "news.example",
        ]
        with pytest.raises(FeedError, match=r"no feed named 'nope'"):
            ledger.feeds(["nope"])
        entries = parsed([Item("x", link="http://e.com/x", guid="1")])
        record = fetch(ledger, a.id, entries, title="T", etag='"e"')
        assert len(record.new) == 1
        assert fetch(ledger, a.id, entries).known == 1
        assert ledger.counts() == {a.id: {"pending": 1, "done": 0, "failed": 0, "duplicate": 0}}
        feed, n = ledger.remove_feed("news.example")
        assert (feed.id, n) == (a.id, 1)
        assert ledger.entries() == []
        assert [f.name for f in ledger.feeds()] == [
            "news.example-2",
            "news.example-3",
            "news_example",
        ]
        with pytest.raises(FeedError, match=r"no feed named 'news\.example'"):
            ledger.feed("news.example")


def test_validators_errors_and_not_modified(make_ledger: MakeLedger) -> None:
    with make_ledger() as ledger:
        feed = ledger.add_feed("https://a.example/rss")
        assert (feed.title, feed.etag, feed.checked_at) == (None, None, None)
        fetch(ledger, feed.id, [], title="A", etag='"1"', last_modified="Mon, 01 Jan 2024")
        got = ledger.feed(feed.name)
        assert (got.title, got.etag, got.last_modified) == ("A", '"1"', "Mon, 01 Jan 2024")
        assert got.checked_at is not None and got.error is None
        ledger.record_feed_error(feed.id, "HTTP 500")
        assert ledger.feed(feed.name).error == "HTTP 500"
        ledger.record_not_modified(feed.id)
        assert ledger.feed(feed.name).error is None
        fetch(ledger, feed.id, [], title=None, etag=None)  # the title stays, the ETag goes
        got = ledger.feed(feed.name)
        assert (got.title, got.etag, got.last_modified) == ("A", None, None)
        assert got.as_dict()["name"] == "a.example"


def test_links_copies_and_orders_work(make_ledger: MakeLedger) -> None:
    with make_ledger() as ledger:
        a = ledger.add_feed("https://a.example/rss")
        b = ledger.add_feed("https://b.example/rss")
        items_a = [
            Item("One", link="https://x.example/1", guid="a1", published=1_700_000_300),
            Item("Two", guid="a2", description=LONG_TEXT, published=1_700_000_100),
            Item("Undated", link="https://x.example/3", guid="a3"),
        ]
        items_b = [
            Item("One again", link="https://X.example/1?utm_source=b", guid="b1"),
            Item("Two again", guid="b2", description=LONG_TEXT),
        ]
        ra = fetch(ledger, a.id, parsed(items_a))
        rb = fetch(ledger, b.id, parsed(items_b))
        assert (len(ra.new), ra.duplicates, len(rb.new), rb.duplicates) == (3, 0, 0, 2)
        copies = ledger.duplicates_of([*ra.new, 999_999])
        assert [c.title for c in copies[ra.new[0]]] == ["One again"]
        assert [c.title for c in copies[ra.new[1]]] == ["Two again"]
        assert copies[999_999] == []
        again = copies[ra.new[0]][0]
        assert (again.status, again.reason, again.feed, again.content) == (
            "duplicate", "same link", "b.example", ""
        )  # fmt: skip
        assert copies[ra.new[1]][0].reason == "same text in the feed"
        work = ledger.work([a.id, b.id])
        assert [w.title for w in work] == ["Two", "One", "Undated"]
        assert [w.title for w in ledger.work([a.id], since="2023-11-14T22:16:00")] == [
            "One",
            "Undated",
        ]
        assert len(ledger.work([a.id], limit=1)) == 1
        assert ledger.work([]) == []
        assert [e.id for e in ledger.entries(ids=ra.new[:2])] == ra.new[:2]
        assert len(ledger.entries([b.id], "duplicate")) == 2
        # A copy of a copy links to the first one.
        ledger.mark_duplicate(ra.new[2], again.id, "same story", 0.8)
        assert [c.title for c in ledger.duplicates_of([ra.new[0]])[ra.new[0]]] == [
            "Undated",
            "One again",
        ]
        undated = ledger.entries(ids=[ra.new[2]])[0]
        assert (undated.duplicate_of, undated.status) == (ra.new[0], "duplicate")


def test_distinct_items_stay_apart(make_ledger: MakeLedger) -> None:
    """Teasers whose markup is long but whose text is short are not "the same text"; in one
    feed a new guid is a new entry even with a link seen before."""
    image = "<p><img src='https://cdn.example/" + "x" * 300 + ".jpg'></p><p>Read more</p>"
    items = [
        Item("First", link="https://x.example/1", guid="g1", description=image),
        Item("Second", link="https://x.example/2", guid="g2", description=image),
        Item("Status A", link="https://status.example/", guid="s1"),
        Item("Status B", link="https://status.example/", guid="s2"),
    ]
    with make_ledger() as ledger:
        feed = ledger.add_feed("https://a.example/rss")
        record = fetch(ledger, feed.id, parsed(items))
        assert (len(record.new), record.duplicates) == (4, 0)


def test_states_work_and_output_lines(make_ledger: MakeLedger) -> None:
    with make_ledger() as ledger:
        feed = ledger.add_feed("https://a.example/rss")
        ids = fetch(ledger, feed.id, [entry(f"e{i}") for i in range(4)]).new
        ledger.begin(ids[0])
        ledger.begin(ids[0])
        ledger.mark_failed(ids[0], "HTTP 404")
        failed = ledger.entries(ids=[ids[0]])[0]
        assert (failed.status, failed.reason, failed.attempts) == ("failed", "HTTP 404", 2)
        assert [e.id for e in ledger.work([feed.id])] == ids[1:]
        assert [e.id for e in ledger.work([feed.id], retry_failed=True)] == ids
        before = (datetime.now(UTC) - timedelta(seconds=5)).isoformat(timespec="seconds")
        ledger.mark_stored(
            ids[1], article_id="art1", content_hash="h1", content_from="page",
            warnings=["short text"],
        )  # fmt: skip
        assert ledger.mark_done(ids[1], '{"title": "e1"}') is True
        assert ledger.mark_done(ids[1], '{"title": "again"}') is False
        done = ledger.entries(ids=[ids[1]])[0]
        assert (done.status, done.output, done.content) == ("done", '{"title": "e1"}', "")
        assert (done.article_id, done.content_from, done.warnings) == (
            "art1", "page", ("short text",)
        )  # fmt: skip
        assert [e.id for e in ledger.unemitted([feed.id])] == [ids[1]]
        assert ledger.done_since([feed.id], before) == []
        ledger.mark_emitted(ids[1])
        assert ledger.unemitted([feed.id]) == []
        assert [e.id for e in ledger.done_since([feed.id], before)] == [ids[1]]
        assert ledger.done_since([feed.id], "2999-01-01T00:00:00+00:00") == []
        # A failed entry done on a retry says nothing of its old failure.
        assert ledger.mark_done(ids[0], "{}") is True
        assert ledger.entries(ids=[ids[0]])[0].reason is None
        assert ledger.counts()[feed.id] == {"pending": 2, "done": 2, "failed": 0, "duplicate": 0}


def test_claims_and_same_articles(make_ledger: MakeLedger) -> None:
    with make_ledger() as ledger:
        feed = ledger.add_feed("https://a.example/rss")
        one, two, three = fetch(ledger, feed.id, [entry("1"), entry("2"), entry("3")]).new
        claim: dict[str, Any] = {"content_from": "page", "warnings": ()}
        assert ledger.claim_article(one, article_id="A", content_hash="HA", **claim) is None
        assert ledger.entries(ids=[one])[0].article_id == "A"
        # The same page (by id) or the same text (by hash) is the first entry's.
        assert ledger.claim_article(two, article_id="A", content_hash="HB", **claim) == one
        assert ledger.claim_article(two, article_id="B", content_hash="HA", **claim) == one
        assert ledger.entries(ids=[two])[0].article_id is None  # not claimed
        assert ledger.same_article(one, "A", "HA") is None  # its own article
        assert ledger.same_article(three, "A", "zzz") == one
        # A copy's article is not "another entry" with it.
        ledger.mark_duplicate(one, three, "same story")
        assert ledger.same_article(three, "A", "HA") is None
        assert ledger.claim_article(three, article_id="A", content_hash="HA", **claim) is None


def test_updated_items_are_rechecked(make_ledger: MakeLedger) -> None:
    with make_ledger() as ledger:
        feed = ledger.add_feed("https://a.example/rss")
        items = [entry("a", title="Title"), entry("b", title="Other"), entry("c")]
        a, b, c = fetch(ledger, feed.id, items).new
        for i, eid in enumerate((a, b)):
            ledger.mark_stored(
                eid, article_id=f"art{i}", content_hash=f"h{i}", content_from="page", warnings=[]
            )
            ledger.mark_done(eid, "{}")
        # Only white space changed in a's title; b's title was edited; c is not done.
        edited = [
            entry("a", title=" Title "),
            entry("b", title="Other, edited"),
            entry("c", title="C2"),
        ]
        record = fetch(ledger, feed.id, edited)
        assert (record.new, record.known, record.updated) == ([], 3, 1)
        assert ledger.to_recheck([feed.id]) == [(b, "art1")]
        assert ledger.entries(ids=[b])[0].title == "Other, edited"
        assert ledger.entries(ids=[c])[0].title == "C2"
        assert ledger.to_recheck([feed.id], days=1) == [(a, "art0"), (b, "art1")]
        ledger.rechecked([b])
        assert ledger.to_recheck([feed.id]) == []
        assert ledger.to_recheck([]) == []


def test_the_story_index(make_ledger: MakeLedger) -> None:
    with make_ledger() as ledger:
        feed = ledger.add_feed("https://a.example/rss")
        first, copy, other, old = fetch(ledger, feed.id, [entry(str(i)) for i in range(4)]).new
        base = -(2**63)  # hashes are signed 64-bit: the extremes fit
        story = frozenset(range(base, base + 20))
        ledger.stories.add(first, story)
        assert ledger.stories.similar(first, story) is None  # never itself
        near = frozenset(range(base + 5, base + 25))  # 15 of 20 in common
        assert ledger.stories.similar(copy, near) == (first, 0.75)
        assert ledger.stories.similar(copy, frozenset(range(base + 15, base + 35))) is None
        assert ledger.stories.similar(copy, frozenset(range(base, base + 5))) is None  # too few
        # Added again: replaced, not added to.
        ledger.stories.add(first, frozenset(range(1000, 1020)))
        assert ledger.stories.similar(copy, near) is None
        ledger.stories.add(first, story)
        # A story first seen before the window is not compared with.
        ledger.stories.add(old, frozenset(range(2**62, 2**62 + 10)))
        stale = (datetime.now(UTC) - timedelta(days=40)).isoformat(timespec="seconds")
        set_seen_at(ledger, old, stale)
        assert ledger.stories.similar(other, frozenset(range(2**62, 2**62 + 10))) is None
        ledger.stories.prune()
        set_seen_at(ledger, old, datetime.now(UTC).isoformat(timespec="seconds"))
        assert ledger.stories.similar(other, frozenset(range(2**62, 2**62 + 10))) is None
        # A copy's text is no story of its own.
        ledger.stories.add(copy, near)
        ledger.mark_duplicate(copy, first, "same story", 0.75)
        assert ledger.stories.similar(other, near) == (first, 0.75)
        row = ledger.entries(ids=[copy])[0]
        assert (row.status, row.duplicate_of, row.reason) == ("duplicate", first, "same story")


@pytest.fixture(params=["sqlite", "postgres"])
def reply_cache(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReplyCache]:
    cache: ReplyCache
    if request.param == "sqlite":
        cache = SqliteReplyCache(tmp_path / "cache.sqlite3")
    else:
        cache = PgReplyCache(request.getfixturevalue("database_url"))
    yield cache
    cache.close()


def test_the_reply_cache(reply_cache: ReplyCache) -> None:
    cache = reply_cache
    assert (cache.get("k"), len(cache), cache.known_model("m")) == (None, 0, None)
    stored = {"model": "m", "prompt_tokens": 12, "ratio": float("nan"), "nested": {"a": [1]}}
    meta = {"model": "m", "digest": "d1", "prompt_id": "summary", "prompt_version": "3"}
    cache.put("k", content='{"a": 1}', record=stored, **meta)
    hit = cache.get("k")
    assert hit is not None and hit.content == '{"a": 1}'
    assert hit.record["nested"] == {"a": [1]} and hit.record["ratio"] != hit.record["ratio"]
    cache.put("k", content='{"a": 2}', record={"model": "m"}, **meta)  # replaces
    assert cache.get("k") == type(hit)(content='{"a": 2}', record={"model": "m"})
    assert len(cache) == 1
    cache.remember_model("m", digest="d1", context_length=8192)
    cache.remember_model("m", digest="d2")  # what is not said again is kept
    known = cache.known_model("m")
    assert known is not None and known[:2] == ("d2", 8192)
    assert abs(known[2] - time.time()) < 60


def test_the_settings_choose_the_backend(database_url: str, tmp_path: Path) -> None:
    from summarizer.feeds import has_ledger, open_ledger
    from summarizer.llm.client import Ollama

    settings = Settings(home=tmp_path / "home", database_url=database_url)
    assert has_ledger(settings) is False  # and asking made no table
    with open_ledger(settings) as ledger:
        assert isinstance(ledger, PgLedger)
        assert has_ledger(settings) is False  # tables, but no feed yet
        ledger.add_feed("https://a.example/rss")
    assert has_ledger(settings) is True
    with Ollama(settings) as ollama:
        assert isinstance(ollama.cache, PgReplyCache)
    local = Settings(home=tmp_path / "home")
    assert isinstance(open_ledger(local), SqliteLedger) and has_ledger(local)
    with Ollama(local) as ollama:
        assert isinstance(ollama.cache, SqliteReplyCache)


def test_the_postgres_modules_are_not_imported_at_startup() -> None:
    code = (
        "import sys, summarizer.cli, summarizer.feeds, summarizer.feeds.postgres, "
        "summarizer.llm.pg_cache, summarizer.llm.client; "
        "print(sorted(m for m in sys.modules if m.startswith('psycopg')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- a fleet on one database (PostgreSQL only) -------------------------------------------------


def _together(n: int, work: Callable[[int], Any]) -> list[Any]:
    """`work(0)` .. `work(n - 1)` in n threads released at the same moment."""
    barrier = threading.Barrier(n)

    def go(i: int) -> Any:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(go, range(n)))


def test_an_article_is_claimed_by_one_worker_only(database_url: str) -> None:
    workers = [PgLedger(database_url), PgLedger(database_url)]
    feed = workers[0].add_feed("https://a.example/rss")
    for n in range(40):
        pair = fetch(workers[0], feed.id, [entry(f"{n}-a"), entry(f"{n}-b")]).new
        # By the page's id half of the time, by its exact text the other half.
        ids = [f"art{n}", f"art{n}"] if n % 2 else [f"art{n}-a", f"art{n}-b"]

        def claim(i: int, pair: list[int] = pair, ids: list[str] = ids, n: int = n) -> int | None:
            return workers[i].claim_article(
                pair[i], article_id=ids[i], content_hash=f"hash{n}", content_from="page",
                warnings=[],
            )  # fmt: skip

        got = _together(2, claim)
        assert got.count(None) == 1, (n, got)
        winner = got.index(None)
        assert got[1 - winner] == pair[winner]  # the other one is told whose it is
        stored = [e.article_id for e in workers[0].entries(ids=pair)]
        assert sum(a is not None for a in stored) == 1


def test_a_feed_read_by_two_workers_at_once_stores_each_item_once(database_url: str) -> None:
    workers = [PgLedger(database_url), PgLedger(database_url)]
    feed = workers[0].add_feed("https://a.example/rss")
    for n in range(10):
        items = [entry(f"{n}-{i}", link=f"https://x.example/{n}/{i}") for i in range(30)]
        items += [entry(f"{n}-t{i}", text=f"{n} {i} " + LONG_TEXT) for i in range(5)]
        records = _together(2, lambda i, items=items: fetch(workers[i], feed.id, items))
        assert sum(len(r.new) for r in records) == len(items)
        assert sum(r.known for r in records) == len(items)
        assert sum(r.duplicates for r in records) == 0
    assert len(workers[0].entries([feed.id])) == 10 * 35


def test_one_story_in_two_feeds_read_at_once_is_one_entry_and_a_copy(database_url: str) -> None:
    workers = [PgLedger(database_url), PgLedger(database_url)]
    feed_ids = [workers[0].add_feed(f"https://{x}.example/rss").id for x in "ab"]
    for n in range(10):
        # The same links, and the same long texts, under each feed's own guids.
        def items(i: int, n: int = n) -> list[FeedEntry]:
            linked = [entry(f"{i}-{n}-{k}", link=f"https://x.example/{n}/{k}") for k in range(20)]
            texts = [entry(f"{i}-{n}-t{k}", text=f"{n} {k} " + LONG_TEXT) for k in range(5)]
            return linked + texts

        records = _together(2, lambda i: fetch(workers[i], feed_ids[i], items(i)))
        assert sum(len(r.new) for r in records) == 25
        assert sum(r.duplicates for r in records) == 25
    copies = workers[0].entries(status="duplicate")
    assert len(copies) == 250 and all(c.duplicate_of is not None for c in copies)


def test_without_the_locks_the_unique_key_still_stores_each_item_once(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The advisory locks make copies found across workers; the unique key alone already keeps
    an item inserted by two at once from being stored twice (or counted new twice)."""
    from summarizer.feeds.postgres import fetch as fetch_module

    monkeypatch.setattr(fetch_module, "lock", lambda conn, keys: None)
    workers = [PgLedger(database_url), PgLedger(database_url)]
    feed = workers[0].add_feed("https://a.example/rss")
    for n in range(10):
        items = [entry(f"{n}-{i}") for i in range(40)]
        records = _together(2, lambda i, items=items: fetch(workers[i], feed.id, items))
        assert sum(len(r.new) for r in records) == len(items)
        assert sum(r.known for r in records) == len(items)
    assert len(workers[0].entries([feed.id])) == 400


def test_an_entry_is_done_by_one_worker_only(database_url: str) -> None:
    workers = [PgLedger(database_url), PgLedger(database_url)]
    feed = workers[0].add_feed("https://a.example/rss")
    ids = fetch(workers[0], feed.id, [entry(str(i)) for i in range(20)]).new
    for eid in ids:
        got = _together(2, lambda i, eid=eid: workers[i].mark_done(eid, f'{{"by": {i}}}'))
        assert sorted(got) == [False, True]
        by = got.index(True)
        assert workers[0].entries(ids=[eid])[0].output == f'{{"by": {by}}}'
    assert workers[0].mark_done(ids[0], "{}") is False


def test_feeds_added_at_once_are_numbered(database_url: str) -> None:
    workers = [PgLedger(database_url) for _ in range(4)]
    got = _together(4, lambda i: workers[i].add_feed(f"https://news.example/{i}").name)
    assert sorted(got) == ["news.example", "news.example-2", "news.example-3", "news.example-4"]


def _running(server: PostgresServer) -> bool:
    import psycopg

    try:
        with psycopg.connect(server.admin_url, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def test_calls_go_on_when_the_server_restarts(
    postgres_server: PostgresServer, database_url: str, tmp_path: Path
) -> None:
    ledger = PgLedger(database_url)
    cache = PgReplyCache(database_url)
    feed = ledger.add_feed("https://a.example/rss")
    cache.put(
        "k", model="m", digest="d", prompt_id="p", prompt_version="1", content="{}", record={}
    )
    # Other tests share this server: it is down for a second, and up again whatever happens.
    starter = threading.Timer(1.0, postgres_server.start)
    try:
        postgres_server.stop()
        starter.start()
        # Called while the server is down: waits for it, on fresh connections.
        started = time.monotonic()
        record = fetch(ledger, feed.id, [entry("after")])
        assert time.monotonic() - started > 0.5  # it did wait
        assert len(record.new) == 1
        assert cache.get("k") is not None
        assert [f.name for f in ledger.feeds()] == ["a.example"]
    finally:
        starter.join()
        if not _running(postgres_server):
            postgres_server.start()
