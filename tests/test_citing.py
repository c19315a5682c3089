"""Citations by sentence id, the article's own sentences where the model's are not backed, one
prompt prefix per article (on one host), and outcomes that agree with their counts: against the
stand-in Ollama server over real HTTP."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from summarizer import pipeline
from summarizer.cli import cli
from summarizer.config import Settings
from summarizer.grounding.statements import named_speakers, standalone, unnamed_speaker
from summarizer.llm.stream import looping
from summarizer.words import sentence_spans
from tests.standin_ollama import (
    SUPPORT_SCHEMA,
    ModelSpec,
    StandinOllama,
    default_models,
    sentence_id,
)

BINANCE = "002_797977910b246ba2.txt"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def env(hash_embedder: str, ollama_env: StandinOllama, corpus_copy: Path) -> StandinOllama:
    assert pipeline.ingest(Settings.from_env(), [str(corpus_copy)]).failed == 0
    return ollama_env


def article_of(path: Path) -> Any:
    return pipeline.get_article(Settings.from_env(), pipeline.article_id("file", str(path)))


# --- sentences ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mr. Smith met Dr. Jones at 5 p.m. The talks ended.",
         ["Mr. Smith met Dr. Jones at 5 p.m.", "The talks ended."]),
        ("The U.S. Treasury and J. K. Rowling agreed. In the U.S. The rule applies.",
         ["The U.S. Treasury and J. K. Rowling agreed.", "In the U.S.", "The rule applies."]),
        # A page that lost its spaces after full stops, and prices with decimals.
        ("in 2015.The driver said so. Prices rose 3.5 per cent.",
         ["in 2015.", "The driver said so.", "Prices rose 3.5 per cent."]),
        # A list's bullet is not part of its item; a heading is a line of its own.
        ("Key facts\n  • A call was sent to 31 exchanges.\n- Miners were named.",
         ["Key facts", "A call was sent to 31 exchanges.", "Miners were named."]),
        ("“It’s over,” he said. Did he? Yes!", ["“It’s over,” he said.", "Did he?", "Yes!"]),
        # "No." is a number sign only before a number.
        ("He ranked No. 5 in the poll. Asked again, he said no. Then he left.",
         ["He ranked No. 5 in the poll.", "Asked again, he said no.", "Then he left."]),
    ],
)  # fmt: skip
def test_sentences_of_news_text(text: str, expected: list[str]) -> None:
    assert [text[a:b] for a, b in sentence_spans(text)] == expected


@given(st.text(alphabet="ab .!?\n“”•-", max_size=80))
def test_sentence_spans_are_exact_ordered_and_apart(text: str) -> None:
    spans = sentence_spans(text)
    for i, (a, b) in enumerate(spans):
        piece = text[a:b]
        assert piece and piece == piece.strip() and "\n" not in piece
        assert i + 1 == len(spans) or b <= spans[i + 1][0]


@pytest.mark.parametrize(
    ("sentence", "alone"),
    [
        ("Binance only plans to block the accounts of individuals on sanctions lists.", True),
        ("“We will apply those aggressively,” Binance said.", True),
        ("‘I had a taste of it at Hearts and really enjoyed it.", False),  # a quote goes on
        ("It’s about the players.’", False),  # the end of a quote begun before
        ("Kilmarnock will confirm Gary Locke as the club's new manager on Friday", False),
        ("Did the exchange freeze the accounts of Russian users?", False),
        ("Scroll down for video: the guard was shot.", False),
        ("Prices rose.", False),  # too short to stand for anything
    ],
)
def test_a_statement_on_its_own(sentence: str, alone: bool) -> None:
    assert standalone(sentence) is alone


@pytest.mark.parametrize(
    ("sentence", "speaker"),
    [
        ("The bridge was closed on Sunday, police said.", "police"),
        ("According to police, the bridge was closed on Sunday.", "police"),
        ("The exchange will keep serving users in Russia for now, it said.", "it"),
        ("The talks are over, a spokesperson for the ministry said.", "a spokesperson"),
        ("The bridge was closed on Sunday.", None),
    ],
)
def test_who_speaks_unnamed(sentence: str, speaker: str | None) -> None:
    found = unnamed_speaker(sentence)
    assert found == speaker or (speaker is not None and found is not None and speaker in found)


def test_who_speaks() -> None:
    text = (
        "Ukraine's Vice Prime Minister Mykhailo Fedorov tweeted that it is crucial. "
        "A call was made, said John Smith. Powell said Rademenes gives hugs. "
        "He told Racemail: 'I am fine.'"
    )
    assert named_speakers(text) == ["Mykhailo Fedorov", "John Smith", "Powell"]


# --- citations by id, under the grammar -------------------------------------------------------


def test_an_article_without_sentences_is_a_clear_error(ollama_settings: Settings) -> None:
    from summarizer.analysis.windows import CallLog, article_windows
    from summarizer.errors import ExtractionError
    from summarizer.llm import Ollama
    from summarizer.models import Article

    article = Article(id="a1", source="a.txt", title="Title", text=" \n ", content_hash="h")
    with Ollama(ollama_settings) as llm, pytest.raises(ExtractionError, match=r"^a1: .*sentences"):
        article_windows(llm, article, CallLog(affinity=article.id))


def test_citations_name_sentences_of_the_prompt_and_are_their_exact_spans(
    env: StandinOllama, corpus_copy: Path
) -> None:
    data = json.loads(run("claims", str(corpus_copy / BINANCE), "--json").stdout)
    article = article_of(corpus_copy / BINANCE)
    (request,) = [r.body for r in env.requests("/api/chat")
                  if r.body["format"].get("title") != SUPPORT_SCHEMA]  # fmt: skip
    prompt = request["messages"][1]["content"]
    numbered = dict(re.findall(r"^\[(s\d+)\] (.*)$", prompt, re.MULTILINE))
    ids = request["format"]["$defs"]["SentenceRef"]["properties"]["sentence"]["enum"]
    assert ids == list(numbered)
    claims = request["format"]["properties"]["claims"]
    assert claims["minItems"] >= 1  # an empty list is not an answer
    spans = {(a, b) for a, b in sentence_spans(article.text)}
    for claim in data["claims"]:
        for c in claim["citations"]:
            assert article.text[c["start"] : c["end"]] == c["quote"]
            # A sentence of the article, or a quote inside one.
            assert any(a <= c["start"] and c["end"] <= b for a, b in spans)


def test_a_claim_of_someone_its_sentences_do_not_name_is_shown_as_the_sentence_itself(
    env: StandinOllama, corpus_copy: Path
) -> None:
    def reply(body: dict[str, Any]) -> str:
        claim = {
            "statement": "Coinbase said it would not freeze the accounts of its Russian users.",
            "kind": "direct_quote",
            "asserted_by": "Coinbase",  # not named there, nor in the title
            "hedged": False,
            "citations": [{"sentence": sentence_id(body, "The reply from Binance")}],
        }
        return json.dumps({"claims": [claim]})

    env.misbehave("reply", times=None, schema="ClaimsReply", content=reply)
    data = json.loads(run("claims", str(corpus_copy / BINANCE), "--json").stdout)
    (claim,) = data["claims"]
    assert claim["statement_source"] == "article"
    assert claim["statement"].startswith("The reply from Binance came on Monday")
    # Who asserts it, as the sentence says ("...and the crypto giant said that...").
    assert claim["asserted_by"] == "the crypto giant" and "Coinbase" not in json.dumps(claim)
    assert claim["date"] is None and claim["place"] is None  # the model's, not the sentence's
    assert data["counts"]["replaced"] == 1 and data["counts"]["article_sentences"] == 1


def test_a_reply_with_line_breaks_inside_its_strings_is_read(
    env: StandinOllama, corpus_copy: Path
) -> None:
    # A small model writes them, and a grammar may let it: JSON that Python reads leniently.
    def reply(body: dict[str, Any]) -> str:
        cited = {"sentence": sentence_id(body, "The reply from Binance")}
        point = {"text": "The reply from Binance came on Monday.", "citations": [cited]}
        text = json.dumps({"headline": "A", "summary": "B", "key_points": [point]})
        return text.replace('"A"', '"Binance\nanswers"')

    env.misbehave("reply", times=None, schema="SummaryReply", content=reply)
    result = run("summarize", str(corpus_copy / BINANCE), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["key_points"]


def test_fifteen_claims_alike_in_their_keys_are_no_loop() -> None:
    claims = [
        {"statement": f"Claim {i} is about topic {i * 7} and nothing else.",
         "kind": "reported_fact", "asserted_by": "the publication", "hedged": False,
         "date": None, "place": None, "citations": [{"sentence": f"s{i}"}]}
        for i in range(15)
    ]  # fmt: skip
    assert looping(json.dumps({"claims": claims})) is None
    same = [{**claims[0]} for _ in range(15)]
    assert looping(json.dumps({"claims": same})) is not None


# --- one prompt prefix per article, on one host -------------------------------------------------


def test_every_task_on_an_article_starts_alike_on_one_host(
    hash_embedder: str, corpus_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with StandinOllama() as a, StandinOllama() as b:
        monkeypatch.setenv("OLLAMA_HOST", f"{a.url},{b.url}")
        assert pipeline.ingest(Settings.from_env(), [str(corpus_copy)]).failed == 0
        articles = sorted(corpus_copy.glob("*.txt"))[:3]
        for task in ("summarize", "claims"):
            result = run(task, *map(str, articles), "--json", "--parallel", "2")
            assert result.exit_code == 0, result.output
        by_article: dict[str, set[str]] = {}
        prefixes: dict[str, set[str]] = {}
        for server in (a, b):
            for r in server.requests("/api/chat"):
                messages = r.body["messages"]
                title = re.search(r"^Title: (.*)$", messages[1]["content"], re.MULTILINE)
                assert title is not None
                by_article.setdefault(title.group(1), set()).add(server.url)
                # The same leading messages (system, numbered article) for every task, the
                # support checks included; only the last message is the task's.
                prefixes.setdefault(title.group(1), set()).add(json.dumps(messages[:2]))
                assert len(messages) == 3 and messages[2]["content"].startswith("Task: ")
        assert len(by_article) == 3
        assert all(len(hosts) == 1 for hosts in by_article.values()), by_article
        assert all(len(p) == 1 for p in prefixes.values())


# --- the support check on another model --------------------------------------------------------


def test_the_support_check_may_use_another_model(
    hash_embedder: str, corpus_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = [*default_models(), ModelSpec("bespoke-minicheck"), ModelSpec("checker")]
    with StandinOllama(models=models) as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        assert pipeline.ingest(Settings.from_env(), [str(corpus_copy)]).failed == 0
        source = str(corpus_copy / BINANCE)
        data = json.loads(run("claims", source, "--json", "--support-model", "checker").stdout)
        checks = [r.body for r in server.requests("/api/chat")
                  if r.body["format"].get("title") == SUPPORT_SCHEMA]  # fmt: skip
        assert [c["model"] for c in checks] == ["checker"]
        assert data["claims"]
        # A MiniCheck model is asked Yes or No, statement by statement: "No" lowers it.
        server.clear_log()
        server.misbehave("reply", times=None, schema="YesNoReply",
                         content='{"supported": "No"}')  # fmt: skip
        monkeypatch.setenv("SUMMARIZER_SUPPORT_MODEL", "bespoke-minicheck")
        lowered = json.loads(run("claims", source, "--json", "--no-cache").stdout)
        asked = [r.body for r in server.requests("/api/chat")
                 if r.body["model"].startswith("bespoke-minicheck")]  # fmt: skip
        produced = lowered["counts"]["produced"]
        assert 1 <= len(asked) <= produced
        assert asked[0]["messages"][-1]["content"].startswith("Document: ")
        assert not any(c["statement_source"] == "model" for c in lowered["claims"])


# --- outcomes that agree with their counts ------------------------------------------------------


def test_an_answer_not_backed_says_why_and_agrees_with_its_counts(env: StandinOllama) -> None:
    env.misbehave("contradicting", times=None)
    result = run("ask", "Will Binance freeze the accounts of Russian users?", "--json")
    data = json.loads(result.stdout)
    counts = data["counts"]
    if data["found"]:
        pytest.skip("the stand-in's answer stood on a supported point")  # not the case here
    assert result.exit_code == 1 and counts["quotes_verified"] > 0
    # Its citations were found: the warning does not say they were not.
    assert data["warnings"] == [
        "the model answered, but none of its statements is backed by the passages it cites"
    ]
    assert "does not say" not in data["answer"]
    assert data["outcome"] == "nothing_supported"
    message = data["outcome_message"]
    assert f"citations: {counts['quotes_verified']} found" in message
    assert f"{counts['produced']} given" in message
    assert counts["supported"] == 0
