"""Replies read as the server streams them: a reply that repeats itself is stopped early, not paid
for to num_predict, and whoever watches (a person at a terminal) sees each call alive."""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx

from summarizer.errors import LLMError
from summarizer.words import TOKEN

# The same run of NGRAM words said REPEATS times under one key of the reply is a loop (a word
# of Chinese or Japanese is a character: a loop in them has no spaces to split it).
NGRAM = 8
REPEATS = 5
# This many characters without a letter or digit (white space, brackets, dots): a loop too.
BLANK_RUN = 160
# The text is looked at every CHECK_EVERY pieces (tokens) received.
CHECK_EVERY = 16
# A reply cut at num_predict was still making progress when at least this share of the
# n-grams of its last third are new to it.
PROGRESS_SHARE = 0.5

# A key and its string value in (possibly unfinished) JSON text; the last value may be open.
FIELD = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:\s*"((?:[^"\\]|\\.)*)"?')
BLANK_TAIL = re.compile(rf"[^\w]{{{BLANK_RUN},}}\Z")
# The keys of JSON text and its literals.
STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"\s*:|\b(?:true|false|null)\b')


def looping(text: str, prompt: str = "") -> str | None:
    """How `text` repeats itself, if it does: a blank run, or the same words again and again
    under one key of the JSON (REPEATS times each time the prompt says them).

    Counted per key: a sentence said as a headline, a point and a quote is no loop; the same
    point again and again, or one string that goes round in circles, is.
    """
    if BLANK_TAIL.search(text):
        return f"{BLANK_RUN} characters without a word"
    counts: Counter[tuple[str, tuple[str, ...]]] = Counter()
    complete: set[tuple[str, str]] = set()
    for m in FIELD.finditer(text):
        key, value = m.group(1), m.group(2)
        if m.group(0).endswith('"') and m.end() < len(text):
            # The same whole value again (five claims quoting one sentence) is no runaway
            # loop: the schema's maxItems bounds how often it can come.
            if (key, value) in complete:
                continue
            complete.add((key, value))
        counts.update((key, gram) for gram in _grams(value))
    # And the whole text, with a higher bar: strings in lists, text that is not JSON. Not its
    # keys and literals: fifteen claims have the same "kind", "hedged" and "date" and are no loop.
    counts.update(("", gram) for gram in _grams(STRUCTURE.sub(" ", text)))
    for (key, gram), n in counts.most_common():
        bar = REPEATS if key else REPEATS * 3
        if n < REPEATS:
            return None
        if n >= bar and n >= bar * max(1, _given(prompt)[gram]):
            where = f" in {key!r}" if key else ""
            return f"the same words {n} times{where} ({' '.join(dict.fromkeys(gram))!r})"
    return None


@functools.lru_cache(maxsize=4)
def _given(prompt: str) -> Counter[tuple[str, ...]]:
    """The prompt's n-grams, counted once per prompt (a reply is checked every few tokens)."""
    return Counter(_grams(prompt))


def _grams(text: str) -> list[tuple[str, ...]]:
    words = TOKEN.findall(text.lower())
    return [tuple(words[i : i + NGRAM]) for i in range(len(words) - NGRAM + 1)]


def _keyed_grams(text: str) -> list[tuple[int, str, tuple[str, ...]]]:
    """(offset, key, n-gram) of the reply's string values (of the whole text if not JSON)."""
    fields = [(m.start(2), m.group(1), m.group(2)) for m in FIELD.finditer(text)]
    out = []
    for start, key, value in fields or [(0, "", text)]:
        words = list(TOKEN.finditer(value.lower()))
        for i in range(len(words) - NGRAM + 1):
            gram = tuple(w.group() for w in words[i : i + NGRAM])
            out.append((start + words[i].start(), key, gram))
    return out


def making_progress(text: str, prompt: str = "") -> bool:
    """Whether the last third of a cut reply still says new things: at least PROGRESS_SHARE of
    its n-grams not said before under the same key (as often as the prompt says them)."""
    grams = _keyed_grams(text)
    if len(grams) < 3:
        return True
    cut = len(text) * 2 // 3
    earlier = Counter((key, gram) for at, key, gram in grams if at < cut)
    tail = [(key, gram) for at, key, gram in grams if at >= cut]
    given = _given(prompt)
    new = sum(earlier[k, g] < max(1, given[g]) for k, g in tail)
    return new >= PROGRESS_SHARE * len(tail)


@dataclass
class Activity:
    """One model call as it streams, for whoever watches."""

    call: int  # the how-manieth model call of this process
    what: str  # e.g. "summarize.v3"
    model: str
    started: float
    prompt_tokens: int = 0  # the prompt's size, estimated
    step: tuple[int, int] | None = None  # the task's call, of how many (when the task says)
    tokens: int = 0
    first_token: float | None = None
    done: bool = False
    ended: float | None = None

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def rate(self) -> float:
        """Output tokens per second since the first token."""
        if self.first_token is None or self.tokens < 2:
            return 0.0
        spent = (self.ended or time.monotonic()) - self.first_token
        return (self.tokens - 1) / spent if spent > 0 else 0.0

    def line(self) -> str:
        size = f", a prompt of ~{self.prompt_tokens:,} tokens" if self.prompt_tokens else ""
        which = f"call {self.step[0]} of {self.step[1]}" if self.step else f"call {self.call}"
        head = f"{self.model} {self.what} ({which}{size})"
        if not self.tokens:
            return f"{head}: reading the prompt, {self.elapsed:.0f} s"
        return f"{head}: {self.tokens} tokens, {self.rate:.1f} tokens/s, {self.elapsed:.0f} s"


# Which call of a task's the current one is, and of how many it plans so far (set by the task).
task_step: ContextVar[tuple[int, int] | None] = ContextVar("task_step", default=None)


@contextmanager
def stepping(step: int, of: int) -> Iterator[None]:
    """The model calls made inside are the task's `step`-th of `of`."""
    token = task_step.set((step, of))
    try:
        yield
    finally:
        task_step.reset(token)


Listener = Callable[[Activity], None]
_listeners: list[Listener] = []
_lock = threading.Lock()
_calls = 0


@contextmanager
def watching(listener: Listener) -> Iterator[None]:
    """Call `listener` with every model call's Activity while it streams (from any thread)."""
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


def _tell(activity: Activity) -> None:
    for listener in list(_listeners):
        with suppress(Exception):  # a display's failure must not look like the model's
            listener(activity)


@dataclass
class Streamed:
    """What a streamed reply came to: its text, and the final message's fields (or, when it was
    stopped early, why)."""

    content: str
    prompt: str = ""  # what the model was given, to tell its own loops from repeated input
    done_reason: str | None = None
    stopped: str | None = None  # why the reply was stopped before its end
    pieces: int = 0
    final: object = None  # the last ChatResponse, with the counters

    def counter(self, name: str) -> int:
        return int(getattr(self.final, name, None) or 0)

    @property
    def prompt_tokens(self) -> int:
        return self.counter("prompt_eval_count")

    @property
    def output_tokens(self) -> int:
        """eval_count; for a reply stopped before its end, the pieces received."""
        return self.counter("eval_count") if self.final is not None else self.pieces


def read(
    parts: Iterable[object], what: str, model: str, prompt: str = "", prompt_tokens: int = 0
) -> Streamed:
    """Read a streamed chat reply (ollama ChatResponse parts), stopping it once it loops (says
    the same words far more often than `prompt`, what the model was given, does)."""
    global _calls
    with _lock:
        _calls += 1
        activity = Activity(
            _calls, what, model, time.monotonic(), prompt_tokens, step=task_step.get()
        )
    out = Streamed("", prompt)
    chunks: list[str] = []
    _tell(activity)
    try:
        for part in parts:
            message = getattr(part, "message", None)
            piece = (getattr(message, "content", None) or "") if message is not None else ""
            if piece:
                chunks.append(piece)
                out.pieces += 1
                activity.tokens += 1
                if activity.first_token is None:
                    activity.first_token = time.monotonic()
                if out.pieces % CHECK_EVERY == 0:
                    _tell(activity)
                    out.stopped = looping("".join(chunks), prompt)
                    if out.stopped is not None:
                        break
            if getattr(part, "done", False):
                out.final = part
                out.done_reason = getattr(part, "done_reason", None)
    finally:
        close = getattr(parts, "close", None)
        if close is not None:
            close()  # a reply stopped early: its connection closed, the server stops generating
        activity.done = True
        activity.ended = time.monotonic()
        _tell(activity)
    out.content = "".join(chunks)
    return out


# What a chat reply may cost before it is stopped as no reply at all (a broken or hostile server):
# one line of the stream (a token's is ~150 bytes), the bytes and lines of the whole reply, and
# its time - the read timeout, plus num_predict tokens at the slowest pace a model runs.
MAX_LINE = 1 << 20
BYTES_PER_TOKEN = 4096
SPARE_LINES = 64
SECONDS_PER_TOKEN = 2.0
DEFAULT_NUM_PREDICT = 4096  # for a request that sets none (this package's always do)


def bounded_replies(read_timeout: float) -> Callable[[Any], None]:
    """An httpx response hook that bounds every streamed chat reply (see MAX_LINE)."""

    def hook(response: Any) -> None:
        request = response.request
        if not request.url.path.endswith("/api/chat"):
            return
        try:
            asked = json.loads(request.content or b"{}").get("options", {}).get("num_predict")
        except (ValueError, AttributeError):
            asked = None
        tokens = asked if isinstance(asked, int) and asked > 0 else DEFAULT_NUM_PREDICT
        response.stream = _Bounded(
            response.stream,
            f"{request.url.scheme}://{request.url.netloc.decode()}",
            tokens,
            time.monotonic() + read_timeout + tokens * SECONDS_PER_TOKEN,
        )

    return hook


class _Bounded(httpx.SyncByteStream):
    """A reply's bytes as they come, stopped with one line once they pass a bound."""

    def __init__(self, inner: Any, host: str, tokens: int, deadline: float) -> None:
        self._inner, self._host, self._tokens, self._deadline = inner, host, tokens, deadline

    def __iter__(self) -> Iterator[bytes]:
        line = total = lines = 0
        started = time.monotonic()
        for chunk in self._inner:
            total += len(chunk)
            lines += chunk.count(b"\n")
            end = chunk.rfind(b"\n")
            line = len(chunk) - end - 1 if end >= 0 else line + len(chunk)
            problem = None
            if line > MAX_LINE:
                problem = f"a line of over {MAX_LINE >> 20} MiB without an end"
            elif total > self._tokens * BYTES_PER_TOKEN + MAX_LINE:
                problem = f"over {total >> 20} MiB for a reply of {self._tokens} tokens at most"
            elif lines > self._tokens + SPARE_LINES:
                problem = f"more than the {self._tokens} tokens asked for (num_predict)"
            elif time.monotonic() > self._deadline:
                took = time.monotonic() - started
                problem = f"a reply for {took:.0f} s, past any pace for {self._tokens} tokens"
            if problem is not None:
                raise LLMError(
                    f"the model server at {self._host} sent {problem}: the reply was stopped",
                    hint="check the server: it does not answer as Ollama does",
                )
            yield chunk

    def close(self) -> None:
        self._inner.close()
