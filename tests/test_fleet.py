"""A fleet: `summarizer run` workers in processes of their own, each with its own data dir (as
on machines of their own), sharing a real PostgreSQL database (initdb/pg_ctl), a real `chroma
run` server and stand-in Ollama hosts with latency; killed with SIGKILL, the database restarted,
the Chroma server stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from summarizer.cli import cli
from summarizer.config import Settings
from summarizer.corpus import open_catalog
from summarizer.database import connect
from summarizer.feeds import open_ledger
from summarizer.feeds.fleet import Fleet
from tests.conftest import chroma_run
from tests.feed_site import ROOT, FeedSite, Item, Story, article_page, rss, synthetic_story
from tests.postgres_server import PostgresServer
from tests.standin_ollama import SUPPORT_SCHEMA, StandinOllama

HTML = "text/html; charset=utf-8"
LEASE = "3"


@pytest.fixture
def chroma(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Chroma server of this test's own (a shared one would hold other tests' vectors)."""
    with chroma_run(tmp_path / "chroma-server") as server:
        yield server


@pytest.fixture
def hosts() -> Iterator[list[StandinOllama]]:
    """Two stand-in Ollama hosts; each model call takes 0.2 s."""
    servers = [StandinOllama(latency=0.2), StandinOllama(latency=0.2)]
    for s in servers:
        s.start()
    yield servers
    for s in servers:
        s.stop()


@pytest.fixture
def fleet_env(
    database_url: str,
    chroma: tuple[str, subprocess.Popen[bytes]],
    hosts: list[StandinOllama],
    hash_embedder: str,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """The environment every worker shares (each adds its own data dir)."""
    env = {
        "SUMMARIZER_DATABASE_URL": database_url,
        "SUMMARIZER_CHROMA_URL": chroma[0],
        "OLLAMA_HOST": ",".join(h.url for h in hosts),
        "SUMMARIZER_LEASE_SECONDS": LEASE,
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


@pytest.fixture
def site() -> Iterator[FeedSite]:
    with FeedSite() as s:
        yield s


def cli_run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def wire(site: FeedSite, feeds: int, per_feed: int) -> list[Story]:
    """`feeds` feeds of `per_feed` synthetic stories each, registered; all the stories."""
    stories = []
    for f in range(feeds):
        items = []
        for i in range(per_feed):
            n = f * 100 + i
            story = synthetic_story(n)
            site.add(f"/a/{n}", article_page(story), content_type=HTML)
            items.append(Item(story.title, link=f"{site.url}/a/{n}", guid=f"urn:{n}",
                              published=1_700_000_000 + n * 60))  # fmt: skip
            stories.append(story)
        site.add(f"/f{f}.xml", rss(items))
        result = cli_run("feeds", "add", f"{site.url}/f{f}.xml", "--name", f"wire{f}")
        assert result.exit_code == 0, result.output
    return stories


def worker(tmp_path: Path, n: int, *extra: str, **env: str) -> subprocess.Popen[str]:
    """`summarizer run` as worker `n`: its own data dir and output file."""
    home = tmp_path / f"worker{n}"
    args = ["run", "--allow-private", "--parallel", "2", "--out", str(tmp_path / f"out{n}.jsonl")]
    return subprocess.Popen(
        [sys.executable, "-m", "summarizer", *args, *extra],
        cwd=ROOT,
        env=dict(os.environ, SUMMARIZER_HOME=str(home), **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 240) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def lines(tmp_path: Path) -> list[dict[str, Any]]:
    """Every output line every worker wrote."""
    out = []
    for path in sorted(tmp_path.glob("out*.jsonl")):
        out += [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]
    return out


def wait_for(check: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def chats_by_title(server: StandinOllama) -> Counter[tuple[str, str]]:
    """(task, article title) -> summary and claims requests the host received (support checks
    are counted under the task they check)."""
    import re

    out: Counter[tuple[str, str]] = Counter()
    for r in server.requests("/api/chat"):
        body = r.body or {}
        if "format" not in body:
            continue
        prompt = "\n".join(m["content"] for m in body["messages"])
        title = re.search(r"^Title: (.*)$", prompt, re.MULTILINE)
        if body["format"].get("title") == SUPPORT_SCHEMA:
            task = "support"
        else:
            task = "summary" if "key_points" in body["format"]["properties"] else "claims"
        out[(task, title.group(1).strip() if title else "?")] += 1
    return out


def assert_once(stories: list[Story], tmp_path: Path) -> None:
    """Each story processed once in effect: one line, one article with one version, its two
    outputs kept, its entry done after one attempt or more, no other entry."""
    got = lines(tmp_path)
    assert sorted(r["title"] for r in got) == sorted(s.title for s in stories)
    assert len({r["entry_id"] for r in got}) == len(stories)
    settings = Settings.from_env()
    catalog = open_catalog(settings)
    try:
        articles = catalog.articles()
        assert sorted(a.title for a in articles) == sorted(s.title for s in stories)
        assert all(len(catalog.versions(a.id)) == 1 for a in articles)
        outputs = catalog.current_outputs([a.id for a in articles])
        assert len(outputs) == 2 * len(stories)
    finally:
        catalog.close()
    with open_ledger(settings) as ledger:
        entries = ledger.entries()
    assert len(entries) == len(stories)
    assert {e.status for e in entries} == {"done"}


# --- the good path -----------------------------------------------------------------------------


def test_three_workers_over_two_hosts_process_every_entry_once(
    fleet_env: dict[str, str], site: FeedSite, hosts: list[StandinOllama], tmp_path: Path
) -> None:
    stories = wire(site, 3, 8)
    for h in hosts:  # slow enough that no worker is done before the others have started
        h.latency = 0.5
    procs = [worker(tmp_path, n) for n in range(3)]
    results = [finish(p) for p in procs]
    assert [code for code, _ in results] == [0, 0, 0], "\n".join(err for _, err in results)
    assert_once(stories, tmp_path)
    # The work was shared: more than one worker wrote lines.
    per_worker = [
        len((tmp_path / f"out{n}.jsonl").read_text().splitlines())
        for n in range(3)
        if (tmp_path / f"out{n}.jsonl").exists()
    ]
    assert sum(1 for k in per_worker if k) >= 2, per_worker
    # One article's calls all went to one host (its prompt prefix stays in that host's cache),
    # and the summary and claims of each were asked once.
    seen = [chats_by_title(h) for h in hosts]
    for story in stories:
        where = [i for i, c in enumerate(seen) if any(t == story.title for _, t in c)]
        assert len(where) == 1, (story.title, where)
        calls = seen[where[0]]
        assert calls[("summary", story.title)] == 1 and calls[("claims", story.title)] == 1
    # Every feed was read by one worker only (a second read within a minute is skipped).
    for f in range(3):
        assert site.hits(f"/f{f}.xml") == 1
    # And the workers are shown as stopped, with what each did.
    shown = json.loads(cli_run("workers", "--all", "--json").stdout)
    assert len(shown) == 3 and all(w["stopped_at"] for w in shown)
    assert sum(w["done"] for w in shown) == len(stories)


def test_two_workers_racing_for_one_entry_one_wins(
    fleet_env: dict[str, str], site: FeedSite, hosts: list[StandinOllama], tmp_path: Path
) -> None:
    stories = wire(site, 1, 1)
    procs = [worker(tmp_path, n) for n in range(2)]
    results = [finish(p) for p in procs]
    assert [code for code, _ in results] == [0, 0], [err for _, err in results]
    assert_once(stories, tmp_path)
    calls = sum((chats_by_title(h) for h in hosts), Counter())
    assert calls[("summary", stories[0].title)] == 1


def test_claims_race_one_winner_per_item(database_url: str) -> None:
    """Many rounds of two workers claiming the same items at the same moment: each item goes
    to exactly one of them; a lease not renewed is taken over once it expires."""
    db = connect(database_url)
    a, b = Fleet(db, lease=60, name="a"), Fleet(db, lease=60, name="b")
    for round_ in range(30):
        items = list(range(round_ * 10, round_ * 10 + 10))
        barrier = threading.Barrier(2)
        got: dict[str, list[int]] = {}

        def claim(
            f: Fleet, items: list[int], barrier: threading.Barrier, got: dict[str, list[int]]
        ) -> None:
            barrier.wait()
            got[f.name] = f.claim("entry", items)

        threads = [threading.Thread(target=claim, args=(f, items, barrier, got)) for f in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(got["a"] + got["b"]) == items
    short = Fleet(db, lease=0.5, name="short")
    assert short.claim("feed", [1, 2]) == [1, 2]
    assert a.claim("feed", [1, 2]) == []  # held
    time.sleep(0.8)
    assert a.claim("feed", [1, 2]) == [1, 2]  # expired: taken over
    a.release("feed", [1])
    assert b.claim("feed", [1, 2]) == [1]


def test_the_shared_corpus_from_another_machine(
    fleet_env: dict[str, str],
    site: FeedSite,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What workers stored is the corpus of every machine with the two URLs: list, search, ask,
    show, refresh and the editor's view, from a data dir of its own."""
    import httpx
    import uvicorn

    from summarizer.web.app import create_app
    from tests.ollama_fixtures import free_port

    stories = wire(site, 1, 3)
    code, err = finish(worker(tmp_path, 0))
    assert code == 0, err
    monkeypatch.setenv("SUMMARIZER_HOME", str(tmp_path / "elsewhere"))
    listed = json.loads(cli_run("list", "--json").stdout)
    assert sorted(a["title"] for a in listed) == sorted(s.title for s in stories)
    words = " ".join(stories[1].paragraphs[0].split()[3:9])
    hits = json.loads(cli_run("search", words, "--json").stdout)
    assert hits[0]["title"] == stories[1].title
    shown = json.loads(cli_run("show", hits[0]["article_id"], "--json").stdout)
    assert shown["text"][hits[0]["start"] : hits[0]["end"]] == hits[0]["text"]
    asked = cli_run("ask", words, "--json")
    answer = json.loads(asked.stdout)
    assert answer["found"] and answer["points"], asked.output
    for point in answer["points"]:
        for c in point["citations"]:
            text = json.loads(cli_run("show", c["article_id"], "--json").stdout)["text"]
            assert text[c["start"] : c["end"]] == c["quote"]
    refreshed = cli_run("refresh", "--all")
    assert refreshed.exit_code == 0, refreshed.output
    port = free_port()
    app = create_app(Settings.from_env(), host="127.0.0.1", port=port)
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, "the web view did not start", 20)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            page = http.get("/")
            assert page.status_code == 200
            assert all(s.title in page.text for s in stories)
            article = http.get(f"/article/{hits[0]['article_id']}")
            assert article.status_code == 200 and stories[1].title in article.text
    finally:
        server.should_exit = True
        thread.join(10)


# --- failures ----------------------------------------------------------------------------------


def killed_when(hosts: list[StandinOllama], tmp_path: Path, moment: str) -> Callable[[], bool]:
    """When to kill the first worker: as the model works on its first article, once its first
    line is written, or once several are."""
    if moment == "asking":
        return lambda: sum(len(h.requests("/api/chat")) for h in hosts) >= 1
    want = 1 if moment == "first line" else 3

    def written() -> bool:
        path = tmp_path / "out0.jsonl"
        return path.exists() and len(path.read_text().splitlines()) >= want

    return written


@pytest.mark.parametrize("moment", ["asking", "first line", "three lines"])
def test_a_worker_killed_mid_run_leaves_its_work_to_another(
    fleet_env: dict[str, str],
    site: FeedSite,
    hosts: list[StandinOllama],
    tmp_path: Path,
    moment: str,
) -> None:
    stories = wire(site, 1, 8)
    for h in hosts:
        h.latency = 0.4
    first = worker(tmp_path, 0)
    wait_for(killed_when(hosts, tmp_path, moment), "the first worker made no progress")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert first.stderr is not None
    first.stderr.close()
    # While its leases last, the dead worker is shown holding entries, not alive once they lapse.
    shown = json.loads(cli_run("workers", "--json").stdout)
    assert [w["alive"] for w in shown] == [True] and shown[0]["entries"]
    started = time.monotonic()
    code, err = finish(worker(tmp_path, 1))
    assert code == 0, err
    # It waited for the dead worker's leases to lapse, then did its entries.
    assert time.monotonic() - started >= float(LEASE) - 1
    assert_once(stories, tmp_path)
    gone = json.loads(cli_run("workers", "--all", "--json").stdout)
    assert sorted(w["alive"] for w in gone) == [False, False]


def test_the_database_restarted_mid_run(
    fleet_env: dict[str, str],
    site: FeedSite,
    hosts: list[StandinOllama],
    postgres_server: PostgresServer,
    tmp_path: Path,
) -> None:
    stories = wire(site, 1, 8)
    for h in hosts:
        h.latency = 0.5
    proc = worker(tmp_path, 0)
    wait_for(killed_when(hosts, tmp_path, "first line"), "the worker made no progress")
    try:
        postgres_server.stop("fast")
        time.sleep(1.0)
    finally:
        postgres_server.start()
    code, err = finish(proc)
    assert code == 0, err
    assert_once(stories, tmp_path)


def test_the_chroma_server_down_stops_the_run_with_nothing_half_stored(
    fleet_env: dict[str, str],
    site: FeedSite,
    chroma: tuple[str, subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    stories = wire(site, 1, 3)
    _, server = chroma
    server.terminate()
    server.wait(timeout=10)
    code, err = finish(worker(tmp_path, 0))
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and "Chroma server" in last and "Traceback" not in err
    settings = Settings.from_env()
    catalog = open_catalog(settings)
    try:
        assert catalog.count() == 0  # no article without its vectors
    finally:
        catalog.close()
    with open_ledger(settings) as ledger:
        assert {e.status for e in ledger.entries()} == {"pending"}
    assert not lines(tmp_path)
    del stories


# --- set-up ------------------------------------------------------------------------------------


def test_db_upgrade_makes_the_tables_once(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUMMARIZER_DATABASE_URL", database_url)
    first = cli_run("db", "upgrade")
    assert first.exit_code == 0, first.output
    assert "catalog: schema" in first.stdout and "(made)" in first.stdout
    again = cli_run("db", "upgrade", "--json")
    schema = json.loads(again.stdout)["schema"]
    assert set(schema) == {"catalog", "ledger", "reply_cache", "fleet"}
    assert all(v["was"] == v["now"] > 0 for v in schema.values())


def test_a_shared_database_needs_a_chroma_server(
    database_url: str, monkeypatch: pytest.MonkeyPatch, site: FeedSite
) -> None:
    monkeypatch.setenv("SUMMARIZER_DATABASE_URL", database_url)
    cli_run("feeds", "add", site.url + "/f.xml")
    result = cli_run("run")
    assert result.exit_code == 2
    assert "needs a Chroma server" in result.stderr and "--chroma-url" in result.stderr


def test_a_bad_database_url_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUMMARIZER_DATABASE_URL", "mysql://x/y")
    result = cli_run("list")
    assert result.exit_code == 2 and "is not a postgresql:// URL" in result.stderr
    monkeypatch.setenv("SUMMARIZER_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("SUMMARIZER_CHROMA_URL", "http://127.0.0.1:1")
    result = cli_run("list")
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: database: postgresql://nobody@127.0.0.1:1/none")
