"""Support verdicts: a statement shown as coming from the article is one its quotes back.

Three layers: the quote (a fuzzy match never swaps a word, a quote stopping before a negation
takes it in), the code's check of each statement against its quotes, and the model's check that
can only lower a verdict. End to end through the CLI with the stand-in's twisted replies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from summarizer import pipeline
from summarizer.cli import cli
from summarizer.config import Settings
from summarizer.grounding import Evidence, check_support, locate
from summarizer.grounding.statements import standalone
from tests.standin_ollama import SUPPORT_SCHEMA, StandinOllama

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
BINANCE = "002_797977910b246ba2.txt"
KRAKEN = "“I understand the rationale for this request but, despite my deep respect for the Ukrainian people, @krakenfx cannot freeze the accounts of our Russian clients without a legal requirement to do so,” wrote Jesse Powell."  # noqa: E501
REFUSE = (CORPUS / "004_a1cf827bafe0670f.txt").read_text(encoding="utf-8")


@pytest.fixture
def env(hash_embedder: str, ollama_env: StandinOllama, corpus_copy: Path) -> StandinOllama:
    assert pipeline.ingest(Settings.from_env(), [str(corpus_copy)]).failed == 0
    return ollama_env


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def verdict(statement: str, quote: str) -> str:
    before = "A representative from the Binance team explained this saying: " + quote
    return check_support(statement, [Evidence(quote, quote, before=before)]).verdict


# -- quotes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("real", "swapped"),
    [
        ("without a legal requirement", "with a legal requirement"),
        ("deep respect for the Ukrainian people", "deep contempt for the Ukrainian people"),
        ("will block the accounts of Russian", "will approve the accounts of Russian"),
    ],
)
def test_a_quote_with_a_word_swapped_is_no_citation(real: str, swapped: str) -> None:
    assert real in REFUSE
    sentence = next(s for s in REFUSE.split("\n") if real in s)
    quote = sentence.replace(real, swapped)
    assert locate(sentence, REFUSE) is not None
    assert locate(quote, REFUSE) is None


def test_slips_inside_words_are_still_forgiven() -> None:
    found = locate(
        "We are not going to unilatarally freeze millions of inocent users accounts", REFUSE
    )
    assert found is not None and found.quote.startswith("We are not going to unilaterally")


def test_a_quote_cut_before_a_negation_takes_in_its_clause() -> None:
    found = locate("I understand the rationale for this request but, despite my deep", REFUSE)
    assert found is not None  # nothing reverses it: cited as is
    cut = "despite my deep respect for the Ukrainian people, @krakenfx"
    found = locate(cut, REFUSE)
    assert found is not None and found.quote.endswith(
        "cannot freeze the accounts of our Russian clients without a legal requirement to do so"
    )


# -- the code's check ----------------------------------------------------------------------------

QUOTE = "We are not going to unilaterally freeze millions of innocent users’ accounts"


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (
            "Binance is not going to unilaterally freeze millions of innocent users' accounts.",
            "supported",
        ),
        (
            "Binance refused to unilaterally freeze millions of innocent users' accounts.",
            "supported",
        ),
        ("Binance will be freezing the accounts of its innocent users.", "unsupported"),
        ("Binance is not going to unilaterally freeze 5 million accounts.", "unsupported"),
        (
            "Coinbase is not going to unilaterally freeze millions of innocent users' accounts.",
            "unsupported",
        ),
        ("Kraken raised its fees for Russian customers in March.", "unsupported"),
        (
            "Binance will not unilaterally freeze millions of innocent users' accounts, "
            "citing financial freedom and its global mission.",
            "partial",
        ),
    ],
)
def test_statements_against_their_quote(statement: str, expected: str) -> None:
    assert verdict(statement, QUOTE) == expected


def test_the_unbacked_words_and_the_reason_are_given() -> None:
    found = check_support("Binance froze 12 accounts in 2021.", [Evidence(QUOTE, QUOTE)])
    assert found.verdict == "unsupported"
    assert "12" in found.unbacked and "2021" in found.unbacked
    assert any("not in its quotes" in r for r in found.reasons)


def test_names_may_come_from_the_quoted_sentence_but_figures_only_from_the_quote() -> None:
    sentence = "Jesse Powell said the exchange cannot freeze 40 accounts of Russian clients."
    quote = "the exchange cannot freeze"
    named = check_support(
        "Jesse Powell said the exchange cannot freeze accounts.", [Evidence(quote, sentence)]
    )
    assert named.verdict != "unsupported"
    counted = check_support("The exchange cannot freeze 40 accounts.", [Evidence(quote, sentence)])
    assert counted.verdict == "unsupported" and "40" in counted.unbacked


@pytest.mark.parametrize(
    ("quote", "statement"),
    [
        # a word of the quote said twice, in place of another word of it
        (
            "In Aintree's crowded unsaddling area, the former England captain was waiting.",
            "In England's crowded unsaddling area, the former England captain was waiting.",
        ),
        (
            "If the taxes go up, we will pay more, if they go down, we will pay less.",
            "If the taxes go down, we will pay more, if they go down, we will pay less.",
        ),
        (
            "If you look at everything they have won, also look at what they have lost.",
            "If you look at everything they have lost, also look at what they have lost.",
        ),
        # "not just" taken out, or put in
        (
            "Sterling's stand-off with Liverpool over a new contract is not just to do with him.",
            "Sterling's stand-off with Liverpool over a new contract is just to do with him.",
        ),
        (
            "On Wednesday Khanal had just undergone surgery and was resting with his family.",
            "On Wednesday Khanal had not just undergone surgery and was resting with his family.",
        ),
    ],
)
def test_a_swap_within_the_quotes_own_words_is_not_supported(quote: str, statement: str) -> None:
    assert check_support(statement, [Evidence(quote, quote)]).verdict != "supported"
    assert check_support(quote, [Evidence(quote, quote)]).verdict == "supported"


# -- end to end ----------------------------------------------------------------------------------


def _shown(data: dict[str, Any], items: str, text: str) -> list[dict[str, Any]]:
    return [i for i in data[items] if (i.get("support") or {}).get("verdict") == "supported"]


def assert_the_articles_own(output: dict[str, Any], items: str, field: str) -> None:
    """Each item shown is a sentence of the article, verbatim, marked as the article's words."""
    article = pipeline.get_article(Settings.from_env(), output["article_id"])
    assert output[items]
    for item in output[items]:
        (citation,) = item["citations"]
        assert item[field] == citation["quote"] == article.text[citation["start"] : citation["end"]]
        assert item["statement_source"] == "article" and item["support"]["method"] == "article"
        assert standalone(item[field]), item[field]


@pytest.mark.parametrize(
    "twist", ["contradicting", "wrong_number", "unrelated_quote", "truncated_quote"]
)
def test_twisted_claims_are_never_shown_but_the_sentences_they_cite_are(
    env: StandinOllama, corpus_copy: Path, twist: str
) -> None:
    env.misbehave(twist, times=None)
    result = run("claims", str(corpus_copy / BINANCE), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    counts = data["counts"]
    assert counts["produced"] > 0 and counts["supported"] == counts["partial"] == 0
    assert counts["replaced"] + counts["unsupported"] == counts["produced"]
    # Not one of the model's twisted statements: the sentences they cite, each as it is.
    assert counts["article_sentences"] == len(data["claims"])
    assert_the_articles_own(data, "claims", "statement")
    assert data["outcome"] == "ok" and result.stderr == ""
    text = run("claims", str(corpus_copy / BINANCE)).stdout
    assert "(the article's own words)" in text and "not backed in full" in text
    # Kept on request, each is marked, never shown plain.
    kept = json.loads(
        run("claims", str(corpus_copy / BINANCE), "--json", "--keep-unverified").stdout
    )
    assert kept["claims"] and all(c["support"]["verdict"] != "supported" for c in kept["claims"])
    text = run("claims", str(corpus_copy / BINANCE), "--keep-unverified").stdout
    assert "(unsupported" in text or "(partly supported" in text


@pytest.mark.parametrize("twist", ["contradicting", "wrong_number", "unrelated_quote"])
def test_twisted_key_points_and_answers_are_not_shown(
    env: StandinOllama, corpus_copy: Path, twist: str
) -> None:
    env.misbehave(twist, times=None)
    data = json.loads(
        run("summarize", str(corpus_copy / BINANCE), "--json", "--length", "short").stdout
    )
    counts = data["counts"]
    assert counts["replaced"] > 0 and 0 < len(data["key_points"]) <= 3
    # The counts are of what is shown: past --length, a point is counted as such, not shown.
    assert counts["article_sentences"] == len(data["key_points"])
    assert counts["produced"] == counts["replaced"] + counts["unsupported"] + counts["beyond"]
    assert_the_articles_own(data, "key_points", "text")
    # The model's summary (the article's own sentences, here) stands on the sentences shown.
    assert data["summary_support"]["verdict"] == "supported" or (
        data["summary_source"] == "key_points"
    )
    answer = json.loads(
        run("ask", "Will Binance freeze the accounts of Russian users?", "--json").stdout
    )
    assert not any(p["support"]["verdict"] == "supported" for p in answer["points"])
    assert answer["answer_source"] == "points" or not answer["found"]


def test_a_boilerplate_summary_is_replaced_by_the_supported_points(
    env: StandinOllama, corpus_copy: Path
) -> None:
    env.misbehave("boilerplate_summary", times=None)
    data = json.loads(run("summarize", str(corpus_copy / BINANCE), "--json").stdout)
    assert data["key_points"] and "article is given between" not in data["summary"]
    assert data["summary_source"] == "key_points" and data["headline_source"] == "title"
    article = pipeline.get_article(Settings.from_env(), data["article_id"])
    assert data["headline"] == article.title
    supported = [p for p in data["key_points"] if p["support"]["verdict"] == "supported"]
    for n, point in enumerate(data["key_points"], 1):
        if point in supported:
            assert f"{point['text'].rstrip()} [{n}]" in data["summary"]
    text = run("summarize", str(corpus_copy / BINANCE)).stdout
    assert "summary is not backed" in text and "article is given between" not in text


def test_the_model_check_is_one_call_and_lowers_never_raises(
    env: StandinOllama, corpus_copy: Path
) -> None:
    source = str(corpus_copy / BINANCE)
    data = json.loads(run("claims", source, "--json").stdout)
    checks = [
        r for r in env.requests("/api/chat") if r.body["format"].get("title") == SUPPORT_SCHEMA
    ]
    assert len(checks) == 1 and data["calls"] == 2
    assert all(c["support"] == {**c["support"], "method": "rules"} for c in data["claims"])
    # A model that judges everything unsupported lowers every verdict: nothing is shown.
    env.misbehave(
        "reply",
        times=None,
        schema=SUPPORT_SCHEMA,
        content=lambda body: json.dumps(
            {
                "verdicts": [{"verdict": "unsupported", "unbacked": ["all"]}]
                * body["format"]["properties"]["verdicts"]["minItems"]
            }
        ),
    )
    lowered = json.loads(run("claims", source, "--json", "--no-cache").stdout)
    counts = lowered["counts"]
    assert counts["replaced"] + counts["unsupported"] == data["counts"]["produced"]
    assert all(c["statement_source"] == "article" for c in lowered["claims"])
    kept = json.loads(run("claims", source, "--json", "--keep-unverified", "--no-cache").stdout)
    assert all(c["support"]["verdict"] == "unsupported" for c in kept["claims"])
    # What the code let through, the model lowered; and the code's own rejections stand.
    assert {c["support"]["method"] for c in kept["claims"]} == {"model"} | {
        c["support"]["method"] for c in data["claims"] if c["support"]["verdict"] == "unsupported"
    }


def test_a_useless_model_check_leaves_the_codes_verdicts(
    env: StandinOllama, corpus_copy: Path
) -> None:
    env.misbehave("invalid_json", times=None, schema=SUPPORT_SCHEMA)
    result = run("claims", str(corpus_copy / BINANCE), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["claims"] and any(
        "support check gave no usable verdicts" in w for w in data["warnings"]
    )


def test_support_modes(env: StandinOllama, corpus_copy: Path) -> None:
    source = str(corpus_copy / BINANCE)
    rules = json.loads(run("claims", source, "--json", "--support", "rules").stdout)
    assert rules["calls"] == 1 and all(c["support"]["method"] == "rules" for c in rules["claims"])
    off = json.loads(run("claims", source, "--json", "--support", "off").stdout)
    assert all(c["support"] is None for c in off["claims"])
    assert any("support check is off" in w for w in off["warnings"])
    result = CliRunner().invoke(cli, ["claims", source, "--support", "maybe"])
    assert result.exit_code == 2 and "maybe" in result.output


def test_the_schema_describes_the_verdicts() -> None:
    schema = json.loads(run("schema", "claims").stdout)
    support = schema["$defs"]["Support"]
    assert support["properties"]["verdict"]["enum"] == ["supported", "partial", "unsupported"]


BINANCE_TEXT = (CORPUS / BINANCE).read_text(encoding="utf-8")


def _cited(sentence_words: str, text: str = BINANCE_TEXT, title: str = "") -> list[Evidence]:
    """The evidence of one sentence of `text` (the one holding `sentence_words`), as the tool
    gives it: the sentence, the two before it, the two after it and the title."""
    from summarizer.grounding import sentence_around

    at = text.index(sentence_words)
    sentence = sentence_around(text, at, at + len(sentence_words))
    start = text.index(sentence)
    before = sentence_around(text, start, start + len(sentence), before=2)
    end = start + len(sentence)
    after = text[end : end + 400]
    return [Evidence(sentence, sentence, title, before, after)]


@pytest.mark.parametrize(
    ("statement", "words"),
    [
        # A plan told as a fact (the issue's misreading, on its real sentence).
        (
            "Binance has blocked the accounts of individuals on sanctions lists.",
            "Binance only plans to block the accounts",
        ),
        # A speaker's words given to another: the minister's tweet as Binance's.
        (
            "Binance said it is crucial to freeze not only the addresses linked to Russian and "
            "Belarusian politicians but also to sabotage ordinary users.",
            "It’s crucial to freeze not only",
        ),
        # A condition dropped.
        (
            "Binance said it will apply wider sanctions aggressively.",
            "widen those sanctions further",
        ),
    ],
)
def test_the_issues_misreadings_are_not_supported(statement: str, words: str) -> None:
    found = check_support(statement, _cited(words))
    assert found.verdict != "supported", found


@pytest.mark.parametrize(
    ("statement", "quote", "why"),
    [
        # Roles of two names swapped around the same word.
        ("Smith told Jones that the deal was off.", "Jones told Smith that the deal was off.",
         "other way round"),
        # The source's passive read the wrong way: "X was fined by Y" is Y fining X.
        ("Binance fined regulators in France.", "Binance was fined by regulators in France.",
         "other way round"),
        # A quote cut inside "n't".
        ("The minister said he did", "The minister said he didn't know about the payments.",
         "stops where"),
        # An elision that drops a "not".
        ("The company will ... close its plant in Leeds.",
         "The company will not close its plant in Leeds.", "elision"),
        # "It is not true that X", "denied that X", "contrary to reports that X" do not say X.
        ("The mayor resigned after the scandal.",
         "It is not true that the mayor resigned after the scandal.", "opposite"),
        ("The mayor resigned after the scandal.",
         "Officials denied that the mayor resigned after the scandal.", "opposite"),
        ("The mayor resigned after the scandal.",
         "Contrary to reports that the mayor resigned after the scandal, he stays.", "opposite"),
        # A hyphenated word with one part changed.
        ("The club gave him a four-year contract.", "The club gave him a three-year contract.",
         "four-year"),
        ("Sturgeon criticised the out-out vote.", "Sturgeon criticised the in-out vote.",
         "stands where"),
        # April as May ("may" is no longer skipped as a word).
        ("The vote was held in May.", "The vote was held in April.", "May"),
        # What may happen told as what will; what would happen as what will.
        ("Prices will rise next year, the bank said.", "Prices may rise next year, the bank said.",
         "surer"),
        ("The deal will cost jobs.", "The deal would cost jobs.", "surer"),
    ],
)  # fmt: skip
def test_a_meaning_changed_with_the_same_words_is_not_supported(
    statement: str, quote: str, why: str
) -> None:
    found = check_support(statement, [Evidence(quote, quote)])
    assert found.verdict != "supported", found
    assert any(why in r for r in found.reasons) or why in " ".join(found.unbacked), found


@pytest.mark.parametrize(
    ("statement", "quote", "around"),
    [
        # Names written another way: spacing, "US" / "United States", a people and its country.
        ("TechCrunch reported the deal.", "Tech Crunch reported the deal on Monday.", ""),
        ("The US Treasury froze the funds.", "The United States Treasury froze the funds.", ""),
        ("Ukrainian officials asked exchanges to block users.",
         "Officials in Ukraine asked exchanges to block users.", ""),
        # A year the sentence leaves out, given by the sentence before it.
        ("In 2022 the exchange refused to freeze the accounts.",
         "The exchange refused to freeze the accounts.", "The war began in February 2022."),
        # The source's passive told as active the right way round.
        ("Regulators in France fined Binance.", "Binance was fined by regulators in France.", ""),
        # "said it would" is what "will" is in reported speech.
        ("Binance said it will keep serving its users.",
         "Binance said it would keep serving its users.", ""),
    ],
)  # fmt: skip
def test_what_its_sources_say_another_way_is_backed(
    statement: str, quote: str, around: str
) -> None:
    found = check_support(statement, [Evidence(quote, quote, before=f"{around} {quote}")])
    assert found.verdict != "unsupported", found
