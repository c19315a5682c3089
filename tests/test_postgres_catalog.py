"""The catalog in PostgreSQL against the one in SQLite: the same contract tests on both (articles,
chunks, versions, kept outputs, the cleanup journal, atomic blocks, BM25), then what only a shared
database has (other processes' writes, the write counter, threads, migration), and the CLI end to
end with SUMMARIZER_DATABASE_URL and a Chroma server."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from summarizer.corpus.catalog import Catalog
from summarizer.corpus.chunking import chunk_article
from summarizer.corpus.ingest import content_hash
from summarizer.corpus.postgres import STEPS, PgCatalog
from summarizer.corpus.sqlite import SqliteCatalog
from summarizer.errors import NotFoundError
from summarizer.models import Article, Chunk

Opener = Callable[[], Catalog]


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the store of this test: each call another catalog object on it, as another
    process would have."""
    opened: list[Catalog] = []

    def open_one() -> Catalog:
        catalog: Catalog
        if request.param == "sqlite":
            catalog = SqliteCatalog(tmp_path / "corpus.sqlite")
        else:
            catalog = PgCatalog(request.getfixturevalue("database_url"))
        opened.append(catalog)
        return catalog

    yield open_one
    for catalog in opened:
        catalog.close()


@pytest.fixture
def catalog(opener: Opener) -> Catalog:
    return opener()


@pytest.fixture
def both(tmp_path: Path, database_url: str) -> Iterator[tuple[Catalog, Catalog]]:
    sqlite, pg = SqliteCatalog(tmp_path / "corpus.sqlite"), PgCatalog(database_url)
    yield sqlite, pg
    sqlite.close()
    pg.close()


def make(
    aid: str, text: str, title: str = "A title", when: str = "2024-01-01T00:00:00+00:00", **kw: Any
) -> tuple[Article, list[Chunk]]:
    article = Article(
        id=aid,
        source=kw.pop("source", f"/articles/{aid}.txt"),
        title=title,
        text=text,
        content_hash=content_hash(text),
        ingested_at=when,
        updated_at=when,
        **kw,
    )
    return article, chunk_article(aid, article.content_hash, text)


def put(
    catalog: Catalog, aid: str, text: str, fingerprint: str | None = None, **kw: Any
) -> Article:
    article, chunks = make(aid, text, **kw)
    with catalog.transaction():
        catalog.put(article, chunks, fingerprint)
    return article


LONG = " ".join(f"Paragraph {i} tells of the harbour, the ferry and the storm." for i in range(60))


# --- the contract, on both catalogs ---------------------------------------------------------


def test_articles_and_chunks(catalog: Catalog) -> None:
    a = put(
        catalog, "aaa111", LONG, site="news.example", date="2024-03-01", url="https://x/a",
        when="2024-02-01T00:00:00+00:00",
    )  # fmt: skip
    b = put(catalog, "bbb222", "A short one about tea.", when="2024-01-02T00:00:00+00:00")
    assert catalog.count() == 2
    chunks = catalog.chunks(a)
    assert len(chunks) > 1 and catalog.chunk_count() == len(chunks) + 1
    assert all(a.text[c.start : c.end] == c.text for c in chunks)
    assert catalog.get("aaa111") == a and catalog.get("nope") is None
    assert catalog.many(["aaa111", "bbb222", "nope"]) == {"aaa111": a, "bbb222": b}
    assert catalog.many([]) == {}
    assert [x.id for x in catalog.articles()] == ["bbb222", "aaa111"]  # by when stored
    assert catalog.state("aaa111") == (a.content_hash, None)
    assert catalog.state("nope") is None
    assert catalog.id_for_url("https://x/a", "other") == "aaa111"
    assert catalog.id_for_url("/articles/bbb222.txt", "other") == "bbb222"
    assert catalog.id_for_url("https://y", "bbb222") == "bbb222"
    assert catalog.id_for_url("https://y", "zzz") is None
    assert catalog.dates(["aaa111", "bbb222"]) == {"aaa111": "2024-03-01"}
    assert catalog.sites() == ["news.example"]
    spans = catalog.chunk_spans([c.id for c in chunks] + ["missing"])
    assert spans == {c.id: ("aaa111", c.index, c.start, c.end) for c in chunks}
    assert catalog.chunk_texts([chunks[1].id, "missing"]) == {chunks[1].id: chunks[1].text}
    assert catalog.lexical(["ferry"], 5)

    with catalog.transaction():
        catalog.delete("aaa111")
    assert catalog.count() == 1 and catalog.chunk_count() == 1
    assert catalog.get("aaa111") is None and catalog.chunk_spans([chunks[0].id]) == {}
    assert catalog.lexical(["ferry"], 5) == []
    assert catalog.versions("aaa111") == []


def test_resolve(catalog: Catalog) -> None:
    put(catalog, "abc_1", "One.")
    put(catalog, "abd%2", "Two.")
    put(catalog, "abx3", "Three.")
    assert catalog.resolve("abc_1").id == "abc_1"
    assert catalog.resolve(" abc ").id == "abc_1"
    assert catalog.resolve("abd%").id == "abd%2"
    assert catalog.resolve("abx").id == "abx3"
    with pytest.raises(NotFoundError, match="ambiguous"):
        catalog.resolve("ab")
    with pytest.raises(NotFoundError, match="no article 'a_c'"):
        catalog.resolve("a_c")  # _ is not a wildcard
    with pytest.raises(NotFoundError, match="no article 'zz'"):
        catalog.resolve("zz")
    with pytest.raises(NotFoundError, match="not empty"):
        catalog.resolve("  ")


def test_select_ids_and_listing(catalog: Catalog) -> None:
    put(catalog, "a1", "x" * 10, date="2024-01-05", site="Alpha.example", when="2024-06-01T00")
    put(
        catalog,
        "a2",
        "y" * 20,
        date="2024-02-05",
        url="https://beta.example/2",
        when="2024-06-02T00",
    )
    put(catalog, "a3", "z" * 30, source="/feeds/gamma.txt", when="2024-03-01T00")
    put(catalog, "a4", "w" * 40, date="2024-02-05", when="2024-06-03T00")
    assert sorted(catalog.select_ids()) == ["a1", "a2", "a3", "a4"]
    assert catalog.select_ids(sources=["ALPHA"]) == ["a1"]
    assert catalog.select_ids(sources=["beta.example"]) == ["a2"]
    assert sorted(catalog.select_ids(sources=["gamma", "alpha"])) == ["a1", "a3"]
    assert catalog.select_ids(sources=["%"]) == []
    assert sorted(catalog.select_ids(since="2024-02-01")) == ["a2", "a4"]
    assert catalog.select_ids(until="2024-01-31") == ["a1"]
    assert catalog.select_ids(ids=["a1", "a3", "nope"], since="2024-01-01") == ["a1"]
    page, total = catalog.listing()
    # Newest first by date, else by when stored (a3: 2024-03-01); ties by id.
    assert [x.id for x in page] == ["a3", "a2", "a4", "a1"] and total == 4
    assert page[0].chars == 30 and page[0].source == "/feeds/gamma.txt"
    page, total = catalog.listing(offset=1, limit=2)
    assert [x.id for x in page] == ["a2", "a4"] and total == 4
    page, total = catalog.listing(sources=["example"], since="2024-02-01")
    assert [x.id for x in page] == ["a2"] and total == 1


def test_versions(catalog: Catalog) -> None:
    first = put(catalog, "v1", "The first text.", fingerprint="f1", title="Old")
    put(catalog, "v1", "The first text.", fingerprint="f2", title="Old")  # unchanged
    assert [(v.n, v.fingerprint) for v in catalog.versions("v1")] == [(1, "f2")]
    second = put(catalog, "v1", "The second, longer text.", fingerprint="f3", title="Old")
    put(catalog, "v1", "The second, longer text.", fingerprint="f4", title="New")  # new title
    versions = catalog.versions("v1")
    assert [(v.n, v.content_hash, v.title, v.fingerprint, v.chars) for v in versions] == [
        (1, first.content_hash, "Old", "f2", len(first.text)),
        (2, second.content_hash, "Old", "f3", len(second.text)),
        (3, second.content_hash, "New", "f4", len(second.text)),
    ]
    assert catalog.version_text("v1", 1) == first.text
    assert catalog.version_text("v1", 3) == second.text
    assert catalog.version_text("v1", 4) is None
    assert catalog.text_of("v1", first.content_hash) == first.text
    assert catalog.text_of("v1", "nope") is None
    with catalog.transaction():
        catalog.set_fingerprint("v1", "f5")
    assert catalog.state("v1") == (second.content_hash, "f5")
    assert [v.fingerprint for v in catalog.versions("v1")] == ["f2", "f3", "f5"]


def data(catalog: Catalog, task: str, content_hash: str | None = None) -> str | None:
    """The JSON of the output `output` picks for article o1."""
    kept = catalog.output("o1", task, content_hash)
    return None if kept is None else kept[2]


def test_kept_outputs(catalog: Catalog) -> None:
    old = put(catalog, "o1", "Old text.")
    catalog.save_output("o1", "summarize", old.content_hash, '{"v": "old"}')
    kept = catalog.output("o1", "summarize")
    assert kept is not None and (kept[0], kept[2]) == (old.content_hash, '{"v": "old"}')
    new = put(catalog, "o1", "New text.")
    # No output of the current text: the newest one there is.
    assert data(catalog, "summarize") == '{"v": "old"}'
    assert catalog.current_outputs(["o1"]) == {}
    catalog.save_output("o1", "summarize", new.content_hash, '{"v": "new"}')
    catalog.save_output("o1", "claims", new.content_hash, '{"c": 1}')
    catalog.save_output("o1", "summarize", old.content_hash, '{"v": "old again"}')
    assert data(catalog, "summarize") == '{"v": "new"}'
    assert data(catalog, "summarize", old.content_hash) == '{"v": "old again"}'
    assert catalog.output("o1", "summarize", "nope") is None
    assert catalog.output("o1", "ask") is None
    assert catalog.current_outputs(["o1", "x"]) == {
        ("o1", "summarize"): '{"v": "new"}',
        ("o1", "claims"): '{"c": 1}',
    }
    with catalog.transaction():
        catalog.delete("o1")
    assert catalog.output("o1", "summarize") is None


def test_meta_and_cleanup_journal(catalog: Catalog) -> None:
    assert catalog.meta("embedder") is None
    catalog.set_meta("embedder", "hash:256")
    catalog.set_meta("embedder", "hash:512")
    assert catalog.meta("embedder") == "hash:512"
    catalog.set_meta("embedder", None)
    assert catalog.meta("embedder") is None
    catalog.journal_cleanup("a", None)
    catalog.journal_cleanup("b", "h1")
    catalog.journal_cleanup("b", "h2")
    assert sorted(catalog.pending_cleanup(), key=str) == [("a", None), ("b", "h2")]
    catalog.clear_cleanup(iter(["a", "nope"]))
    assert catalog.pending_cleanup() == [("b", "h2")]
    catalog.clear_cleanup([])
    catalog.clear_cleanup(["b"])
    assert catalog.pending_cleanup() == []


def test_a_failed_block_stores_nothing(catalog: Catalog) -> None:
    put(catalog, "keep", "Kept text about the harbour.")
    article, chunks = make("gone", "A text about the harbour that never lands.")
    with pytest.raises(RuntimeError), catalog.transaction():
        catalog.journal_cleanup("gone", None)
        catalog.put(article, chunks, None)
        catalog.set_meta("collection", "c1")
        catalog.delete("keep")
        assert catalog.get("gone") is not None  # visible inside the block
        raise RuntimeError("killed")
    assert catalog.get("gone") is None and catalog.get("keep") is not None
    assert catalog.count() == 1 and catalog.chunk_count() == 1
    assert catalog.meta("collection") is None and catalog.pending_cleanup() == []
    assert catalog.versions("gone") == [] and len(catalog.versions("keep")) == 1
    assert {r[1] for r in catalog.lexical(["harbour"], 5)} == {"keep"}


def test_another_object_sees_the_writes_and_the_generation_moves(opener: Opener) -> None:
    one, two = opener(), opener()
    before = one.generation()
    put(two, "w1", "Written by the other one.")
    assert one.get("w1") is not None and one.count() == 1
    after = one.generation()
    assert after != before
    two.save_output("w1", "summarize", content_hash("Written by the other one."), "{}")
    assert one.generation() != after
    assert one.output("w1", "summarize") is not None
    three = opener()  # opening an up-to-date store again: nothing lost, nothing to migrate
    assert three.count() == 1 and three.versions("w1")


# --- BM25: the same ranking in both ---------------------------------------------------------

SMALL = {
    "h1": ("Harbour news", "The ferry left the harbour at dawn. The harbour master watched."),
    "h2": (
        "Storm warning",
        "A storm closed the harbour; every ferry stayed in port; the ferry's crew waited.",
    ),
    "h3": (
        "Tea prices",
        "Tea prices rose again this spring, and the growers blamed the storm's winds.",
    ),
    "h4": ("Ferry timetable", "The summer timetable adds a late ferry on Fridays, it says."),
    "h5": ("Council", "The council met to discuss parking, bins and the new library."),
    "h6": ("The library's room", "The library opens a reading room; the council paid."),
    "h7": ("Harbour ferry storm", "Nothing about boats here: flies, a recipe for bread, jam."),
}


def same(got: list[tuple[str, str, float]], want: list[tuple[str, str, float]]) -> None:
    """The same chunks in the same order, with the same BM25 scores."""
    assert [r[:2] for r in got] == [r[:2] for r in want]
    assert [r[2] for r in got] == pytest.approx([r[2] for r in want], rel=1e-6, abs=1e-12)


def test_lexical_rankings_agree(both: tuple[Catalog, Catalog]) -> None:
    for catalog in both:
        for aid, (title, text) in SMALL.items():
            put(catalog, aid, text, title=title)
    queries = [["harbour"], ["ferry", "storm"], ["library", "council", "bread"], ["tea"],
               ["harbour", "ferry", "storm", "recipe"], ["nothingatall"],
               ["news", "flies", "say", "generalization", "happiness"],
               ["ferry's"], ["storm's", "tea"], ["harbour's", "ferry"],
               ["crew", "ferry's", "s"], ["library's"]]  # fmt: skip
    sqlite, pg = both
    for terms in queries:
        for weight in (0.5, 0.0, 1.0):
            want = sqlite.lexical(terms, 10, title_weight=weight)
            same(pg.lexical(terms, 10, title_weight=weight), want)
    for terms in (["ferry"], ["ferry's", "tea"]):
        same(pg.lexical(terms, 10, ["h2", "h3"]), sqlite.lexical(terms, 10, ["h2", "h3"]))
    assert pg.lexical(["ferry"], 10, []) == [] and pg.lexical([], 10) == []
    assert len(pg.lexical(["the"], 2)) == 2


def test_lexical_statistics_follow_replacements_and_deletions(
    both: tuple[Catalog, Catalog],
) -> None:
    for catalog in both:
        for aid, (title, text) in SMALL.items():
            put(catalog, aid, text, title=title)
        put(catalog, "h1", "A quiet day: no ferry sailed.", title="Harbour news")
        with catalog.transaction():
            catalog.delete("h4")
            catalog.delete("h7")
    sqlite, pg = both
    for terms in (["ferry"], ["harbour", "storm"], ["quiet", "council"]):
        same(pg.lexical(terms, 10), sqlite.lexical(terms, 10))


# --- what only the shared database has ------------------------------------------------------


def test_postings_and_statistics_stay_in_step(database_url: str) -> None:
    """What BM25 reads (postings, stem counts, totals) always says what the chunks hold."""
    from summarizer import database

    catalog = PgCatalog(database_url)
    for aid, (title, text) in SMALL.items():
        put(catalog, aid, text, title=title)
    put(catalog, "h1", "A quiet day: no ferry sailed.", title="Harbour news")
    put(catalog, "h2", SMALL["h2"][1], title="Storm warning (updated)")
    with catalog.transaction():
        catalog.delete("h4")
    db = database.connect(database_url)
    expected = db.execute(
        "SELECT u.lexeme, c.key, cardinality(array_positions(u.weights, 'A')),"
        " cardinality(array_positions(u.weights, 'B')), c.tokens"
        " FROM chunks c CROSS JOIN LATERAL unnest(c.words) AS u ORDER BY 1, 2"
    )
    assert db.execute("SELECT * FROM chunk_words ORDER BY 1, 2") == expected
    counted = db.execute("SELECT word, chunks FROM word_counts ORDER BY 1")
    assert counted == db.execute("SELECT word, count(*) FROM chunk_words GROUP BY word ORDER BY 1")
    assert db.execute("SELECT chunks, tokens FROM counters") == db.execute(
        "SELECT count(*), sum(tokens) FROM chunks"
    )
    for aid in list(SMALL):
        with catalog.transaction():
            catalog.delete(aid)
    assert db.execute("SELECT count(*) FROM chunk_words") == [(0,)]
    assert db.execute("SELECT count(*) FROM word_counts") == [(0,)]
    assert db.execute("SELECT chunks, tokens FROM counters") == [(0, 0)]


def test_generation_moves_with_another_process_write(database_url: str) -> None:
    catalog = PgCatalog(database_url)
    before = catalog.generation()
    other = (
        "import sys; from summarizer.corpus.postgres import PgCatalog;"
        "PgCatalog(sys.argv[1]).set_meta('written', 'by another process')"
    )
    subprocess.run([sys.executable, "-c", other, database_url], check=True, timeout=60)
    assert catalog.generation() != before
    assert catalog.meta("written") == "by another process"


def test_a_block_is_its_threads_own(database_url: str) -> None:
    catalog = PgCatalog(database_url)
    inside = threading.Event()
    done = threading.Event()
    seen: list[int] = []

    def writer() -> None:
        with catalog.transaction():
            put(catalog, "t1", "Written in a block.")  # joins the block
            with catalog.transaction():  # nested: joins it too
                catalog.set_meta("k", "v")
            inside.set()
            done.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    assert inside.wait(10)
    # Another thread on the same object is outside the block: it sees nothing uncommitted.
    seen.append(catalog.count())
    assert catalog.meta("k") is None
    done.set()
    thread.join(10)
    assert seen == [0] and catalog.count() == 1 and catalog.meta("k") == "v"


def test_concurrent_writers_all_land(database_url: str) -> None:
    """Writers on several threads (and objects) sharing stems: no deadlock, nothing lost."""
    catalogs = [PgCatalog(database_url), PgCatalog(database_url)]
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(6):
                title, text = SMALL[f"h{1 + (n + i) % 7}"]
                put(catalogs[n % 2], f"c{n}-{i}", f"{text} Copy {n} {i}.", title=title)
        except BaseException as e:  # reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert catalogs[0].count() == 24 and catalogs[1].chunk_count() == 24
    assert len(catalogs[0].lexical(["ferry"], 50)) == len(
        [
            1
            for n in range(4)
            for i in range(6)
            if "ferry" in " ".join(SMALL[f"h{1 + (n + i) % 7}"]).lower()
        ]
    )


def test_migration_is_idempotent(database_url: str) -> None:
    from summarizer import database

    first = PgCatalog(database_url)
    put(first, "m1", "Migrated once.")
    generation = first.generation()
    again = PgCatalog(database_url)
    assert database.connect(database_url).version("catalog") == len(STEPS)
    assert again.count() == 1 and again.generation() == generation  # opening writes nothing
    assert database.connect(database_url).migrate("catalog", STEPS) == len(STEPS)


def test_open_catalog_chooses_by_the_database_url(database_url: str, tmp_path: Path) -> None:
    from summarizer.config import Settings
    from summarizer.corpus import open_catalog

    assert isinstance(open_catalog(Settings.from_env(home=str(tmp_path))), SqliteCatalog)
    settings = Settings.from_env(home=str(tmp_path), database_url=database_url)
    assert isinstance(open_catalog(settings), PgCatalog)


# --- the CLI end to end ---------------------------------------------------------------------


def test_cli_ingest_search_list_on_postgres(
    hash_embedder: str,
    corpus_copy: Path,
    chroma_server: str,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from summarizer.cli import cli

    monkeypatch.setenv("SUMMARIZER_DATABASE_URL", database_url)

    def run(*args: str) -> Any:
        result = CliRunner().invoke(cli, [*args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    run("ingest", str(corpus_copy), "--chroma-url", chroma_server)
    listed = json.loads(run("list", "--json", "--chroma-url", chroma_server).stdout)
    assert len(listed) == 5
    found = run("search", "Binance Kraken freeze", "--json", "--chroma-url", chroma_server)
    hits = json.loads(found.stdout)
    assert hits and "Kraken" in hits[0]["text"]
    # It is all in the database: the data dir holds no catalog.
    catalog = PgCatalog(database_url)
    assert catalog.count() == 5 and catalog.chunk_count() > 5
    assert {a["id"] for a in listed} == {a.id for a in catalog.articles()}
    assert not (Path(str(corpus_copy)).parent / "data" / "corpus.sqlite").exists()
