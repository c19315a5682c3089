"""The command line: help, JSON shapes, exit statuses and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from summarizer.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, command in cli.commands.items():
        result = run(name, "--help")
        assert result.exit_code == 0, name
        assert command.help, name
        assert f"summarizer {name}" in readme, f"`summarizer {name}` is not in the README"


def test_help_imports_only_click() -> None:
    code = (
        "import sys, summarizer.cli; "
        "heavy = [m for m in ('chromadb', 'ollama', 'pydantic', 'httpx', 'rich', 'trafilatura',"
        " 'langchain_text_splitters', 'bs4') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    proc = subprocess.run(
        [sys.executable, "-m", "summarizer", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "ingest" in proc.stdout


def test_ingest_list_show_search_remove_json(hash_embedder: str, corpus_copy: Path) -> None:
    result = run("ingest", str(corpus_copy), "--json")
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)
    assert [i["status"] for i in items] == ["added"] * 5
    assert "5 added, 0 updated, 0 unchanged, 0 failed" in result.stderr

    listed = json.loads(run("list", "--json").stdout)
    assert len(listed) == 5 and {"id", "title", "source", "chars"} <= set(listed[0])

    hits = json.loads(run("search", "Kraken legal requirement", "-k", "2", "--json").stdout)
    assert len(hits) == 2
    for hit in hits:
        assert {
            "article_id",
            "title",
            "source",
            "chunk_id",
            "start",
            "end",
            "text",
            "score",
        } <= set(hit)
        article = json.loads(run("show", hit["article_id"], "--json").stdout)
        assert {"id", "title", "source", "text"} <= set(article)
        assert article["text"][hit["start"] : hit["end"]] == hit["text"]

    text = run("show", listed[0]["id"]).stdout
    assert listed[0]["title"] in text
    removed = run("remove", listed[0]["id"])
    assert removed.exit_code == 0 and listed[0]["id"] in removed.stdout
    assert len(json.loads(run("list", "--json").stdout)) == 4


def test_an_empty_id_names_no_article(hash_embedder: str, corpus_copy: Path) -> None:
    """An empty id is the prefix of every id: with one article stored it used to remove it."""
    one = corpus_copy / "one"
    one.mkdir()
    first = sorted(corpus_copy.glob("*.txt"))[0]
    (one / first.name).write_text(first.read_text(encoding="utf-8"), encoding="utf-8")
    assert run("ingest", str(one)).exit_code == 0
    for given in ("", "   "):
        for command in ("remove", "show", "history"):
            refused = run(command, given)
            assert refused.exit_code == 1, (command, given, refused.output)
            assert refused.stderr.startswith(f"error: no article {given!r}: an article id is not")
    assert len(json.loads(run("list", "--json").stdout)) == 1


def test_human_output(hash_embedder: str, corpus_copy: Path) -> None:
    run("ingest", str(corpus_copy))
    listing = run("list").stdout
    assert "Binance and Kraken Declines" in listing
    found = run("search", "Binance Kraken freeze").stdout
    assert found.startswith("1. ") and "score" in found


def test_bad_items_one_line_each_and_exit_1(
    hash_embedder: str, corpus_copy: Path, tmp_path: Path
) -> None:
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "doc.pdf").write_bytes(b"%PDF-1.4")
    result = run(
        "ingest",
        str(corpus_copy),
        str(tmp_path / "empty.txt"),
        str(tmp_path / "doc.pdf"),
        str(tmp_path / "nope"),
    )
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 3, result.stderr
    assert any("empty.txt" in e for e in errors)
    assert any("doc.pdf" in e for e in errors)
    assert any("nope" in e for e in errors)
    assert "Traceback" not in result.output
    assert "5 added" in result.stderr


def test_unknown_id_and_bad_embedder_are_one_line_errors(hash_embedder: str) -> None:
    result = run("show", "abc")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no article 'abc'")
    assert len(result.stderr.strip().splitlines()) == 1
    result = run("search", "x", "--embedder", "word2vec")
    assert result.exit_code == 2
    assert "unknown embedder" in result.stderr


def test_search_empty_corpus(hash_embedder: str) -> None:
    result = run("search", "anything")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: the corpus is empty (add articles with `summarizer ingest PATH|URL`)\n"
    )
    assert run("search", "anything", "--json").exit_code == 1


@pytest.mark.parametrize("args", [["list"], ["list", "--json"]])
def test_home_option_overrides_env(hash_embedder: str, tmp_path: Path, args: list[str]) -> None:
    result = run(*args, "--home", str(tmp_path / "elsewhere"))
    assert result.exit_code == 0
    assert (tmp_path / "elsewhere" / "catalog.sqlite3").exists()


def test_a_missing_file_is_said_to_be_missing(hash_embedder: str, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "story.txt"
    for command in ("summarize", "claims"):
        result = run(command, str(missing))
        assert result.exit_code == 1
        assert result.stderr.startswith(f"error: {missing}: no such file")
    unknown = run("summarize", "abcdef")
    assert unknown.exit_code == 1 and "no article 'abcdef'" in unknown.stderr


def test_conventions_one_name_per_output_and_standard_input(
    hash_embedder: str, tmp_path: Path
) -> None:
    """`-` is standard input as a SOURCE; -m and -o are --model and --out; `report` names its file
    with --out (or --html) like every other command; `serve` lists no option it ignores."""
    story = "Buses for the city\n\n" + (
        "The council voted on Monday to expand the bus network by twelve routes, officials "
        "said, and drivers will be hired in the spring. " * 4
    )
    added = CliRunner().invoke(cli, ["ingest", "-", "--json"], input=story)
    assert added.exit_code == 0, added.output
    (item,) = json.loads(added.stdout)
    assert item["status"] == "added" and item["title"] == "Buses for the city"
    again = CliRunner().invoke(cli, ["ingest", "-"], input=story)
    assert "1 unchanged" in again.stderr  # the same text: the same article
    empty = CliRunner().invoke(cli, ["ingest", "-"], input="")
    assert empty.exit_code == 2 and "standard input is empty" in empty.stderr
    for command in ("summarize", "claims", "ask"):
        text = run(command, "--help").stdout
        assert "-m, --model NAME" in text and "-o, --out FILE" in text, command
    assert "-o, --out, --html FILE" in run("report", "--help").stdout
    served = run("serve", "--help").stdout
    assert "--out" not in served and "--no-cache" not in served and "--model" in served
    assert "1 article" in run("list").stderr  # not "1 articles"
