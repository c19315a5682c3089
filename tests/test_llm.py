"""The Ollama layer against the stand-in over real HTTP, with the real `ollama` client."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from summarizer.config import Settings
from summarizer.errors import (
    ContextOverflow,
    InvalidReply,
    LLMCacheError,
    LLMError,
    LLMServerError,
    LLMTimeout,
    ModelNotFound,
    OllamaUnreachable,
    OutputTruncated,
    PromptTruncated,
)
from summarizer.llm import (
    DEFAULT_SEED,
    REPEAT_LAST_N,
    REPEAT_PENALTY,
    Ollama,
    estimate_messages,
    estimate_tokens,
    host_url,
    truncation_warning,
)
from tests.ollama_fixtures import standin_settings
from tests.standin_ollama import StandinOllama, count_tokens, embed_vector

ARTICLE = {
    "s1": "The city council voted on Tuesday to expand the tram network. The vote was 31 to 12.",
    "s2": "Opponents said the cost of 1.2 billion euros was too high. They plan to appeal.",
    "s3": "Construction is expected to begin in 2026, the mayor said.",
}
SEGMENTS = "\n".join(f"[{sid}] {text}" for sid, text in ARTICLE.items())
SYSTEM = "Summarise the article. Cite segment ids and quote them verbatim."


class Citation(BaseModel):
    segment_id: str
    quote: str


class Point(BaseModel):
    text: str
    citations: list[Citation] = Field(min_length=1)


class Summary(BaseModel):
    headline: str
    points: list[Point] = Field(min_length=1, max_length=5)


class Text(BaseModel):
    """A reply of one string: cut anywhere, nothing of it is whole."""

    text: str


def make(settings: Settings, **kwargs: Any) -> Ollama:
    kwargs.setdefault("backoff", 0.01)
    return Ollama(settings, **kwargs)


@pytest.fixture
def llm(ollama_settings: Settings) -> Iterator[Ollama]:
    with make(ollama_settings) as client:
        yield client


def summarize(llm: Ollama, **kwargs: Any) -> Any:
    kwargs.setdefault("system", SYSTEM)
    kwargs.setdefault("user", SEGMENTS)
    return llm.structured(Summary, prompt_id="summarize", prompt_version="v1", **kwargs)


def chats(server: StandinOllama) -> list[Any]:
    return server.requests("/api/chat")


def run_threads(n: int, target: Any) -> list[Any]:
    results: list[Any] = [None] * n

    def work(i: int) -> None:
        results[i] = target(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


# -- the good path --------------------------------------------------------------------------------


def test_structured_reply_is_validated_and_recorded(
    llm: Ollama, ollama_standin: StandinOllama
) -> None:
    result = summarize(llm)
    assert isinstance(result.reply, Summary)
    for point in result.reply.points:
        for c in point.citations:
            assert c.quote in ARTICLE[c.segment_id]
    record = result.record
    spec = ollama_standin.model("llama3.2")
    assert spec is not None
    assert (record.model, record.digest) == ("llama3.2", spec.digest)
    assert (record.prompt_id, record.prompt_version) == ("summarize", "v1")
    assert record.prompt_eval_count == count_tokens(SYSTEM) + count_tokens(SEGMENTS)
    assert record.eval_count == count_tokens(result.content)
    assert record.total_duration_ns > 0
    assert record.attempts == 1
    assert record.cache_hit is False
    assert record.host == ollama_standin.url
    assert record.done_reason == "stop"
    assert record.warnings == []
    assert record.truncated is False
    assert record.estimated_prompt_tokens == estimate_messages(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": SEGMENTS}]
    )
    (request,) = chats(ollama_standin)
    body = request.body
    assert body["stream"] is True  # read as it streams: a loop is stopped early
    assert body["format"] == Summary.model_json_schema()
    assert body["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": SEGMENTS},
    ]
    # num_ctx: min(the model's 131072, the default cap); the reply gets a quarter, at most 1024.
    assert body["options"] == {
        "repeat_penalty": REPEAT_PENALTY,
        "repeat_last_n": REPEAT_LAST_N,
        "num_ctx": 8192,
        "num_predict": 1024,
        "temperature": 0.0,
        "seed": DEFAULT_SEED,
    }
    assert record.as_dict()["num_ctx"] == 8192


def test_caller_options_cannot_override_the_budget(
    llm: Ollama, ollama_standin: StandinOllama
) -> None:
    summarize(llm, options={"num_ctx": 999_999, "top_k": 5}, temperature=0.3, seed=7)
    options = chats(ollama_standin)[0].body["options"]
    assert options == {
        "repeat_penalty": REPEAT_PENALTY,
        "repeat_last_n": REPEAT_LAST_N,
        "num_ctx": 8192,
        "num_predict": 1024,
        "temperature": 0.3,
        "seed": 7,
        "top_k": 5,
    }


def test_num_ctx_is_capped_by_settings_and_by_the_model(
    ollama_standin: StandinOllama, ollama_settings: Settings
) -> None:
    with make(replace(ollama_settings, num_ctx_cap=4096)) as llm:
        assert llm.num_ctx() == 4096
        assert llm.budget().prompt_tokens == 4096 - 1024
    ollama_standin.add_model("tiny", context_length=2048)
    with make(replace(ollama_settings, num_ctx_cap=100_000)) as llm:
        assert llm.num_ctx("tiny") == 2048
        assert llm.budget("tiny").num_predict == 512
        assert llm.num_ctx() == 100_000
        summarize(llm, model="tiny")
    assert chats(ollama_standin)[-1].body["options"]["num_ctx"] == 2048


def test_metadata_is_asked_once_per_process(llm: Ollama, ollama_standin: StandinOllama) -> None:
    assert llm.context_length() == 131072
    summarize(llm, user=SEGMENTS + "\n[s4] One more line.")
    summarize(llm, user=SEGMENTS + "\n[s4] Another line.")
    assert len(ollama_standin.requests("/api/show")) == 1
    assert len(ollama_standin.requests("/api/tags")) == 1
    assert len(chats(ollama_standin)) == 2


def test_hosts_come_from_ollama_host(ollama_env: StandinOllama) -> None:
    settings = Settings.from_env()
    assert settings.ollama_hosts == [ollama_env.url]
    with make(settings) as llm:
        assert summarize(llm).record.host == ollama_env.url


# -- retries and errors ---------------------------------------------------------------------------


def test_5xx_is_retried_then_succeeds(llm: Ollama, ollama_standin: StandinOllama) -> None:
    ollama_standin.misbehave("http_500", times=2)
    result = summarize(llm)
    assert result.record.attempts == 1
    assert len(chats(ollama_standin)) == 3
    assert llm.stats.retries == 2


def test_5xx_gives_up_after_the_retries_with_one_line(
    ollama_settings: Settings, ollama_standin: StandinOllama
) -> None:
    ollama_standin.misbehave("http_500", times=None)
    with make(ollama_settings, retries=2) as llm, pytest.raises(LLMServerError) as e:
        summarize(llm)
    assert len(chats(ollama_standin)) == 3
    message = str(e.value)
    assert "\n" not in message
    assert "HTTP 500" in message
    assert "llama runner process has terminated" in message
    assert "3 attempts" in message
    assert e.value.retryable


def test_404_is_not_retried_and_says_how_to_pull(
    llm: Ollama, ollama_standin: StandinOllama
) -> None:
    ollama_standin.misbehave("not_found", times=None)
    with pytest.raises(ModelNotFound) as e:
        summarize(llm)
    assert len(chats(ollama_standin)) == 1
    assert e.value.hint is not None
    assert "ollama pull llama3.2`" in e.value.hint
    assert f"OLLAMA_HOST={ollama_standin.url} ollama pull llama3.2" in e.value.hint


def test_a_model_not_pulled_fails_before_any_chat(
    llm: Ollama, ollama_standin: StandinOllama
) -> None:
    ollama_standin.remove_model("llama3.2")
    with pytest.raises(ModelNotFound) as e:
        summarize(llm)
    assert chats(ollama_standin) == []
    assert str(e.value) == f'model "llama3.2" is not pulled on {ollama_standin.url}'
    assert e.value.hint is not None
    assert "ollama pull llama3.2" in e.value.hint


def test_embedding_with_a_model_not_pulled_says_how_to_pull(llm: Ollama) -> None:
    with pytest.raises(ModelNotFound) as e:
        llm.embed("mxbai-embed-large", ["some text"])
    assert e.value.hint is not None
    assert "ollama pull mxbai-embed-large" in e.value.hint


def test_other_4xx_are_not_retried(llm: Ollama, ollama_standin: StandinOllama) -> None:
    ollama_standin.misbehave("http_500", times=None, status=400, error="invalid options")
    with pytest.raises(LLMError) as e:
        summarize(llm)
    assert not isinstance(e.value, LLMServerError)
    assert "invalid options (HTTP 400)" in str(e.value)
    assert len(chats(ollama_standin)) == 1


def test_failover_to_the_host_that_is_up(
    ollama_standin: StandinOllama, closed_ollama_url: str, tmp_path: Path
) -> None:
    settings = standin_settings(tmp_path, closed_ollama_url, ollama_standin.url, use_cache=False)
    with make(settings) as llm:
        hosts = {summarize(llm, user=f"{SEGMENTS}\n[s9] Call {i}.").record.host for i in range(5)}
        assert hosts == {ollama_standin.url}
        stats = llm.stats
    # The dead host is tried once, then left alone while it is marked down.
    assert stats.failovers == 1
    assert stats.retries == 1
    assert len(chats(ollama_standin)) == 5


def test_no_host_reachable_names_them_and_how_to_start(
    closed_ollama_url: str, tmp_path: Path
) -> None:
    other = host_url(closed_ollama_url.replace("127.0.0.1", "localhost"))
    settings = standin_settings(tmp_path, closed_ollama_url, other)
    started = time.monotonic()
    with make(settings) as llm, pytest.raises(OllamaUnreachable) as e:
        summarize(llm)
    assert time.monotonic() - started < 3
    message = str(e.value)
    assert closed_ollama_url in message
    assert other in message
    assert "\n" not in message
    assert e.value.hint is not None
    assert "ollama serve" in e.value.hint


def test_a_host_that_refuses_gets_one_more_round(closed_ollama_url: str, tmp_path: Path) -> None:
    with make(standin_settings(tmp_path, closed_ollama_url), retries=5) as llm:
        with pytest.raises(OllamaUnreachable) as e:
            llm.embed("nomic-embed-text", ["text"])
        assert llm.stats.retries == 1
    assert f"not reachable at {closed_ollama_url} (connection refused, 2 attempts)" in str(e.value)


def test_a_hang_times_out_with_one_line(
    ollama_settings: Settings, ollama_standin: StandinOllama
) -> None:
    ollama_standin.misbehave("hang", times=None, seconds=30)
    settings = replace(ollama_settings, read_timeout=0.3)
    started = time.monotonic()
    with make(settings, retries=0) as llm, pytest.raises(LLMTimeout) as e:
        summarize(llm)
    assert time.monotonic() - started < 2
    assert "within 0.3 s" in str(e.value)
    assert "\n" not in str(e.value)


def test_a_timeout_is_retried_once(
    ollama_settings: Settings, ollama_standin: StandinOllama
) -> None:
    ollama_standin.misbehave("hang", times=1, seconds=30)
    with make(replace(ollama_settings, read_timeout=0.3), retries=5) as llm:
        assert summarize(llm).reply.points
        assert len(chats(ollama_standin)) == 2
        ollama_standin.misbehave("hang", times=None, seconds=30)
        with pytest.raises(LLMTimeout) as e:
            summarize(llm, user=SEGMENTS + "\n[s4] Again.")
    # Each timeout costs a whole read timeout: one retry, not five.
    assert len(chats(ollama_standin)) == 4
    assert "(2 attempts)" in str(e.value)


def test_a_dropped_connection_is_retried(llm: Ollama, ollama_standin: StandinOllama) -> None:
    ollama_standin.misbehave("drop_connection", times=1)
    assert summarize(llm).reply.points
    assert len(chats(ollama_standin)) == 2


# -- structured output ----------------------------------------------------------------------------


def test_invalid_json_is_retried_saying_what_was_wrong(
    llm: Ollama, ollama_standin: StandinOllama
) -> None:
    ollama_standin.misbehave("invalid_json", times=1)
    result = summarize(llm)
    assert result.record.attempts == 2
    assert result.record.warnings[0].startswith("reply rejected and retried: ")
    first, second = (r.body["messages"] for r in chats(ollama_standin))
    assert second[: len(first)] == first
    assert second[-2]["role"] == "assistant"
    assert second[-2]["content"].startswith("Sure! Here is the JSON")
    assert second[-1]["role"] == "user"
    assert "Invalid JSON" in second[-1]["content"]
    assert '"headline"' in second[-1]["content"]  # the schema, for a model that lost track


def test_a_schema_violation_is_retried(llm: Ollama, ollama_standin: StandinOllama) -> None:
    ollama_standin.misbehave("schema_violation", times=1)
    result = summarize(llm)
    assert result.record.attempts == 2
    repair = chats(ollama_standin)[1].body["messages"][-1]["content"]
    assert "headline: Field required" in repair


def test_invalid_twice_is_a_clear_error(llm: Ollama, ollama_standin: StandinOllama) -> None:
    ollama_standin.misbehave("invalid_json", times=2)
    with pytest.raises(InvalidReply) as e:
        summarize(llm)
    assert len(chats(ollama_standin)) == 2
    assert "twice" in str(e.value)
    assert "summarize.v1" in str(e.value)
    assert "\n" not in str(e.value)


def test_a_cut_reply_is_retried_with_more_room(llm: Ollama, ollama_standin: StandinOllama) -> None:
    ollama_standin.misbehave("length", times=1)
    result = summarize(llm, num_predict=300)
    sent = [r.body["options"]["num_predict"] for r in chats(ollama_standin)]
    assert sent == [300, 600]
    assert result.record.attempts == 2
    assert result.record.done_reason == "stop"


def test_a_reply_that_stays_cut_is_a_clear_error(
    llm: Ollama, ollama_standin: StandinOllama
) -> None:
    ollama_standin.misbehave("length", times=None)
    with pytest.raises(OutputTruncated) as e:
        llm.structured(Text, prompt_id="p", prompt_version="1", user=SEGMENTS, num_predict=200)
    sent = [r.body["options"]["num_predict"] for r in chats(ollama_standin)]
    assert sent == [200, 400, 800]
    assert "done_reason length" in str(e.value)


def test_a_cut_reply_grows_only_into_the_room_there_is(
    ollama_settings: Settings, ollama_standin: StandinOllama
) -> None:
    ollama_standin.misbehave("length", times=None)
    filler = "word " * 200
    with make(replace(ollama_settings, num_ctx_cap=600)) as llm:
        assert llm.fits(filler, num_predict=200)
        with pytest.raises(OutputTruncated) as e:
            llm.structured(Text, prompt_id="p", prompt_version="1", user=filler, num_predict=200)
    room = 600 - estimate_messages([{"role": "user", "content": filler}])
    assert 200 < room < 400
    assert [r.body["options"]["num_predict"] for r in chats(ollama_standin)] == [200, room]
    assert f"cut at {room} output tokens" in str(e.value)


# -- the context budget ---------------------------------------------------------------------------


def test_a_prompt_that_does_not_fit_is_never_sent(
    ollama_settings: Settings, ollama_standin: StandinOllama
) -> None:
    long_article = "\n".join(f"[s{i}] " + ARTICLE["s1"] for i in range(40))
    with make(replace(ollama_settings, num_ctx_cap=1024)) as llm:
        budget = llm.budget()
        assert (budget.num_ctx, budget.num_predict, budget.prompt_tokens) == (1024, 256, 768)
        assert not llm.fits(long_article)
        assert llm.fits(SEGMENTS)
        with pytest.raises(ContextOverflow) as e:
            summarize(llm, user=long_article)
    assert e.value.budget == 768
    assert e.value.num_ctx == 1024
    assert e.value.estimate > 768
    assert e.value.estimate == estimate_messages(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": long_article}]
    )
    assert "it was not sent" in str(e.value)
    assert chats(ollama_standin) == []


def test_truncation_by_the_server_is_reported(
    llm: Ollama, ollama_standin: StandinOllama, caplog: pytest.LogCaptureFixture
) -> None:
    # A server that ignores num_ctx (a proxy, an old setting) and keeps only 40 tokens.
    ollama_standin.max_ctx = 40
    long_article = "\n".join(f"[s{i}] " + ARTICLE["s2"] for i in range(30))
    result = summarize(llm, user=long_article)
    assert result.record.truncated
    assert result.record.prompt_eval_count == 40
    assert "prompt_eval_count 40 is far below" in result.record.warnings[0]
    assert "prompt_eval_count 40" in caplog.text


def test_truncation_can_be_an_error(
    ollama_settings: Settings, ollama_standin: StandinOllama
) -> None:
    ollama_standin.max_ctx = 40
    long_article = "\n".join(f"[s{i}] " + ARTICLE["s2"] for i in range(30))
    with make(ollama_settings, on_truncation="error") as llm, pytest.raises(PromptTruncated):
        summarize(llm, user=long_article)


def test_a_prompt_filling_num_ctx_is_reported_as_cut() -> None:
    assert truncation_warning(2040, 1000, 2048) is not None
    assert truncation_warning(1900, 1000, 2048) is None
    assert truncation_warning(600, 1000, 8192) is None
    assert truncation_warning(300, 1000, 8192) is not None
    # Too small a prompt for the ratio to mean anything.
    assert truncation_warning(5, 40, 8192) is None


def test_token_estimates_are_deliberately_high() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcdef") == 2
    assert estimate_tokens("2026") == 4
    assert estimate_tokens("été") == 2 + 1
    corpus = Path(__file__).resolve().parents[1] / "corpus"
    for path in sorted(corpus.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        # Real tokenizers give about one token per four characters of English news.
        assert estimate_tokens(text) >= len(text) / 4


# -- the cache ------------------------------------------------------------------------------------


def test_a_second_identical_call_is_served_from_the_cache(
    ollama_settings: Settings, ollama_standin: StandinOllama
) -> None:
    with make(ollama_settings) as llm:
        first = summarize(llm)
        second = summarize(llm)
        assert (llm.cache_hits, llm.cache_misses) == (1, 1)
    assert second.record.cache_hit
    assert second.reply == first.reply
    assert second.record.attempts == 0
    assert second.record.prompt_eval_count == first.record.prompt_eval_count
    assert len(chats(ollama_standin)) == 1
    # Another run (a new process would build a new object) finds it on disk.
    with make(ollama_settings) as llm:
        assert summarize(llm).record.cache_hit
        assert len(llm.cache) == 1
    assert len(chats(ollama_standin)) == 1


def test_no_cache_bypasses_it(ollama_settings: Settings, ollama_standin: StandinOllama) -> None:
    with make(ollama_settings) as llm:
        summarize(llm)
        assert not summarize(llm, use_cache=False).record.cache_hit
    with make(replace(ollama_settings, use_cache=False)) as llm:
        assert not summarize(llm).record.cache_hit
        assert (llm.cache_hits, llm.cache_misses) == (0, 0)
    assert len(chats(ollama_standin)) == 3


def test_the_key_covers_prompt_version_options_input_and_digest(
    ollama_settings: Settings, ollama_standin: StandinOllama
) -> None:
    with make(ollama_settings) as llm:
        summarize(llm)
        llm.structured(Summary, prompt_id="summarize", prompt_version="v2", user=SEGMENTS)
        summarize(llm, seed=1)
        summarize(llm, user=SEGMENTS + " ")
        assert llm.cache_hits == 0
    ollama_standin.add_model("llama3.2", digest="f" * 64)
    with make(ollama_settings) as llm:
        assert not summarize(llm).record.cache_hit
    assert len(chats(ollama_standin)) == 5


def test_a_failed_call_is_not_cached(llm: Ollama, ollama_standin: StandinOllama) -> None:
    ollama_standin.misbehave("invalid_json", times=2)
    with pytest.raises(InvalidReply):
        summarize(llm)
    assert not summarize(llm).record.cache_hit
    assert summarize(llm).record.cache_hit


def test_threads_share_one_cache(llm: Ollama, ollama_standin: StandinOllama) -> None:
    results = run_threads(6, lambda i: summarize(llm))
    assert len({r.content for r in results}) == 1
    assert len(llm.cache) == 1
    assert summarize(llm).record.cache_hit
    stats = llm.stats
    assert stats.cache_hits + stats.cache_misses == 7
    assert stats.chat_calls == len(chats(ollama_standin)) == stats.cache_misses


def test_an_unusable_cache_file_is_a_clear_error(ollama_settings: Settings) -> None:
    ollama_settings.home.mkdir(parents=True)
    (ollama_settings.home / "llm-cache.sqlite3").write_text("not a database " * 100)
    with make(ollama_settings) as llm, pytest.raises(LLMCacheError) as e:
        summarize(llm)
    assert e.value.hint is not None
    assert "--no-cache" in e.value.hint
    with make(replace(ollama_settings, use_cache=False)) as llm:
        assert summarize(llm).reply.points


# -- concurrency ----------------------------------------------------------------------------------


def test_requests_in_flight_are_bounded_per_host(
    ollama_settings: Settings, ollama_standin: StandinOllama
) -> None:
    ollama_standin.latency = 0.05
    with make(replace(ollama_settings, parallel=2)) as llm:
        results = run_threads(8, lambda i: summarize(llm, user=f"{SEGMENTS}\n[s9] Call {i}."))
    assert all(r.reply.points for r in results)
    assert ollama_standin.max_concurrency == 2


def test_several_hosts_share_the_work(tmp_path: Path) -> None:
    with StandinOllama(latency=0.05) as a, StandinOllama(latency=0.05) as b:
        settings = standin_settings(tmp_path, a.url, b.url, parallel=1)
        with make(settings) as llm:
            assert llm.capacity == 2
            run_threads(6, lambda i: summarize(llm, user=f"{SEGMENTS}\n[s9] Call {i}."))
        assert a.max_concurrency == b.max_concurrency == 1
        assert len(chats(a)) + len(chats(b)) == 6
        assert len(chats(a)) >= 2
        assert len(chats(b)) >= 2


def test_a_host_without_the_model_leaves_the_work_to_the_others(tmp_path: Path) -> None:
    with StandinOllama() as lacking, StandinOllama() as having:
        lacking.remove_model("llama3.2")
        settings = standin_settings(tmp_path, lacking.url, having.url, parallel=1, use_cache=False)
        with make(settings) as llm:
            hosts = {
                summarize(llm, user=f"{SEGMENTS}\n[s9] Call {i}.").record.host for i in range(4)
            }
            stats = llm.stats
            # Embedding models are tracked apart: the host without the chat model still embeds.
            llm.embed("nomic-embed-text", ["a", "b", "c", "d"], batch_size=1)
        assert hosts == {having.url}
        assert chats(lacking) == []
        assert len(chats(having)) == 4
        assert stats.retries == 0
        assert lacking.requests("/api/embed")


def test_a_model_pulled_on_no_host_names_every_pull(tmp_path: Path) -> None:
    with StandinOllama() as a, StandinOllama() as b:
        a.remove_model("llama3.2")
        b.remove_model("llama3.2")
        with (
            make(standin_settings(tmp_path, a.url, b.url)) as llm,
            pytest.raises(ModelNotFound) as e,
        ):
            summarize(llm)
        assert chats(a) == chats(b) == []
    assert str(e.value) == f'model "llama3.2" is not pulled on any of {a.url}, {b.url}'
    assert e.value.hint == (
        f"pull it with `OLLAMA_HOST={a.url} ollama pull llama3.2` "
        f"or `OLLAMA_HOST={b.url} ollama pull llama3.2`"
    )


def test_a_chat_404_on_one_host_fails_over_to_another(tmp_path: Path) -> None:
    with StandinOllama() as a, StandinOllama() as b:
        for server in (a, b):
            server.misbehave("not_found", times=None)
        settings = standin_settings(tmp_path, a.url, b.url, use_cache=False)
        with make(settings) as llm, pytest.raises(ModelNotFound) as e:
            summarize(llm)
        # One chat on each host, no retry of the same one: a 404 will not change by asking again.
        assert len(chats(a)) == len(chats(b)) == 1
    assert "any of" in str(e.value)


# -- embeddings -----------------------------------------------------------------------------------


def test_embed_batches_keep_the_order(ollama_settings: Settings) -> None:
    texts = [f"text number {i} about trams" for i in range(7)]
    with StandinOllama(latency=0.02) as server:
        settings = replace(ollama_settings, ollama_hosts=[server.url])
        with make(settings) as llm:
            vectors = llm.embed("nomic-embed-text", texts, batch_size=3)
            assert llm.embed("nomic-embed-text", []) == []
        requests = server.requests("/api/embed")
    assert vectors == [embed_vector(t, 64) for t in texts]
    assert sorted(len(r.body["input"]) for r in requests) == [1, 3, 3]
    assert all(r.body["options"] == {"num_ctx": 2048} for r in requests)


# -- hosts and imports ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "1.2.3.4",
        ":56789",
        "1.2.3.4:56789",
        "http://1.2.3.4",
        "https://1.2.3.4",
        "https://1.2.3.4:56789",
        "example.com",
        "example.com:56789/",
        "example.com/path",
        "https://example.com:56789/path/",
        "[0001:002:003:0004::1]",
        "[0001:002:003:0004::1]:56789/path",
    ],
)
def test_host_names_are_read_as_the_client_reads_them(raw: str) -> None:
    from ollama._client import _parse_host

    assert host_url(raw) == _parse_host(raw)


def test_the_budget_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, summarizer.llm.budget; "
        "heavy = {'ollama', 'httpx', 'pydantic'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)
