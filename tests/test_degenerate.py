"""Replies that go wrong the way small local models' do: loops stopped early and asked again once,
cut replies grown only while making progress, liveness while a reply streams."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from summarizer.config import Settings
from summarizer.errors import DegenerateReply, OutputTruncated
from summarizer.llm import DEFAULT_SEED, Ollama
from summarizer.llm.stream import Activity, looping, making_progress, watching
from tests.standin_ollama import StandinOllama
from tests.test_llm import SEGMENTS, Text, chats, make, summarize

SENTENCE = "Binance will not freeze the accounts of ordinary Russian users, it said on Monday."


@pytest.fixture
def llm(ollama_settings: Settings) -> Iterator[Ollama]:
    with make(ollama_settings) as client:
        yield client


def test_legitimate_replies_are_not_loops() -> None:
    # One sentence as headline, summary, point and quote: said four times, under four keys.
    reply = {
        "headline": SENTENCE,
        "summary": SENTENCE,
        "key_points": [{"text": SENTENCE, "citations": [{"segment_id": "s1", "quote": SENTENCE}]}],
    }
    assert looping(json.dumps(reply), SENTENCE) is None
    # Repetitive input copied faithfully is no loop of the model's.
    table = " ".join(["Bitcoin closed the day at a price lower than on Friday."] * 30)
    assert looping(json.dumps({"quote": table}), table) is None
    assert making_progress(json.dumps({"quote": table}), table)


def test_loops_are_told() -> None:
    item = {"statement": SENTENCE, "quote": SENTENCE}
    # Near-identical items again and again: a loop.
    near = [{"statement": f"{SENTENCE} ({i})", "quote": SENTENCE} for i in range(5)]
    said = looping(json.dumps({"claims": near}), SENTENCE)
    assert said is not None and "5 times in 'statement'" in said
    assert looping(json.dumps({"claims": near[:4]}), SENTENCE) is None
    # Five claims quoting the same sentence is not (maxItems bounds whole repeats), but the same
    # item without end is, counted over the whole text.
    assert looping(json.dumps({"claims": [item] * 5}), SENTENCE) is None
    assert looping(json.dumps({"claims": [item] * 8}), SENTENCE) is not None
    # Strings in a list are looked at too.
    listed = json.dumps({"unbacked": ["the same words said again and again here"] * 20})
    assert looping(listed, "") is not None
    phrase = looping('{"summary": "' + "the exchange said " * 20, SENTENCE)
    assert phrase is not None and "in 'summary'" in phrase
    assert looping('{"summary": "x' + " \n" * 100, "") == "160 characters without a word"
    # Chinese and Japanese have no spaces between words: their loops are seen all the same.
    zh = "交易所表示将遵守制裁"
    looped = json.dumps({"summary": zh * 12}, ensure_ascii=False)
    assert looping(looped, zh) is not None
    told = "币安表示，它不会冻结所有俄罗斯用户的账户，但会限制受制裁者。交易所遵守法律。"
    assert looping(json.dumps({"summary": told, "headline": zh}, ensure_ascii=False), told) is None
    # A reply cut while it said its earlier words again is not making progress.
    assert not making_progress(json.dumps({"claims": [item] * 4}), SENTENCE)
    assert making_progress(json.dumps({"claims": [item]}), SENTENCE)


@pytest.mark.parametrize("style", ["item", "phrase"])
def test_a_loop_is_stopped_early_and_asked_again_with_another_seed(
    ollama_settings: Settings, ollama_standin: StandinOllama, style: str
) -> None:
    ollama_standin.token_delay = 0.002
    ollama_standin.misbehave("loop", style=style)
    with make(ollama_settings) as llm:
        result = summarize(llm, num_predict=1500)
        stats = llm.stats
    first, second = chats(ollama_standin)
    # Stopped long before num_predict: the connection closed, the server stopped sending.
    assert first.pieces_sent < 600
    assert first.body["options"]["seed"] == DEFAULT_SEED
    assert second.body["options"]["seed"] == DEFAULT_SEED + 1
    assert result.record.attempts == 2 and result.record.degenerate == 1
    assert result.record.done_reason == "stop"
    (warning,) = result.record.warnings
    assert "the same words" in warning and "asked again with another seed" in warning
    # Greedy decoding ignores the seed: the retry samples, and damps repetition more.
    assert first.body["options"]["temperature"] == 0.0
    assert (
        second.body["options"]["temperature"] > 0 and second.body["options"]["repeat_penalty"] > 1.1
    )
    assert stats.degenerate_replies == 1 and 0 < stats.degenerate_tokens < 600


def test_what_a_model_wrote_before_it_looped_twice_is_used(
    ollama_settings: Settings, ollama_standin: StandinOllama
) -> None:
    # The first point again and again, in both replies: the points before the loop stand.
    ollama_standin.misbehave("loop", times=None, style="item")
    with make(ollama_settings) as llm:
        got = summarize(llm, num_predict=1500)
    assert len(chats(ollama_standin)) == 2
    assert got.reply.headline and got.reply.points
    assert len(got.reply.points) == 1  # the looping item, once
    (warning,) = [w for w in got.record.warnings if "before the loop is used" in w]
    assert warning.startswith("llama3.2 repeated itself in both replies (the same words")


def test_a_model_that_loops_twice_gets_a_clear_error(
    ollama_settings: Settings, ollama_standin: StandinOllama
) -> None:
    # A string going round in circles, in both replies: nothing whole was written before it.
    ollama_standin.misbehave("loop", times=None, style="phrase")
    with make(ollama_settings) as llm, pytest.raises(DegenerateReply) as e:
        summarize(llm, num_predict=1500)
    assert len(chats(ollama_standin)) == 2
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith("llama3.2 repeated itself in both replies to the summarize.v1 ")
    assert e.value.hint is not None and "try a larger model" in e.value.hint


def test_a_cut_reply_that_is_looping_is_not_given_more_room(
    ollama_settings: Settings, ollama_standin: StandinOllama
) -> None:
    # The loop fills num_predict before the check sees it (a check every 16 tokens): the cut,
    # not the stream, tells it; no larger num_predict is asked for a loop.
    looped = json.dumps({"headline": "h", "points": [{"text": SENTENCE, "citations": []}] * 6})
    ollama_standin.misbehave("reply", times=None, content=looped)
    ollama_standin.misbehave("length", times=None)
    with make(ollama_settings) as llm, pytest.raises(DegenerateReply) as e:
        summarize(llm, num_predict=80)
    assert [r.body["options"]["num_predict"] for r in chats(ollama_standin)] == [80, 80]
    assert "cut at 80 tokens while saying the same things again" in str(e.value)


def test_a_cut_reply_making_progress_still_grows(
    ollama_settings: Settings, ollama_standin: StandinOllama
) -> None:
    ollama_standin.misbehave("length", times=1)
    with make(ollama_settings) as llm:
        result = summarize(llm, num_predict=300)
    assert [r.body["options"]["num_predict"] for r in chats(ollama_standin)] == [300, 600]
    assert "reply cut at 300 output tokens; asked again with 600" in result.record.warnings


def test_the_read_timeout_counts_from_the_last_token(
    ollama_settings: Settings, ollama_standin: StandinOllama
) -> None:
    # About 3 s of reply at 0.1 s per token, with a 1 s read timeout: alive all along.
    ollama_standin.token_delay = 0.1
    with make(replace(ollama_settings, read_timeout=1.0)) as llm:
        result = summarize(llm)
    assert result.record.eval_count > 20 and result.record.attempts == 1


def test_a_streaming_call_tells_who_watches_that_it_is_alive(
    llm: Ollama, ollama_standin: StandinOllama
) -> None:
    ollama_standin.token_delay = 0.002
    seen: list[tuple[int, bool, str]] = []

    def listener(activity: Activity) -> None:
        seen.append((activity.tokens, activity.done, activity.line()))

    with watching(listener):
        result = summarize(llm, user=SEGMENTS * 4)
    summarize(llm, user=SEGMENTS * 5)  # after watching: nobody told
    tokens = [t for t, _, _ in seen]
    assert tokens == sorted(tokens) and tokens[-1] == result.record.eval_count
    assert seen[0][2].startswith("llama3.2 summarize") and "reading the prompt" in seen[0][2]
    # Which call it is, and how long a prompt it reads (it can take a small machine 20 s).
    assert re.search(r"\(call \d+, a prompt of ~[\d,]+ tokens\)", seen[0][2]), seen[0][2]
    assert seen[-1][1] is True and [done for _, done, _ in seen].count(True) == 1
    assert any("tokens/s" in line for _, _, line in seen)


def _options(requests: list[Any]) -> list[dict[str, Any]]:
    return [r.body["options"] for r in requests]


def test_the_options_damp_repetition(llm: Ollama, ollama_standin: StandinOllama) -> None:
    summarize(llm)
    (options,) = _options(chats(ollama_standin))
    assert options["repeat_penalty"] > 1.0 and 0 < options["repeat_last_n"] < 64


def test_a_reply_still_cut_gives_what_it_wrote_in_full(
    ollama_settings: Settings, ollama_standin: StandinOllama
) -> None:
    # Cut in half every time, even with more room: the whole points before the cut are used.
    ollama_standin.misbehave("length", times=None)
    with make(ollama_settings) as llm:
        got = summarize(llm, num_predict=2000)
    assert got.reply.headline and got.reply.points
    assert got.record.warnings[-1].startswith("reply cut at ")
    assert got.record.warnings[-1].endswith("what it wrote in full before the cut is used")


def test_a_reply_still_cut_with_nothing_whole_is_an_error_not_a_loop(
    ollama_settings: Settings, ollama_standin: StandinOllama
) -> None:
    ollama_standin.misbehave("length", times=None)
    with make(ollama_settings) as llm, pytest.raises(OutputTruncated):
        llm.structured(Text, system="s", user="u", prompt_id="x", prompt_version="v1")


def _arrays(node: Any, where: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == "array":
            found.append((where, node))
        for key, sub in node.items():
            found += _arrays(sub, f"{where}.{key}")
    elif isinstance(node, list):
        for sub in node:
            found += _arrays(sub, where)
    return found


def test_every_list_in_the_reply_schemas_is_bounded() -> None:
    from summarizer.analysis.asking import AnswerReply, CorroborateReply
    from summarizer.analysis.claims import ClaimsReply
    from summarizer.analysis.summarize import LENGTHS, MergeReply, SummaryReply, bounded

    for length, (n_points, _) in LENGTHS.items():
        schema = bounded(SummaryReply, "key_points", n_points).model_json_schema()
        assert schema["properties"]["key_points"]["maxItems"] == n_points, length
        assert "key_points" in schema["required"]
    replies = [
        bounded(SummaryReply, "key_points", 5),
        bounded(MergeReply, "point_ids", 5),
        ClaimsReply,
        AnswerReply,
        CorroborateReply,
    ]
    for reply in replies:
        arrays = _arrays(reply.model_json_schema())
        assert arrays, reply.__name__
        for where, array in arrays:
            assert 0 < array.get("maxItems", 0) <= 45, f"{reply.__name__}{where}"


def _cli(*args: str) -> Any:
    from click.testing import CliRunner

    from summarizer.cli import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_claims_the_model_did_not_give_are_said_not_to_be_there(
    hash_embedder: str, ollama_env: StandinOllama, corpus_copy: Any
) -> None:
    article = str(sorted(corpus_copy.glob("*.txt"))[0])
    ollama_env.misbehave("reply", times=None, content='{"claims": []}')
    result = _cli("claims", article, "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["claims"] == [] and data["outcome"] == "nothing_given"
    assert result.stderr.splitlines() == [f"error: {article}: the model gave no claims"]


def test_a_summary_without_a_quote_found_is_not_a_summary(
    hash_embedder: str, ollama_env: StandinOllama, corpus_copy: Any
) -> None:
    article = str(sorted(corpus_copy.glob("*.txt"))[0])
    # Sentences the prompt did not number (a server that ignores the grammar), with quotes that
    # are not in the article: none found.
    ollama_env.misbehave("unknown_segments", times=None)
    ollama_env.misbehave("invented_quotes", times=None)
    result = _cli("summarize", article)
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {article}: the model gave no key points that the article ")
    assert "without a citation found; citations: 0 found," in line
    assert "**Nothing to show: the model gave no key points" in result.stdout


def test_a_model_that_loops_fails_the_article_in_one_line(
    hash_embedder: str, ollama_env: StandinOllama, corpus_copy: Any
) -> None:
    first, second = sorted(corpus_copy.glob("*.txt"))[:2]
    # Both replies for the first article's one call go round in circles from their first point.
    ollama_env.misbehave("loop", times=2, style="phrase")
    result = _cli("summarize", str(first), str(second), "--json", "--parallel", "1")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "repeated itself in both replies to the summarize.v" in errors[0]
    assert "Traceback" not in result.output
    failed, done = json.loads(result.stdout)  # the other article is summarised all the same
    assert failed["source"] == str(first) and "repeated itself" in failed["error"]
    assert done["outcome"] == "ok" and done["key_points"]


def test_a_terminal_sees_each_model_call_alive(
    hash_embedder: str, ollama_env: StandinOllama, corpus_copy: Any
) -> None:
    import os
    import pty
    import select
    import subprocess
    import sys

    article = str(sorted(corpus_copy.glob("*.txt"))[0])
    ollama_env.token_delay = 0.01  # a few seconds of reply: several redraws
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "160", "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "summarizer", "summarize", article, "--support", "rules"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env,
    )  # fmt: skip
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # the other end closed
            break
        if not data:
            break
        seen += data
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    assert proc.wait(timeout=60) == 0
    os.close(master)
    text = seen.decode(errors="replace")
    assert "llama3.2 summarize.v" in text and "tokens/s" in text, text[-2000:]
    assert re.search(r"\(call 1 of 1, a prompt of ~[\d,]+ tokens\)", text), text[-2000:]
    assert "## Key points" in out  # the summary itself goes to stdout, not the terminal line


def test_a_prompt_cut_by_the_server_is_told_when_the_first_reply_looped(
    ollama_settings: Settings, ollama_standin: StandinOllama
) -> None:
    import random
    import string

    # The server's tokenizer counts more tokens than the estimate, and the prompt fills the
    # window; the first reply loops, so only the retry's counts tell.
    rng = random.Random(7)
    lines = [" ".join(rng.choices(string.ascii_letters, k=100)) for _ in range(42)]
    user = "\n".join(f"[s{i}] {line}" for i, line in enumerate(lines))
    ollama_standin.misbehave("loop", style="item")
    with make(replace(ollama_settings, num_ctx_cap=4096)) as llm:
        result = summarize(llm, user=user, num_predict=800)
    assert result.record.attempts == 2 and result.record.degenerate == 1
    assert result.record.truncated
    assert any("filled the whole context window" in w for w in result.record.warnings)


@pytest.mark.parametrize(
    ("text", "first"),
    [
        # An item cut inside: the items before it, closed.
        ('{"points": [{"text": "one", "cites": ["s1"]}, {"text": "two", "ci',
         '{"points": [{"text": "one", "cites": ["s1"]}, {"text": "two"}]}'),
        # A string going round in circles after whole fields: those fields.
        ('{"points": [], "summary": "a b c a b c a b', '{"points": []}'),
        # Escaped quotes inside strings are not their ends.
        ('{"a": "he said \\"no\\"", "b": "x y', '{"a": "he said \\"no\\""}'),
        # Whole: itself.
        ('{"a": [1, 2]}', '{"a": [1, 2]}'),
    ],
)  # fmt: skip
def test_what_a_reply_cut_anywhere_said_in_full(text: str, first: str) -> None:
    from summarizer.llm.partial import completed

    cuts = list(completed(text))
    assert cuts[0] == first
    for cut in cuts:
        json.loads(cut)  # each a whole JSON text
    assert list(completed('{"a": "never closed')) == []


@pytest.mark.parametrize(
    ("style", "said"),
    [
        ("line", "sent a line of over 1 MiB without an end: the reply was stopped"),
        ("tokens", "sent more than the 4 tokens asked for (num_predict): the reply was stopped"),
        ("trickle", "past any pace for 4 tokens: the reply was stopped"),
    ],
)
def test_a_server_whose_reply_never_ends_is_stopped_with_one_line(
    ollama_settings: Settings, ollama_standin: StandinOllama, style: str, said: str
) -> None:
    """One line that never ends used to be buffered until the OOM killer came; an endless or
    trickling stream that ignores num_predict ran for ever. Each is stopped, with one line."""
    import tracemalloc

    from summarizer.errors import LLMError

    ollama_standin.misbehave("flood", times=None, style=style, every=0.2)
    settings = replace(ollama_settings, read_timeout=1.0)
    tracemalloc.start()
    try:
        with make(settings) as llm, pytest.raises(LLMError) as raised:
            llm.structured(
                Text, prompt_id="t", prompt_version="v1", user="Say it.", num_predict=4,
                use_cache=False,
            )  # fmt: skip
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert said in raised.value.message and ollama_standin.url in raised.value.message
    assert "\n" not in raised.value.message
    assert peak < 64 << 20  # a few MiB at most, not what the server sends
    assert len(chats(ollama_standin)) == 1  # not asked again
