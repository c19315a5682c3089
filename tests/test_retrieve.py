"""Retrieval: the period a question names, the fusion of the rankings, the per-article limit,
titles in the lexical index, and `search` using the same retrieval as `ask`."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

from click.testing import CliRunner

from summarizer import pipeline
from summarizer.cli import cli
from summarizer.config import Settings
from summarizer.corpus.retrieve import FUSION, Candidates, Fusion, fuse
from summarizer.corpus.when import Period, period

TODAY = date(2026, 12, 3)


def test_the_period_a_question_names() -> None:
    week = period("Which exchanges froze Russian accounts this week?", TODAY)
    assert week == Period(TODAY - timedelta(days=7), TODAY, recent=True)
    assert period("What did Binance say recently?", TODAY).recent  # type: ignore[union-attr]
    march = period("Who sanctioned miners in March 2022?", TODAY)
    assert march == Period(date(2022, 3, 1), date(2022, 3, 31), recent=False)
    assert period("the hack on 5 May 2022", TODAY) == Period(
        date(2022, 5, 5), date(2022, 5, 5), recent=False
    )
    assert period("the hack on May 5th, 2022", TODAY).first == date(2022, 5, 5)  # type: ignore[union-attr]
    assert period("what changed in 2021", TODAY).last == date(2021, 12, 31)  # type: ignore[union-attr]
    assert period("what changed since 2021", TODAY) == Period(date(2021, 1, 1), TODAY, recent=False)
    # A named date wins over a relative word; no date and no relative word: no period.
    assert period("recent news from 2022-03-04", TODAY).first == date(2022, 3, 4)  # type: ignore[union-attr]
    assert period("Which exchanges refused to freeze accounts?", TODAY) is None
    assert period("the 2022 invasion", TODAY) is None  # a year alone is a name, not a period
    # No such day: the month it names.
    assert period("on 31 February 2022", TODAY) == Period(
        date(2022, 2, 1), date(2022, 2, 28), recent=False
    )


def ranking(*chunks: tuple[str, str, float]) -> list[tuple[str, str, float]]:
    return list(chunks)


def test_a_ranking_whose_top_stands_out_wins_the_fusion() -> None:
    # Dense scores are flat; one lexical hit stands far above the rest (a rare name matched).
    dense = ranking(*((f"d{i}", f"a{i}", 0.50 - i * 0.001) for i in range(20)), ("x", "ax", 0.48))
    lexical = ranking(("x", "ax", 30.0), *((f"l{i}", f"b{i}", 3.0 - i * 0.01) for i in range(20)))
    found = Candidates(dense, lexical, {})
    assert fuse(found, 1)[0].chunk_id == "x"  # score-aware: the standout comes first
    first = fuse(found, 3)
    assert (first[0].dense_rank, first[0].lexical_rank) == (21, 1)


def test_words_remembered_from_a_text_find_that_text() -> None:
    # Words of one sentence, typed from memory. Dense ranks a look-alike of another article first
    # by far; lexical has two chunks with every word, the one with them together first by a hair.
    words = ["trezeguet", "egypt", "footed", "shot", "saved"]
    filler = " ".join(["the match went on"] * 12)
    texts = {
        "x": f"{filler} Trezeguet of Egypt footed a low shot which Alisson saved. {filler}",
        "y": f"Trezeguet started. {filler} Egypt footed the bill. {filler} A shot was saved.",
        "d": "The striker's effort was stopped by the goalkeeper.",
    }
    dense = ranking(("d", "ad", 0.90), *((f"f{i}", f"af{i}", 0.30 + i * 1e-3) for i in range(20)))
    lexical = ranking(("x", "ax", 10.0), ("y", "ay", 9.9))
    lexical += ranking(*((f"l{i}", f"al{i}", 6.0 - i * 0.1) for i in range(20)))
    found = Candidates(dense, lexical, {}, words, texts)
    assert fuse(found, 1, replace(FUSION, verbatim=0.0))[0].chunk_id == "d"
    assert [f.chunk_id for f in fuse(found, 3)][:2] == ["x", "y"]
    # Close together beats merely present: with equal BM25 scores, the proximity ranking decides.
    tied = Candidates(dense, ranking(("y", "ay", 10.0), *lexical[1:]), {}, words, texts)
    tied.lexical[1] = ("x", "ax", 10.0)
    assert fuse(tied, 1)[0].chunk_id == "x"
    # A question in other words than the text's (few of its terms in any one chunk) is fused as
    # if the rule were not there; so is every query under reciprocal-rank fusion.
    asked = Candidates(dense, lexical, {}, ["striker", "goalkeeper", "stopped", "egypt"], texts)
    assert fuse(asked, 5) == fuse(asked, 5, replace(FUSION, verbatim=0.0))
    rrf = Fusion(method="rrf")
    assert fuse(found, 5, rrf) == fuse(found, 5, replace(rrf, verbatim=0.0))


def test_the_per_article_limit_leaves_room_for_other_articles() -> None:
    dense = ranking(*((f"a-{i}", "a", 0.9 - i * 0.01) for i in range(8)), ("b-0", "b", 0.5))
    found = Candidates(dense, [], {})
    picked = fuse(found, 8, Fusion(dense=1.0, lexical=0.0))
    assert [f.article_id for f in picked].count("a") == FUSION.per_article
    assert "b-0" in [f.chunk_id for f in picked]
    assert fuse(found, 8, Fusion(per_article=1))[1].chunk_id == "b-0"


def test_the_period_ranking_picks_the_newest_of_equal_texts() -> None:
    # The same chunk text in three articles (a story syndicated three times): equal scores.
    dense = ranking(("old-0", "old", 0.8), ("mid-0", "mid", 0.8), ("new-0", "new", 0.8))
    dense += ranking(*((f"z{i}", f"z{i}", 0.3) for i in range(10)))
    dates = {"old": "2024-12-01", "mid": "2025-12-01", "new": "2026-12-01"}
    found = Candidates(dense, [], dates)
    assert fuse(found, 1)[0].chunk_id == "old-0"  # no period asked: the first of the equals
    week = period("this week", TODAY)
    assert fuse(found, 1, asked=week)[0].chunk_id == "new-0"
    in_2025 = period("in 2025", TODAY)
    assert fuse(found, 1, asked=in_2025)[0].chunk_id == "mid-0"
    # A period does not lift an unrelated article above a relevant one by much: undated and
    # far-off chunks keep their text order among themselves.
    assert [f.chunk_id for f in fuse(found, 3, asked=week)][1:] == ["mid-0", "old-0"]


PROSE = (
    "The harbour authority opened a second ferry terminal on the east quay, where crews will load "
    "freight and passengers from early morning until late at night. Officials expect the terminal "
    "to cut waiting times by half during the summer months, when the island's population triples "
    "and the queues reach the old town. The operator has hired forty new staff for the season."
)


def page(title: str, day: str, body: str) -> str:
    return (
        f"<html><head><title>{title}</title>"
        f'<meta property="article:published_time" content="{day}T09:00:00Z"></head>'
        f"<body><article><h1>{title}</h1><p>{body}</p></article></body></html>"
    )


def test_search_prefers_the_period_and_finds_titles(hash_embedder: str, tmp_path: Path) -> None:
    folder = tmp_path / "pages"
    folder.mkdir()
    today = date.today()
    recent, old = (today - timedelta(days=2)).isoformat(), (today - timedelta(days=800)).isoformat()
    (folder / "old.html").write_text(page("Ferry terminal opens", old, PROSE))
    (folder / "new.html").write_text(page("Ferry terminal opens", recent, PROSE + " Again."))
    (folder / "other.html").write_text(
        page("Quokka sanctuary", recent, PROSE.replace("ferry", "tram").replace("harbour", "city"))
    )
    settings = Settings.from_env()
    assert pipeline.ingest(settings, [str(folder)]).failed == 0
    by_file = {Path(a.source).name: a for a in pipeline.list_articles(settings)}
    assert (by_file["new.html"].date, by_file["old.html"].date) == (recent, old)
    hits = pipeline.search(settings, "Which new ferry terminal cut waiting times this week?", k=3)
    assert hits[0].article_id == by_file["new.html"].id
    hits = pipeline.search(settings, f"the ferry terminal waiting times in {old[:4]}", k=3)
    assert hits[0].article_id == by_file["old.html"].id
    # A word only in a title is found (the lexical index holds each chunk's title).
    hits = pipeline.search(settings, "quokka", k=1)
    assert hits and hits[0].title == "Quokka sanctuary" and hits[0].lexical_rank == 1

    runner = CliRunner()
    fused = json.loads(runner.invoke(cli, ["search", "ferry terminal", "--json"]).stdout)
    assert fused and all(h["lexical_rank"] is not None or h["dense_rank"] for h in fused)
    dense = json.loads(runner.invoke(cli, ["search", "ferry terminal", "--dense", "--json"]).stdout)
    assert dense and all(h["dense_rank"] is None and -1 <= h["score"] <= 1 for h in dense)
