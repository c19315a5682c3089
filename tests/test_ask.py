"""Questions over the corpus: hybrid retrieval, cited answers, abstention, disagreements,
filters and corroboration, against the stand-in Ollama server and the real store."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from summarizer import pipeline
from summarizer.analysis.asking import NO_ANSWER
from summarizer.config import Settings
from summarizer.corpus import retrieve
from summarizer.corpus.embed import make_embedder
from summarizer.corpus.retrieve import FUSION, Filters, Retriever, terms
from summarizer.corpus.store import Corpus
from tests.standin_ollama import SUPPORT_SCHEMA, StandinOllama, sentence_id

QUESTION = "Which exchanges refused to freeze Russian accounts, and on what grounds?"
BINANCE_PLANS = "Binance plans to block the accounts of individuals that appear on sanctions lists."


@pytest.fixture
def env(hash_embedder: str, ollama_env: StandinOllama, corpus_copy: Path) -> StandinOllama:
    assert pipeline.ingest(Settings.from_env(), [str(corpus_copy)]).failed == 0
    return ollama_env


def run(*args: str) -> Result:
    from summarizer.cli import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def ask_json(*args: str, exit_code: int = 0) -> dict[str, Any]:
    result = run("ask", *args, "--json")
    assert result.exit_code == exit_code, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def assert_cited_from_retrieved(data: dict[str, Any]) -> None:
    spans = {(r["article_id"], r["chunk_id"]): (r["start"], r["end"]) for r in data["retrieved"]}
    cited = [c for p in data["points"] for c in p["citations"]]
    cited += [c for k in data["conflicts"] for s in k["sides"] for c in s["citations"]]
    for c in cited:
        article = pipeline.get_article(Settings.from_env(), c["article_id"])
        assert article.text[c["start"] : c["end"]] == c["quote"]
        lo, hi = spans[(c["article_id"], c["chunk_id"])]
        assert lo <= c["start"] and c["end"] <= hi, "cites outside the retrieved passage"


def test_answerable(env: StandinOllama) -> None:
    data = ask_json(QUESTION)
    assert data["question"] == QUESTION and data["found"] is True
    assert data["answer"] and data["points"]
    assert {"model", "prompt_id", "prompt_version"} <= set(data)
    assert data["prompt_id"] == "answer" and data["prompt_version"] == 2
    assert_cited_from_retrieved(data)
    assert len(data["retrieved"]) <= 8
    per_article: dict[str, int] = {}
    for r in data["retrieved"]:
        per_article[r["article_id"]] = per_article.get(r["article_id"], 0) + 1
    assert max(per_article.values()) <= FUSION.per_article
    answer, check = [r.body for r in env.requests("/api/chat")]  # the answer, then its check
    user = answer["messages"][1]["content"]
    assert "<passages>" in user and QUESTION in user
    assert check["format"]["title"] == SUPPORT_SCHEMA
    text = run("ask", QUESTION).stdout
    assert "**Q:**" in text and re.search(r"\d+ statements: \d+ supported", text)


def assert_exact_passages(data: dict[str, Any]) -> None:
    assert 1 <= len(data["passages"]) <= 3
    retrieved = {(r["article_id"], r["chunk_id"]) for r in data["retrieved"]}
    for c in data["passages"]:
        article = pipeline.get_article(Settings.from_env(), c["article_id"])
        assert article.text[c["start"] : c["end"]] == c["quote"]
        assert (c["article_id"], c["chunk_id"]) in retrieved


def test_unanswerable_abstains(env: StandinOllama) -> None:
    env.field_values["found"] = False
    data = ask_json("What did the Swiss central bank decide about gold reserves in 1999?")
    assert data["found"] is False and data["points"] == [] and data["conflicts"] == []
    assert data["answer"] == "The corpus does not say." and data["outcome"] == "not_in_corpus"
    assert data["passages"] == []  # no passage holds enough of the question's words
    # The points it gave besides are neither counted nor checked: one call, nothing produced.
    assert data["counts"]["produced"] == 0 and data["calls"] == 1


def test_a_model_that_finds_nothing_where_passages_match_does_not_say_the_corpus_does_not(
    env: StandinOllama,
) -> None:
    """A small model often answers "not found" with the answer in the first passage: that is
    said as what it is, and the passages that best match the question are shown to read."""
    env.field_values["found"] = False
    result = run("ask", QUESTION, "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["found"] is False and data["outcome"] == "not_answered"
    assert data["answer"] == "The model found no answer in the passages retrieved."
    assert "does not say" not in result.output
    n = len(data["retrieved"])
    assert data["outcome_message"] == (
        f"the model found no answer in the {n} passages retrieved; the "
        f"{len(data['passages'])} that best match the question are shown"
    )
    assert result.stderr.strip() == f"error: {data['outcome_message']}"
    assert_exact_passages(data)
    text = run("ask", QUESTION).stdout
    assert text.count("the model found no answer") + text.count("The model found no") == 2
    assert f"`{data['passages'][0]['article_id']} [" in text


def test_an_answer_without_points_says_so(env: StandinOllama) -> None:
    env.field_values["points"] = []
    data = ask_json(QUESTION, exit_code=1)
    assert data["found"] is False and data["outcome"] == "nothing_given"
    assert data["answer"] == NO_ANSWER and data["outcome_message"] == "the model gave no statements"
    assert_exact_passages(data)  # to read the answer in
    assert data["warnings"] == ["the model answered, but it gave no statements with citations"]


def test_an_unverifiable_answer_is_not_shown(env: StandinOllama) -> None:
    # Sentences the prompt did not number (a server that ignores the grammar), with quotes that
    # are not in the passages: nothing found.
    env.misbehave("unknown_segments", times=None)
    env.misbehave("invented_quotes", times=None)
    data = ask_json(QUESTION, exit_code=1)
    assert data["found"] is False and data["points"] == []
    # Not "the corpus does not say": the passages may well say it; the model's answer is not shown.
    assert data["answer"].startswith(NO_ANSWER) and "does not say" not in data["answer"]
    assert data["counts"]["quotes_verified"] == 0
    assert data["outcome"] == "nothing_supported"
    assert data["outcome_message"].startswith(
        "the model gave no statements that the retrieved passages support: "
    )
    assert data["warnings"] == [
        "the model answered, but none of its citations is in the retrieved passages"
    ]
    result = run("ask", QUESTION)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [f"error: {data['outcome_message']}"]
    assert "**Nothing to show: the model gave no statements" in result.stdout


def test_nothing_retrieved_needs_no_model_call(
    env: StandinOllama, monkeypatch: pytest.MonkeyPatch, closed_ollama_url: str
) -> None:
    data = ask_json(QUESTION, "--source", "no-such-site.example")
    assert data["found"] is False and data["calls"] == 0
    assert data["outcome"] == "not_in_corpus" and data["outcome_message"] is None
    assert env.requests("/api/chat") == []
    monkeypatch.setenv("OLLAMA_HOST", closed_ollama_url)  # not even a server is needed
    assert ask_json(QUESTION, "--source", "no-such-site.example")["found"] is False


def _article_id(folder: Path, name: str) -> str:
    return pipeline.article_id("file", str((folder / name).resolve()))


def test_filters(env: StandinOllama, corpus_copy: Path) -> None:
    binance = _article_id(corpus_copy, "002_797977910b246ba2.txt")
    data = ask_json(QUESTION, "--article", binance[:8])
    assert {r["article_id"] for r in data["retrieved"]} == {binance}
    assert_cited_from_retrieved(data)
    data = ask_json(QUESTION, "--source", "004_a1cf")
    assert {r["source"].rsplit("/", 1)[1] for r in data["retrieved"]} == {
        "004_a1cf827bafe0670f.txt"
    }
    bad = run("ask", QUESTION, "--since", "last tuesday")
    assert bad.exit_code == 2 and "--since 'last tuesday' is not a date" in bad.stderr


def test_date_filters(env: StandinOllama, tmp_path: Path) -> None:
    body = " ".join(["The exchange said it would keep serving customers in the region."] * 8)
    for day in ("2022-02-20", "2022-03-05", "2022-04-10"):
        (tmp_path / f"{day}.html").write_text(
            f"<html><head><title>Exchange update {day}</title>"
            f'<meta property="article:published_time" content="{day}T10:00:00Z"></head>'
            f"<body><article><h1>Exchange update {day}</h1><p>{body} ({day})</p>"
            "</article></body></html>",
            encoding="utf-8",
        )
    assert pipeline.ingest(Settings.from_env(), [str(tmp_path)]).failed == 0
    data = ask_json("exchange customers", "--since", "2022-03-01", "--until", "2022-03-31")
    dates = {r["date"] for r in data["retrieved"]}
    assert dates == {"2022-03-05"}


def _reply(content: dict[str, Any]) -> Any:
    return lambda body: json.dumps(content)


def _citing(content: dict[str, Any]) -> Any:
    """A scripted reply whose citations name a sentence by words of it ({"sentence": words}):
    the id the prompt gave that sentence is put in their place."""

    def reply(body: dict[str, Any]) -> str:
        def cite(value: Any) -> Any:
            if isinstance(value, dict):
                out = {k: cite(v) for k, v in value.items()}
                words = out.get("sentence")
                if isinstance(words, str) and " " in words:
                    out["sentence"] = sentence_id(body, words)
                return out
            return [cite(v) for v in value] if isinstance(value, list) else value

        return json.dumps(cite(content))

    return reply


def test_conflicting_sources_show_both_sides(env: StandinOllama, corpus_copy: Path) -> None:
    """Two articles give different counts of exchanges contacted; both sides keep citations."""
    japan = (corpus_copy / "000_e59614a57512a09a.txt").read_text(encoding="utf-8")
    assert "31 Japanese crypto exchanges" in japan
    side_a = "A call has been sent to 31 Japanese crypto exchanges."
    side_b = "Binance, Kraken and KuCoin refused to blanket all Russian users"
    reply = {
        "found": True,
        "answer": "The sources differ.",
        "points": [
            {
                "text": "A call was sent to 31 Japanese crypto exchanges.",
                "citations": [{"sentence": side_a}],
            }
        ],
        "conflicts": [
            {
                "topic": "who was asked",
                "sides": [
                    {
                        "text": "A call has been sent to 31 Japanese crypto exchanges.",
                        "citations": [{"sentence": side_a}],
                    },
                    {
                        "text": "Binance, Kraken and KuCoin refused to blanket all Russian users.",
                        "citations": [{"sentence": side_b, "quote": side_b}],
                    },
                ],
            },
            {
                "topic": "an invented disagreement",
                "sides": [
                    {"text": "one", "citations": [{"sentence": side_a}]},
                    # A sentence the passages do not have (a server that ignores the grammar).
                    {"text": "two", "citations": [{"sentence": "s999"}]},
                ],
            },
        ],
    }
    env.misbehave("reply", times=None, content=_citing(reply))
    data = ask_json("How many crypto exchanges were asked to act against Russian users?")
    assert data["found"] is True
    (conflict,) = data["conflicts"]
    assert conflict["topic"] == "who was asked" and len(conflict["sides"]) == 2
    assert_cited_from_retrieved(data)
    text = run("ask", "How many crypto exchanges were asked to act against Russian users?").stdout
    assert "Sources disagree" in text


def test_citation_outside_the_retrieved_passages_is_dropped(
    env: StandinOllama, corpus_copy: Path
) -> None:
    binance = _article_id(corpus_copy, "002_797977910b246ba2.txt")
    elsewhere = "A call has been sent to 31 Japanese crypto exchanges."  # in article 000 only
    inside = "Binance only plans to block the accounts of individuals that appear on sanctions"
    reply = {
        "found": True,
        "answer": BINANCE_PLANS,
        "points": [
            # Not among the passages, which are all of the Binance article: no id of theirs.
            {"text": "Japan", "citations": [{"sentence": "s999", "quote": elsewhere}]},
            {"text": BINANCE_PLANS, "citations": [{"sentence": inside}]},
        ],
        "conflicts": [],
    }
    env.misbehave("reply", times=None, content=_citing(reply))
    data = ask_json(QUESTION, "--article", binance)
    assert [p["text"] for p in data["points"]] == [BINANCE_PLANS]
    assert data["counts"]["dropped"] == 1
    assert_cited_from_retrieved(data)


def _careful_corroborator(body: dict[str, Any]) -> str:
    """A model that pairs each claim with the passage sentence sharing most of its words."""
    user = body["messages"][-1]["content"]
    claims = re.findall(r"^Claim (\d+): (.+)$", user, re.MULTILINE)
    passages = re.findall(r"^\[(c\d+)\] (.+)$", user, re.MULTILINE)
    supports = []
    for number, statement in claims:
        words = set(re.findall(r"\w{4,}", statement.lower()))
        best = max(
            ((len(words & set(re.findall(r"\w{4,}", s.lower()))), sid, s)
             for sid, text in passages for s in re.split(r"(?<=[.!?])\s+", text)),
            default=None,
        )  # fmt: skip
        if best is not None and best[0] >= 3:
            supports.append({"claim": int(number), "segment_id": best[1], "quote": best[2]})
    return json.dumps({"supports": supports})


def test_corroboration_across_the_samples(env: StandinOllama, corpus_copy: Path) -> None:
    binance = _article_id(corpus_copy, "002_797977910b246ba2.txt")
    claim = {
        "statement": "Binance will not unilaterally freeze the accounts of its Russian users.",
        "kind": "reported_fact",
        "asserted_by": "Binance",
        "hedged": False,
        "citations": [
            {
                "sentence": "it will not “unilaterally” freeze the accounts of its Russian users",
            }
        ],
    }
    env.misbehave("reply", times=None, schema="ClaimsReply", content=_citing({"claims": [claim]}))
    env.misbehave("reply", times=None, schema="CorroborateReply", content=_careful_corroborator)
    result = run("claims", binance, "--corroborate", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    corroborated = [c for c in data["claims"] if c["corroborated_by"]]
    assert corroborated
    for claim in corroborated:
        others = {c["article_id"] for c in claim["corroborations"]}
        assert binance not in others and claim["corroborated_by"] == len(others)
        for c in claim["corroborations"]:
            text = pipeline.get_article(Settings.from_env(), c["article_id"]).text
            assert text[c["start"] : c["end"]] == c["quote"]
    assert "other source" in run("claims", binance, "--corroborate").stdout


def test_retrieval_modes_and_lexical_index_in_step(env: StandinOllama, corpus_copy: Path) -> None:
    s = Settings.from_env()
    corpus = Corpus(s)
    try:
        retriever = Retriever(corpus, make_embedder(s))
        for mode in ("dense", "lexical", "hybrid"):
            hits = retriever.search("Kraken legal requirement", 4, mode=mode)  # type: ignore[arg-type]
            assert hits and all(
                h.article.text[h.chunk.start : h.chunk.end] == h.chunk.text for h in hits
            )
            # Each hit says how it ranked in the searches that ran, and only in those.
            ranks = {(h.dense_rank is not None, h.lexical_rank is not None) for h in hits}
            expected = {"dense": {(True, False)}, "lexical": {(False, True)}}
            assert ranks <= expected.get(mode, {(True, True), (True, False), (False, True)})
        only = retriever.search(
            "Kraken",
            5,
            Filters(article_ids=(_article_id(corpus_copy, "000_e59614a57512a09a.txt"),)),
        )
        assert {h.article.id for h in only} <= {
            _article_id(corpus_copy, "000_e59614a57512a09a.txt")
        }
        # The texts the verbatim rule reads are of the first chunks the fusion sees: those of
        # an excluded article (corroboration's own) are not counted among them.
        kraken = frozenset({_article_id(corpus_copy, "004_a1cf827bafe0670f.txt")})
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(retrieve, "PROXIMITY_POOL", 3)
            for mode in ("dense", "lexical"):
                found = retriever.candidates(
                    "Kraken legal requirement",
                    50,
                    mode=mode,  # type: ignore[arg-type]
                    exclude=kraken,
                )
                assert found is not None
                ranking = found.dense + found.lexical
                assert any(a in kraken for _, a, _ in ranking[:3])  # the test can fail
                seen = [c for c, a, _ in ranking if a not in kraken][:3]
                assert len(seen) == 3 and all(c in found.texts for c in seen), mode
    finally:
        corpus.close()
    assert terms("Which exchanges refused to freeze Russian accounts?") == [
        "exchanges",
        "refused",
        "freeze",
        "russian",
        "accounts",
    ]
    # Update and remove: the lexical index follows the catalog.
    f = corpus_copy / "004_a1cf827bafe0670f.txt"
    f.write_text(
        "Kraken revised\n\n" + "Zanzibar marmalade quokka text only. " * 9, encoding="utf-8"
    )
    pipeline.ingest(s, [str(f)])
    corpus = Corpus(s)
    try:
        aid = _article_id(corpus_copy, "004_a1cf827bafe0670f.txt")
        assert [a for _, a, _ in corpus.catalog.lexical(["quokka"], 5)] == [aid]
        assert aid not in {a for _, a, _ in corpus.catalog.lexical(["legal", "requirement"], 50)}
    finally:
        corpus.close()
    list(pipeline.remove(s, [aid]))
    corpus = Corpus(s)
    try:
        assert corpus.catalog.lexical(["quokka"], 5) == []
    finally:
        corpus.close()


def _rerank_requests(env: StandinOllama) -> list[dict[str, Any]]:
    return [r.body for r in env.requests("/api/chat") if r.body["format"]["title"] == "RerankReply"]


def test_rerank_puts_the_models_order_first(env: StandinOllama) -> None:
    s = Settings.from_env()
    fused = [h.chunk_id for h in pipeline.search(s, QUESTION, k=10)]  # the shortlist of -k 3
    assert len(fused) == 10
    # The model names c7, then c2 (twice, and an id that is no passage's): those two come first,
    # then the rest in the fused order.
    env.misbehave(
        "reply",
        times=None,
        schema="RerankReply",
        content=_reply({"segment_ids": ["c7", "[C2]", "c2", "c99"]}),
    )
    result = run("search", QUESTION, "-k", "3", "--rerank", "--json")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert [h["chunk_id"] for h in hits] == [fused[6], fused[1], fused[0]]
    assert [h["model_rank"] for h in hits] == [1, 2, None]
    (sent,) = _rerank_requests(env)
    assert sent["options"]["num_predict"] == 200
    user = sent["messages"][1]["content"]
    lines = [line for line in user.splitlines() if line.startswith("[c")]
    assert len(lines) == 10 and QUESTION in user
    assert all(len(line.split(": ", 1)[1].split()) <= 61 for line in lines)  # 60 words and "…"
    # The answer's passages are the model's first -k, in its order.
    data = ask_json(QUESTION, "-k", "2", "--rerank")
    assert [r["chunk_id"] for r in data["retrieved"]] == [fused[6], fused[1]]
    assert [r["model_rank"] for r in data["retrieved"]] == [1, 2]
    assert data["calls"] >= 2 and data["found"] is True
    assert_cited_from_retrieved(data)


@pytest.mark.parametrize(
    ("kind", "params", "said"),
    [
        ("invalid_json", {}, "MODEL twice replied to rerank.v1"),
        (
            "reply",
            {"content": _reply({"segment_ids": ["c42", "x"]})},
            "the model named none of the passages",
        ),
    ],
)
def test_an_unusable_rerank_keeps_the_fused_order(
    env: StandinOllama, kind: str, params: dict[str, Any], said: str
) -> None:
    fused = [h.chunk_id for h in pipeline.search(Settings.from_env(), QUESTION, k=3)]
    env.misbehave(kind, times=None, schema="RerankReply", **params)
    result = run("search", QUESTION, "-k", "3", "--rerank", "--json")
    assert result.exit_code == 0, result.output
    assert [h["chunk_id"] for h in json.loads(result.stdout)] == fused
    (warning,) = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    model = Settings.from_env().model
    said = said.replace("MODEL", model)
    assert warning.startswith(f"warning: reranking: {said}") and "fused order is kept" in warning
    data = ask_json(QUESTION, "-k", "3", "--rerank")
    assert [r["chunk_id"] for r in data["retrieved"]] == fused
    assert any(said in w for w in data["warnings"])


def test_a_shortlist_too_long_for_the_context_is_shown_in_part(
    env: StandinOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    fused = [h.chunk_id for h in pipeline.search(Settings.from_env(), QUESTION, k=10)]
    monkeypatch.setenv("SUMMARIZER_NUM_CTX", "900")
    env.misbehave(
        "reply", times=None, schema="RerankReply", content=_reply({"segment_ids": ["c2"]})
    )
    result = run("search", QUESTION, "-k", "3", "--rerank", "--json")
    assert result.exit_code == 0, result.output
    assert [h["chunk_id"] for h in json.loads(result.stdout)] == [fused[1], fused[0], fused[2]]
    (sent,) = _rerank_requests(env)
    shown = [line for line in sent["messages"][1]["content"].splitlines() if line.startswith("[c")]
    assert 2 <= len(shown) < 10
    assert f"warning: reranking: only {len(shown)} of the 10 passages fit" in result.stderr


def test_rerank_without_its_model_is_an_error(env: StandinOllama) -> None:
    result = run("search", QUESTION, "--rerank", "--model", "no-such-model:1b")
    assert result.exit_code != 0 and "no-such-model:1b" in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) <= 2  # the error, and its hint
    result = run("search", QUESTION, "--rerank", "--dense")
    assert result.exit_code != 0 and "--dense" in result.stderr
    assert run("search", QUESTION, "--model", "no-such-model:1b").exit_code == 0  # not asked
