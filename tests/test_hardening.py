"""What broke when the tool was tried as a new user and as an attacker would: each case as it was
met, which failed before its fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from summarizer.cli import cli
from tests.standin_ollama import StandinOllama

BODY = (
    "Some body text of the article, long enough to be kept as an article in the store. "
    "It goes on for a few sentences, as a short news story does, so that it is over the "
    "bar of forty words that pages, feed texts and files all have to clear.\n"
)


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def command(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "summarizer", *args],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=timeout, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("sep", [",", ", "])
def test_several_hosts_in_ollama_host_do_not_crash_the_ollama_import(
    ollama_standin: StandinOllama, closed_ollama_url: str, sep: str
) -> None:
    # The ollama package builds a client from OLLAMA_HOST when imported: in a fresh process.
    hosts = f"{ollama_standin.url}{sep}{closed_ollama_url}"
    done = command("doctor", env={"OLLAMA_HOST": hosts})
    assert "Traceback" not in done.stderr, done.stderr
    assert ollama_standin.url in done.stdout + done.stderr
    assert closed_ollama_url in done.stdout + done.stderr


def test_a_recursive_glob_over_a_symlink_loop_ends(tmp_path: Path, hash_embedder: str) -> None:
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "x.txt").write_text("T\n\n" + BODY)
    (d / "sub" / "y.txt").write_text("U\n\n" + BODY.replace("Some", "Other"))
    (d / "s1").symlink_to(".")
    (d / "s2").symlink_to(".")
    done = command("ingest", f"{d}/**/*.txt", env={}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "ingest: 2 added" in done.stderr


def test_a_file_name_that_is_not_utf8_fails_alone(tmp_path: Path, hash_embedder: str) -> None:
    folder = tmp_path / "news"
    folder.mkdir()
    for i in range(5):
        (folder / f"good{i}.txt").write_text(f"Title {i}\n\n{i} {BODY}")
    with open(os.fsencode(folder) + b"/bad-\xff-name.txt", "wb") as f:
        f.write(b"Bad\n\n" + BODY.encode())
    result = run("ingest", str(folder))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {folder}/bad-\\xff-name.txt: the file name is not valid UTF-8; rename it",
        "ingest: 5 added, 0 updated, 0 unchanged, 1 failed (5 chunks embedded)",
    ]


def test_opml_with_a_bare_ampersand_is_read_as_meant(tmp_path: Path) -> None:
    opml = tmp_path / "feeds.opml"
    opml.write_text(
        '<?xml version="1.0"?>\n<opml version="2.0"><head><title>Mine</title></head><body>\n'
        '<outline title="News & Politics" xmlUrl="https://example.com/news.xml"/>\n'
        '<outline text="Sport" xmlUrl="https://example.com/sport.xml?a=1&b=2"/>\n'
        "</body></opml>\n"
    )
    result = run("feeds", "import", str(opml))
    assert result.exit_code == 0, result.output
    assert "added feed News & Politics: https://example.com/news.xml" in result.stdout
    assert "https://example.com/sport.xml?a=1&b=2" in result.stdout


def test_broken_opml_keeps_what_can_be_read_and_names_the_line(tmp_path: Path) -> None:
    opml = tmp_path / "feeds.opml"
    opml.write_text(
        "<opml><body>\n"
        '<outline text="A" xmlUrl="https://a.example/f.xml"/>\n'
        '<outline text="B" xmlUrl="https://b.example/f.xml">\n'
        '<outline text="C" xmlUrl="https://c.example/f.xml"/>\n'
        "</body>\n"
    )
    result = run("feeds", "import", str(opml))
    assert result.exit_code == 1
    assert result.stdout.count("added feed") == 3
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors and all(
        line.startswith(f"error: {opml}:5: not well-formed OPML") for line in errors
    )


def test_model_calls_per_article_are_bounded(
    tmp_path: Path, hash_embedder: str, ollama_env: StandinOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from tests.feed_site import synthetic_story

    story = synthetic_story(7, words=6000)
    article = tmp_path / "long.txt"
    article.write_text(story.title + "\n\n" + story.text + "\n")
    monkeypatch.setenv("SUMMARIZER_NUM_CTX", "2048")
    monkeypatch.setenv("SUMMARIZER_MAX_WINDOWS", "3")
    result = run("summarize", str(article), "--json", "--support", "rules")
    data = json.loads(result.stdout)
    chats = [r for r in ollama_env.requests("/api/chat")]
    assert len(chats) == 4  # three windows and the merge
    (warning,) = [w for w in data["warnings"] if "SUMMARIZER_MAX_WINDOWS" in w]
    assert "more than the 3 allowed" in warning and "only its first" in warning
    # What is cited comes from the part that was read.
    read = int(warning.split("only its first ")[1].split(" of")[0].replace(",", ""))
    assert data["key_points"]
    assert all(c["end"] <= read for p in data["key_points"] for c in p["citations"])


# --- the smaller ones ----------------------------------------------------------------------------


def test_no_cache_asks_again_and_keeps_the_fresh_reply(
    hash_embedder: str, ollama_env: StandinOllama, corpus_copy: Path
) -> None:
    import json

    article = str(sorted(corpus_copy.glob("*.txt"))[0])
    first = json.loads(run("claims", article, "--json", "--support", "rules").stdout)
    ollama_env.misbehave("reply", times=1, content='{"claims": []}')
    fresh = run("claims", article, "--json", "--support", "rules", "--no-cache")
    assert json.loads(fresh.stdout)["outcome"] == "nothing_given"
    again = json.loads(run("claims", article, "--json", "--support", "rules").stdout)
    assert again["outcome"] == "nothing_given" and again["cached_calls"] == 1
    assert first["claims"]


def test_a_closed_pipe_ends_the_output_quietly(tmp_path: Path, hash_embedder: str) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(300):
        (folder / f"a{i}.txt").write_text(f"Title {i} of many\n\n{i} {BODY}")
    assert run("ingest", str(folder)).exit_code == 0
    done = subprocess.run(
        f"{sys.executable} -m summarizer list | head -1",
        shell=True, capture_output=True, text=True, check=False,
        executable="/bin/bash",
    )  # fmt: skip
    assert done.stdout.count("\n") == 1
    assert "error" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("SUMMARIZER_NUM_CTX", "-1", "SUMMARIZER_NUM_CTX='-1' must be at least 1"),
        ("SUMMARIZER_READ_TIMEOUT", "0", "SUMMARIZER_READ_TIMEOUT='0' must be a positive number"),
        ("SUMMARIZER_PARALLEL", "0", "SUMMARIZER_PARALLEL='0' must be at least 1"),
        ("SUMMARIZER_MAX_WINDOWS", "x", "SUMMARIZER_MAX_WINDOWS='x' is not a whole number"),
    ],
)
def test_bad_settings_are_named_at_start(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, said: str
) -> None:
    monkeypatch.setenv(name, value)
    result = run("list")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {said}")


def test_markdown_front_matter_gives_the_title(tmp_path: Path, hash_embedder: str) -> None:
    import json

    note = tmp_path / "note.md"
    note.write_text(
        f'---\ntitle: "Binance and Russia"\ndate: 2022-03-01\n---\n\n# Heading\n\n{BODY}'
    )
    assert run("ingest", str(note)).exit_code == 0
    (article,) = json.loads(run("list", "--json").stdout)
    assert article["title"] == "Binance and Russia"


def test_a_list_line_that_is_no_url_is_named_whole_and_chosen_names_are_kept(
    tmp_path: Path,
) -> None:
    listing = tmp_path / "feeds.txt"
    listing.write_text("https://a.example/f.xml news\nnot a url\nhttps://b.example/f.xml news\n")
    result = run("feeds", "import", str(listing))
    assert result.exit_code == 1
    assert f"error: {listing}:2: not an http(s) URL: 'not a url'" in result.stderr
    assert f"error: {listing}:3: a feed named 'news' already exists" in result.stderr
    # Names from an OPML file are the feeds' own titles: a taken one is numbered, and said so.
    opml = tmp_path / "feeds.opml"
    opml.write_text(
        '<opml><body><outline title="news" xmlUrl="https://c.example/f.xml"/></body></opml>'
    )
    said = run("feeds", "import", str(opml))
    assert "added feed news-2: https://c.example/f.xml (the name 'news' is taken)" in said.stdout


def test_search_on_an_empty_corpus_says_how_to_fill_it(hash_embedder: str) -> None:
    result = run("search", "sanctions")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the corpus is empty (add articles with")


def test_quotes_render_apart_and_keep_their_own_quotation_marks() -> None:
    from summarizer.render import apart, quoted

    assert quoted("“We are not  freezing accounts,” it said") == (
        "“We are not freezing accounts,” it said"
    )
    assert quoted("Binance said so") == "“Binance said so”"
    lines = ["1. A point", "   > “one” `[0:3]`", "   > “two” `[5:8]`", "2. Next"]
    assert apart(lines) == ["1. A point", "   > “one” `[0:3]`", "", "   > “two” `[5:8]`", "2. Next"]


def test_a_host_name_that_does_not_resolve_is_said_so(hash_embedder: str, tmp_path: Path) -> None:
    article = tmp_path / "a.txt"
    article.write_text("Title\n\n" + BODY)
    result = run("summarize", str(article), "--ollama-host", "no-such-host.invalid")
    assert result.exit_code == 1
    line = result.stderr.strip().splitlines()[-1]
    assert "(the host name does not resolve" in line
    assert "check the host name in OLLAMA_HOST" in line


def test_list_gives_a_file_its_date(tmp_path: Path, hash_embedder: str) -> None:
    article = tmp_path / "a.txt"
    article.write_text("Title\n\n" + BODY)
    os.utime(article, (1_578_000_000, 1_578_000_000))  # 2020-01-02
    assert run("ingest", str(article)).exit_code == 0
    (line,) = run("list").stdout.splitlines()
    assert "  2020-01-02  " in line and line.endswith("Title")


def test_reindex_leaves_only_the_live_collections_files(
    hash_embedder: str, corpus_copy: Path, isolated_env: Path
) -> None:
    import uuid

    assert run("ingest", str(corpus_copy)).exit_code == 0
    for _ in range(3):
        assert run("reindex").exit_code == 0

    def segments() -> list[str]:
        names = [p.name for p in (isolated_env / "chroma").iterdir() if p.is_dir()]
        return [n for n in names if uuid.UUID(n)]

    assert len(segments()) == 1
    assert "Binance" in run("search", "Binance freezing accounts", "-k", "1").stdout


def test_a_meta_refresh_page_is_followed(hash_embedder: str, site: Any) -> None:
    from summarizer import pipeline
    from summarizer.config import Settings
    from tests.test_ingest_urls import article_page, local, sample

    title, body = sample()
    site.pages["/news/binance"] = (200, "text/html; charset=utf-8", article_page(title, body))
    refresh = '<html><head><meta http-equiv="Refresh" content="0; URL={}"></head><body>Moved</body>'
    site.pages["/short"] = (200, "text/html", refresh.format("/news/binance").encode())
    site.pages["/a"] = (200, "text/html", refresh.format("/b").encode())
    site.pages["/b"] = (200, "text/html", refresh.format("/a").encode())
    report = pipeline.ingest(local(), [f"{site.url}/short", f"{site.url}/a"])
    by_item = {r.item.removeprefix(site.url): r for r in report.results}
    short, loop = by_item["/short"], by_item["/a"]
    assert short.status == "added", short.reason
    (article,) = pipeline.list_articles(Settings.from_env())
    assert article.url == f"{site.url}/news/binance" and article.title == title
    assert loop.status == "failed" and "too many redirects" in (loop.reason or "")


def test_utf16_without_a_byte_order_mark_is_text(tmp_path: Path, hash_embedder: str) -> None:
    article = tmp_path / "u16.txt"
    article.write_bytes(f"Title in UTF-16\n\n{BODY}".encode("utf-16-le"))
    result = run("ingest", str(article))
    assert result.exit_code == 0, result.stderr
    assert "text encoding guessed as UTF-16" in result.stderr
    assert "Title in UTF-16" in run("list").stdout


def test_a_bare_double_star_glob_finds_the_top_level_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from summarizer.reading.sources import expand

    (tmp_path / "sub").mkdir()
    (tmp_path / "x.md").write_text("X\n\n" + BODY)
    (tmp_path / "sub" / "y.txt").write_text("Y\n\n" + BODY)
    monkeypatch.chdir(tmp_path)
    found = sorted(Path(p).name for p in expand(["**"]) if isinstance(p, str))
    assert found == ["x.md", "y.txt"]


def test_a_bounded_list_keeps_its_description() -> None:
    from summarizer.analysis.summarize import MergeReply, bounded

    field = bounded(MergeReply, "point_ids", 4).model_json_schema()["properties"]["point_ids"]
    assert field["maxItems"] == 4 and "ids of the key points" in field["description"]


def test_a_deeply_nested_page_fails_alone_in_ingest_and_refresh(
    tmp_path: Path, hash_embedder: str, site: Any
) -> None:
    """Thousands of nested elements (or fewer, under a descendant CSS rule) used to end the
    whole batch with a RecursionError traceback: the page fails alone, with one line."""
    body = f"<p>{BODY}</p>"
    deep = "<html><body>" + "<div>" * 5000 + body + "</div>" * 5000 + "</body></html>"
    styled = (
        "<html><head><style>div div span { display: none } .x p { color: red }</style></head>"
        "<body>" + "<div class=x>" * 3000 + body + "</div>" * 3000 + "</body></html>"
    )
    for name, page in (("deep.html", deep), ("styled.html", styled)):
        (tmp_path / name).write_text(page, encoding="utf-8")
    (tmp_path / "fine.txt").write_text("A fine article\n\n" + BODY, encoding="utf-8")
    # In processes of their own: a RecursionError, even caught, can leave this interpreter's
    # AST recursion count off (CPython 3.11), which breaks pytest's reporting afterwards.
    env = {"SUMMARIZER_HOME": os.environ["SUMMARIZER_HOME"], "SUMMARIZER_EMBEDDER": "hash:256"}
    result = command("ingest", str(tmp_path), env=env)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    for name in ("deep.html", "styled.html"):
        assert (
            f"error: {tmp_path / name}: the page's elements are nested too deeply to read "
            "(thousands of levels)"
        ) in lines
    assert lines[-1].startswith("ingest: 1 added, 0 updated, 0 unchanged, 2 failed")
    site.pages["/story"] = (200, "text/html", f"<html><body>{body}</body></html>".encode())
    assert command("ingest", f"{site.url}/story", "--allow-private", env=env).returncode == 0
    site.pages["/story"] = (200, "text/html", deep.encode())
    refreshed = command("refresh", "--all", env=env)
    assert refreshed.returncode == 1
    assert "nested too deeply" in refreshed.stderr and "Traceback" not in refreshed.stderr


@pytest.fixture
def reader() -> list[str]:
    """How to run a command as a user who cannot write the data dir: as root permissions are
    not enforced, so as `nobody` (skipped when that user cannot run this interpreter)."""
    import shutil

    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: no user to read as")
    as_nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    tried = subprocess.run([*as_nobody, sys.executable, "-c", "import summarizer"],
                           capture_output=True, text=True, check=False)  # fmt: skip
    if tried.returncode != 0:
        pytest.skip(f"the user nobody cannot run this checkout: {tried.stderr.strip()[-200:]}")
    return as_nobody


def test_a_read_only_data_dir_can_be_read(
    hash_embedder: str, corpus_copy: Path, reader: list[str]
) -> None:
    """A data dir on a read-only mount, an archive or another user's: list, show, search and
    history read it (they used to fail with "attempt to write a readonly database"), and
    nothing in it changes."""
    import json
    import shutil
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="summarizer-ro-"))
    top.chmod(0o755)  # the reader may enter it, and nothing below is writable for it
    data = top / "data"
    env = {"SUMMARIZER_HOME": str(data), "SUMMARIZER_EMBEDDER": "hash:256"}
    articles = top / "articles"  # where the reader may look too (`list` shows a file's date)
    shutil.copytree(corpus_copy, articles)
    for f in [articles, *articles.iterdir()]:
        f.chmod(0o755 if f.is_dir() else 0o644)
    try:
        assert command("ingest", str(articles), env=env).returncode == 0
        aid = json.loads(command("list", "--json", env=env).stdout)[0]["id"]
        asked = [["list"], ["show", aid], ["search", "Binance Kraken freeze"], ["history", aid]]
        before = [command(*args, env=env).stdout for args in asked]
        for f in [data, *data.rglob("*"), articles, *articles.iterdir()]:
            f.chmod(f.stat().st_mode & ~0o222)
        files = {f: f.stat().st_mtime_ns for f in data.rglob("*")}
        for args, expected in zip(asked, before, strict=True):
            read = subprocess.run(
                [*reader, sys.executable, "-m", "summarizer", *args],
                capture_output=True, text=True, env={**os.environ, **env}, timeout=120,
                check=False,
            )  # fmt: skip
            assert read.returncode == 0, (args, read.stderr)
            assert read.stdout == expected, args
        assert {f: f.stat().st_mtime_ns for f in data.rglob("*")} == files
    finally:
        for f in [top, *top.rglob("*")]:
            f.chmod(f.stat().st_mode | 0o700)
        shutil.rmtree(top)
