"""The stand-in Ollama server speaks the protocol the real client expects, and misbehaves on cue."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import threading
import time
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import httpx
import ollama
import pytest
from pydantic import BaseModel, Field, ValidationError

from tests.standin_ollama import NOT_FOUND, StandinOllama, count_tokens, sentences

ARTICLE = {
    "s1": "The city council voted on Tuesday to expand the tram network. The vote was 31 to 12.",
    "s2": "Opponents said the cost of 1.2 billion euros was too high. They plan to appeal.",
    "s3": "Construction is expected to begin in 2026, the mayor said.",
}
SEGMENTS = "\n".join(f"[{sid}] {text}" for sid, text in ARTICLE.items())
CHAT_KEYS = {
    "model",
    "created_at",
    "message",
    "done",
    "done_reason",
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
}


class Kind(StrEnum):
    FACT = "reported_fact"
    OPINION = "opinion"


class Citation(BaseModel):
    segment_id: str
    quote: str


class Claim(BaseModel):
    statement: str
    kind: Kind
    hedged: bool
    speaker: str | None = None
    citations: list[Citation] = Field(min_length=1)


class Claims(BaseModel):
    claims: list[Claim] = Field(min_length=2, max_length=2)


def client(server: StandinOllama) -> ollama.Client:
    return ollama.Client(host=server.url, timeout=5)


def ask(
    server: StandinOllama,
    schema: dict[str, Any] | Literal["", "json"] | None = None,
    **kwargs: Any,
) -> Any:
    messages = [
        {"role": "system", "content": "List the claims. Cite segment ids and verbatim quotes."},
        {"role": "user", "content": SEGMENTS},
    ]
    return client(server).chat(
        model=kwargs.pop("model", "llama3.2"),
        messages=messages,
        format=schema,
        options={"num_ctx": 4096, **kwargs.pop("options", {})},
        **kwargs,
    )


def reply_to(server: StandinOllama, model: type[BaseModel]) -> Any:
    """The stand-in's reply to the claims prompt with `model`'s schema, validated."""
    return model.model_validate_json(ask(server, model.model_json_schema()).message.content)


def assert_grounded(claims: Claims) -> None:
    for claim in claims.claims:
        for citation in claim.citations:
            assert citation.quote in ARTICLE[citation.segment_id]


# -- metadata endpoints ---------------------------------------------------------------------------


def test_version_tags_show_and_ps_have_the_documented_shapes(ollama_standin: StandinOllama) -> None:
    url = ollama_standin.url
    assert httpx.get(f"{url}/api/version").json() == {"version": ollama_standin.version}
    tags = httpx.get(f"{url}/api/tags").json()["models"]
    names = {m["name"] for m in tags}
    assert names == {"llama3.2:latest", "nomic-embed-text:latest"}
    for m in tags:
        assert set(m) == {"name", "model", "modified_at", "size", "digest", "details"}
        assert re.fullmatch(r"[0-9a-f]{64}", m["digest"])
        assert set(m["details"]) >= {"format", "family", "parameter_size", "quantization_level"}
    show = client(ollama_standin).show("llama3.2")
    assert show.modelinfo is not None
    assert show.modelinfo["general.architecture"] == "llama"
    assert show.modelinfo["llama.context_length"] == 131072
    assert show.capabilities == ["completion", "tools"]
    embed_show = client(ollama_standin).show("nomic-embed-text")
    assert embed_show.modelinfo is not None
    assert embed_show.modelinfo["nomic-bert.context_length"] == 2048
    assert embed_show.capabilities == ["embedding"]
    assert client(ollama_standin).ps().models == []
    ask(ollama_standin, options={"num_ctx": 3000})
    running = client(ollama_standin).ps().models
    assert [(m.model, m.context_length) for m in running] == [("llama3.2:latest", 3000)]


def test_unknown_model_is_a_404_with_ollamas_words(ollama_standin: StandinOllama) -> None:
    url = ollama_standin.url
    for path, body in [
        ("/api/chat", {"model": "nope", "messages": []}),
        ("/api/embed", {"model": "nope", "input": "x"}),
        ("/api/show", {"model": "nope"}),
    ]:
        r = httpx.post(f"{url}{path}", json=body)
        assert r.status_code == 404
        assert r.json() == {"error": 'model "nope" not found, try pulling it first'}
    with pytest.raises(ollama.ResponseError) as e:
        client(ollama_standin).chat(model="nope", messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 404
    assert e.value.error == NOT_FOUND.format(name="nope")


def test_a_removed_model_is_unknown_everywhere(ollama_standin: StandinOllama) -> None:
    ollama_standin.remove_model("llama3.2")
    assert [m.model for m in client(ollama_standin).list().models] == ["nomic-embed-text:latest"]
    with pytest.raises(ollama.ResponseError):
        ask(ollama_standin)


def test_unknown_paths_and_methods_answer_like_go(ollama_standin: StandinOllama) -> None:
    r = httpx.get(f"{ollama_standin.url}/api/nothing")
    assert (r.status_code, r.text) == (404, "404 page not found")
    assert httpx.get(f"{ollama_standin.url}/api/chat").status_code == 405
    assert httpx.get(ollama_standin.url).text == "Ollama is running"
    r = httpx.post(f"{ollama_standin.url}/api/chat", content=b"{not json")
    assert r.status_code == 400
    assert "error" in r.json()


# -- chat -----------------------------------------------------------------------------------------


def test_non_streamed_chat_has_every_field(ollama_standin: StandinOllama) -> None:
    r = httpx.post(
        f"{ollama_standin.url}/api/chat",
        json={
            "model": "llama3.2",
            "stream": False,
            "messages": [{"role": "user", "content": SEGMENTS}],
        },
    )
    body = r.json()
    assert r.headers["content-type"].startswith("application/json")
    assert set(body) == CHAT_KEYS
    assert body["done"] is True
    assert body["done_reason"] == "stop"
    assert body["message"]["role"] == "assistant"
    assert body["prompt_eval_count"] == count_tokens(SEGMENTS)
    assert body["eval_count"] == count_tokens(body["message"]["content"])


def test_streamed_chat_is_ndjson_without_blank_lines(ollama_standin: StandinOllama) -> None:
    request: dict[str, Any] = {
        "model": "llama3.2",
        "messages": [{"role": "user", "content": SEGMENTS}],
    }
    with httpx.stream("POST", f"{ollama_standin.url}/api/chat", json=request) as r:
        assert r.headers["content-type"] == "application/x-ndjson"
        raw = r.read().decode()
    lines = raw.split("\n")
    assert lines[-1] == ""
    parts = [json.loads(line) for line in lines[:-1]]
    assert all(line.strip() for line in lines[:-1])
    assert len(parts) > 2
    fragment_keys = {"model", "created_at", "message", "done"}
    assert all(p["done"] is False and set(p) == fragment_keys for p in parts[:-1])
    assert set(parts[-1]) == CHAT_KEYS
    assert parts[-1]["done"] is True
    assert parts[-1]["message"]["content"] == ""
    streamed = "".join(p["message"]["content"] for p in parts)
    whole = httpx.post(f"{ollama_standin.url}/api/chat", json={**request, "stream": False})
    assert streamed == whole.json()["message"]["content"]
    with_client = client(ollama_standin).chat(
        model="llama3.2", messages=request["messages"], stream=True
    )
    assert "".join(p.message.content or "" for p in with_client) == streamed


def test_schema_reply_quotes_the_segments_it_was_given(ollama_standin: StandinOllama) -> None:
    response = ask(ollama_standin, Claims.model_json_schema())
    claims = Claims.model_validate_json(response.message.content)
    assert len(claims.claims) == 2
    assert_grounded(claims)
    first = claims.claims[0]
    assert first.statement == first.citations[0].quote
    assert first.kind is Kind.FACT
    assert first.hedged is False
    assert first.speaker is None
    # Successive items cite different segments.
    assert claims.claims[0].citations[0].segment_id != claims.claims[1].citations[0].segment_id


def test_schema_reply_respects_min_and_max_items(ollama_standin: StandinOllama) -> None:
    class Many(BaseModel):
        quotes: list[str] = Field(min_length=5)
        segment_ids: list[str] = Field(max_length=1)
        count: int = Field(ge=3)

    reply = reply_to(ollama_standin, Many)
    assert len(reply.quotes) == 5
    assert all(any(q in text for text in ARTICLE.values()) for q in reply.quotes)
    assert len(reply.segment_ids) == 1
    assert reply.segment_ids[0] in ARTICLE
    assert reply.count == 3


def test_without_segments_text_comes_from_the_prompt(ollama_standin: StandinOllama) -> None:
    class Answer(BaseModel):
        answer: str
        found: bool

    prose = "Rain is expected on Friday. Winds will be strong along the coast."
    r = client(ollama_standin).chat(
        model="llama3.2",
        messages=[{"role": "user", "content": prose}],
        format=Answer.model_json_schema(),
    )
    reply = Answer.model_validate_json(r.message.content or "")
    assert reply.answer in sentences(prose)
    assert reply.found is False  # nothing to work from without segments


def test_field_values_override_by_name(ollama_standin: StandinOllama) -> None:
    class Answer(BaseModel):
        answer: str
        found: bool

    assert reply_to(ollama_standin, Answer).found is True
    ollama_standin.field_values["found"] = False
    assert reply_to(ollama_standin, Answer).found is False


def test_format_json_and_plain_text(ollama_standin: StandinOllama) -> None:
    as_json = json.loads(ask(ollama_standin, "json").message.content)
    assert set(as_json) == {"response"}
    plain = ask(ollama_standin).message.content
    assert plain.startswith(ARTICLE["s1"].split(". ")[0])


# -- misbehaviour ---------------------------------------------------------------------------------


def test_invalid_json(ollama_standin: StandinOllama) -> None:
    ollama_standin.misbehave("invalid_json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(ask(ollama_standin, Claims.model_json_schema()).message.content)
    assert_grounded(reply_to(ollama_standin, Claims))


def test_schema_violation_is_valid_json_of_the_wrong_shape(ollama_standin: StandinOllama) -> None:
    ollama_standin.misbehave("schema_violation")
    content = ask(ollama_standin, Claims.model_json_schema()).message.content
    json.loads(content)
    with pytest.raises(ValidationError):
        Claims.model_validate_json(content)


def test_invented_quotes_keep_real_ids(ollama_standin: StandinOllama) -> None:
    ollama_standin.misbehave("invented_quotes")
    claims = reply_to(ollama_standin, Claims)
    for claim in claims.claims:
        for c in claim.citations:
            assert c.segment_id in ARTICLE
            assert not any(c.quote in text for text in ARTICLE.values())


def test_unknown_segment_ids_keep_real_quotes(ollama_standin: StandinOllama) -> None:
    ollama_standin.misbehave("unknown_segments")
    claims = reply_to(ollama_standin, Claims)
    for claim in claims.claims:
        for c in claim.citations:
            assert c.segment_id not in ARTICLE
            assert re.fullmatch(r"s\d+", c.segment_id)
            assert any(c.quote in text for text in ARTICLE.values())


def test_length_cuts_the_json(ollama_standin: StandinOllama) -> None:
    ollama_standin.misbehave("length")
    response = ask(ollama_standin, Claims.model_json_schema())
    assert response.done_reason == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.message.content)
    assert response.eval_count == count_tokens(response.message.content)


def test_num_predict_cuts_the_reply_as_ollama_does(ollama_standin: StandinOllama) -> None:
    response = ask(ollama_standin, Claims.model_json_schema(), options={"num_predict": 7})
    assert response.done_reason == "length"
    assert response.eval_count == 7
    full = ask(ollama_standin, Claims.model_json_schema())
    assert full.message.content.startswith(response.message.content)


def test_reply_sets_the_content(ollama_standin: StandinOllama) -> None:
    ollama_standin.misbehave("reply", content='{"claims": []}')
    assert ask(ollama_standin).message.content == '{"claims": []}'
    ollama_standin.misbehave("reply", content=lambda body: body["messages"][0]["role"])
    assert ask(ollama_standin).message.content == "system"


def test_rules_count_down_and_are_scoped_to_a_model(ollama_standin: StandinOllama) -> None:
    rule = ollama_standin.misbehave("http_500", times=2, model="llama3.2")
    for _ in range(2):
        with pytest.raises(ollama.ResponseError) as e:
            ask(ollama_standin)
        assert e.value.status_code == 500
        assert "llama runner process has terminated" in e.value.error
    client(ollama_standin).embed(model="nomic-embed-text", input="other models are unaffected")
    assert ask(ollama_standin).done
    assert rule.fired == 2
    assert rule.remaining == 0
    ollama_standin.misbehave("http_500", times=None, status=503, error="overloaded")
    for _ in range(3):
        with pytest.raises(ollama.ResponseError) as e:
            ask(ollama_standin)
        assert (e.value.status_code, e.value.error) == (503, "overloaded")
    ollama_standin.behave()
    assert ask(ollama_standin).done


def test_not_found_rule_and_unknown_kind(ollama_standin: StandinOllama) -> None:
    ollama_standin.misbehave("not_found")
    with pytest.raises(ollama.ResponseError) as e:
        ask(ollama_standin)
    assert e.value.status_code == 404
    with pytest.raises(ValueError):
        ollama_standin.misbehave("explode")


def test_drop_connection_and_stream_error(ollama_standin: StandinOllama) -> None:
    ollama_standin.misbehave("drop_connection")
    with pytest.raises(httpx.TransportError):
        ask(ollama_standin)
    ollama_standin.misbehave("stream_error")
    with pytest.raises(ollama.ResponseError) as e:
        list(ask(ollama_standin, stream=True))
    assert e.value.status_code == -1


def test_delay_and_hang(ollama_standin: StandinOllama) -> None:
    ollama_standin.misbehave("delay", seconds=0.2)
    started = time.monotonic()
    ask(ollama_standin)
    assert time.monotonic() - started >= 0.2
    ollama_standin.token_delay = 0.002
    started = time.monotonic()
    response = ask(ollama_standin)
    assert time.monotonic() - started >= 0.002 * response.eval_count
    ollama_standin.token_delay = 0
    ollama_standin.misbehave("hang", seconds=30)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        ollama.Client(host=ollama_standin.url, timeout=0.3).chat(
            model="llama3.2", messages=[{"role": "user", "content": "hello"}]
        )
    assert time.monotonic() - started < 2


def test_prompts_longer_than_num_ctx_lose_their_beginning(ollama_standin: StandinOllama) -> None:
    segments = "\n".join(f"[s{i}] Sentence number {i} of the long article here." for i in range(40))
    response = client(ollama_standin).chat(
        model="llama3.2",
        messages=[{"role": "user", "content": segments}],
        format=Citation.model_json_schema(),
        options={"num_ctx": 50},
    )
    assert response.prompt_eval_count == 50
    assert ollama_standin.truncations == 1
    citation = Citation.model_validate_json(response.message.content or "")
    # Only the last 50 words (about 6 segments) were seen: the quote comes from the end.
    assert int(citation.segment_id[1:]) >= 33


def test_max_ctx_caps_whatever_num_ctx_asks(ollama_standin: StandinOllama) -> None:
    ollama_standin.max_ctx = 10
    response = ask(ollama_standin, options={"num_ctx": 8192})
    assert response.prompt_eval_count == 10


# -- embeddings -----------------------------------------------------------------------------------


def test_embeddings_are_deterministic_unit_vectors(ollama_standin: StandinOllama) -> None:
    c = client(ollama_standin)
    texts = ["the tram network expands", "the tram network grows", "rain on friday"]
    response = c.embed(model="nomic-embed-text", input=texts)
    vectors = [list(v) for v in response.embeddings]
    assert len(vectors) == 3
    assert all(len(v) == 64 for v in vectors)
    assert all(math.isclose(sum(x * x for x in v), 1.0) for v in vectors)
    assert vectors == [list(v) for v in c.embed(model="nomic-embed-text", input=texts).embeddings]
    assert response.prompt_eval_count == sum(count_tokens(t) for t in texts)

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cos(vectors[0], vectors[1]) > cos(vectors[0], vectors[2])
    single = c.embed(model="nomic-embed-text", input="the tram network expands").embeddings
    assert [list(v) for v in single] == vectors[:1]


def test_embedding_dimension_and_truncation(tmp_path: Path) -> None:
    with StandinOllama(embed_dim=16) as server:
        long_text = " ".join(["word"] * 3000)
        c = client(server)
        assert len(c.embed(model="nomic-embed-text", input=long_text).embeddings[0]) == 16
        assert c.embed(model="nomic-embed-text", input=long_text).prompt_eval_count == 2048
        with pytest.raises(ollama.ResponseError) as e:
            c.embed(model="nomic-embed-text", input=long_text, truncate=False)
        assert e.value.status_code == 400


# -- concurrency, log, process --------------------------------------------------------------------


def test_slots_queue_requests_and_the_log_sees_concurrency() -> None:
    with StandinOllama(latency=0.1, slots=1) as server:
        threads = [threading.Thread(target=ask, args=(server,)) for _ in range(3)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        assert elapsed >= 0.3
        assert server.max_concurrency == 3
        chats = server.requests("/api/chat")
        assert len(chats) == 3
        assert all(r.status == 200 and r.model == "llama3.2" for r in chats)
        assert chats[0].body["options"]["num_ctx"] == 4096
        assert chats[0].time <= chats[-1].time


def test_runs_as_its_own_process() -> None:
    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "tests.standin_ollama", "--port", "0", "--latency", "0.05"]
    proc = subprocess.Popen([*cmd, "--slots", "2"], cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        assert httpx.get(f"{url}/api/version").json()["version"]
        response = ollama.Client(host=url, timeout=5).chat(
            model="llama3.2", messages=[{"role": "user", "content": "Hello there, model."}]
        )
        assert response.done
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0
