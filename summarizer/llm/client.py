"""The Ollama object: model metadata, embeddings and validated, cached structured replies."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from summarizer.config import Settings
from summarizer.errors import (
    ConfigError,
    ContextOverflow,
    DegenerateReply,
    InvalidReply,
    LLMCacheError,
    LLMError,
    OutputTruncated,
    PromptTruncated,
)
from summarizer.llm import stream
from summarizer.llm.budget import (
    Budget,
    estimate_messages,
    estimate_tokens,
    truncation_warning,
)
from summarizer.llm.cache import ReplyCache, cache_key
from summarizer.llm.facts import ModelFacts
from summarizer.llm.hosts import HostPool
from summarizer.llm.partial import parse_reply, salvaged
from summarizer.llm.records import (
    CallRecord,
    LLMStats,
    Structured,
    describe_validation_error,
    json_schema,
)
from summarizer.llm.sqlite_cache import CACHE_FILE, SqliteReplyCache

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)
V = TypeVar("V")

DEFAULT_SEED = 42
# A reply cut by done_reason "length" while still making progress is retried with twice the
# room, at most this many times.
MAX_GROWTH = 2
# Repetition penalty suited to JSON: Ollama's 1.1, but over the last 16 tokens rather than 64, so
# that a loop of a few words is damped while a quote may still repeat the words of the statement
# it backs (said a line earlier) and the keys of every item stay free to recur.
REPEAT_PENALTY = 1.1
REPEAT_LAST_N = 16
# The one retry of a reply that looped samples at this temperature (with a stronger penalty).
RETRY_TEMPERATURE = 0.6
REPAIR_ECHO_CHARS = 2000


class Ollama(ModelFacts):
    """The tool's only way to a model; built from Settings, safe to share between threads."""

    def __init__(
        self,
        settings: Settings,
        *,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        down_for: float = 10.0,
        on_truncation: Literal["warn", "error"] = "warn",
        embed_batch_size: int = 32,
    ) -> None:
        pool = HostPool(
            settings.ollama_hosts,
            parallel=settings.parallel,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            retries=retries,
            backoff=backoff,
            max_backoff=max_backoff,
            down_for=down_for,
        )
        if settings.database_url:  # the fleet's shared database: one worker's reply serves all
            from summarizer.llm.pg_cache import PgReplyCache

            cache: ReplyCache = PgReplyCache(settings.database_url)
        else:
            cache = SqliteReplyCache(settings.home / CACHE_FILE)
        super().__init__(settings, pool, cache)
        self._on_truncation = on_truncation
        self._embed_batch_size = max(1, embed_batch_size)
        self._stats_lock = threading.Lock()
        self._counts = LLMStats()

    # -- lifecycle and counters ---------------------------------------------------------------

    def __enter__(self) -> Ollama:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.pool.close()
        self.cache.close()

    @property
    def capacity(self) -> int:
        """Requests in flight at once (parallel per host x hosts): size worker pools by it."""
        return self.pool.capacity

    @property
    def stats(self) -> LLMStats:
        """A snapshot of the counters."""
        with self._stats_lock:
            snapshot = LLMStats(**asdict(self._counts))
        snapshot.requests = self.pool.requests
        snapshot.retries = self.pool.retries
        snapshot.failovers = self.pool.failovers
        return snapshot

    @property
    def cache_hits(self) -> int:
        return self._counts.cache_hits

    @property
    def cache_misses(self) -> int:
        return self._counts.cache_misses

    def _count(self, **increments: int) -> None:
        with self._stats_lock:
            for name, n in increments.items():
                setattr(self._counts, name, getattr(self._counts, name) + n)

    # -- embeddings ---------------------------------------------------------------------------

    def embed(
        self, model: str, texts: Sequence[str], *, batch_size: int | None = None
    ) -> list[list[float]]:
        """One vector per text (POST /api/embed in batches, batches spread over the hosts)."""
        if not texts:
            return []
        name = self._model(model)
        num_ctx = self.num_ctx(name)
        size = max(1, batch_size or self._embed_batch_size)
        batches = [list(texts[i : i + size]) for i in range(0, len(texts), size)]

        def one(batch: list[str]) -> list[list[float]]:
            resp, url = self.pool.call(
                f"embed with {name}",
                name,
                lambda c: c.embed(model=name, input=batch, options={"num_ctx": num_ctx}),
            )
            if len(resp.embeddings) != len(batch):
                raise LLMError(
                    f"Ollama at {url} returned {len(resp.embeddings)} embeddings "
                    f"for {len(batch)} texts"
                )
            return [[float(x) for x in vector] for vector in resp.embeddings]

        if len(batches) == 1 or self.capacity == 1:
            return [v for batch in batches for v in one(batch)]
        with ThreadPoolExecutor(min(self.capacity, len(batches))) as pool:
            return [v for vectors in pool.map(one, batches) for v in vectors]

    # -- structured output --------------------------------------------------------------------

    def structured(
        self,
        reply_model: type[T],
        *,
        prompt_id: str,
        prompt_version: str,
        system: str | None = None,
        user: str | None = None,
        messages: Sequence[Mapping[str, str]] | None = None,
        model: str | None = None,
        num_predict: int | None = None,
        temperature: float = 0.0,
        seed: int = DEFAULT_SEED,
        options: Mapping[str, Any] | None = None,
        use_cache: bool | None = None,
        schema: Mapping[str, Any] | None = None,
        affinity: str | None = None,
        prefix: int = 0,
    ) -> Structured[T]:
        """Ask for a reply shaped like `reply_model`, validated, cached and accounted for.

        `schema`: the JSON schema sent as `format` when it is narrower than `reply_model`'s (an
        `enum` of the ids that may be cited), enforced by the server's grammar. `affinity`: what
        the call is about (an article): such calls go to one host, whose cache keeps its prompt.
        `prefix`: how many leading messages other calls send too (the server may have read them
        already, and then counts only the rest in prompt_eval_count).
        Raises ContextOverflow (nothing sent) when the prompt does not fit the budget, InvalidReply
        when the reply is still invalid after one repair retry, OutputTruncated when it stays cut
        with nothing whole in it.
        """
        started = time.perf_counter()
        base = _build_messages(system, user, messages)
        name = self._model(model)
        schema = dict(schema) if schema is not None else json_schema(reply_model)
        digest = self.model_digest(name)
        budget = self.budget(name, num_predict)
        estimate = estimate_messages(base)
        if not budget.fits(estimate):
            at_max = budget.num_ctx >= budget.context_length
            raise ContextOverflow(
                f"the {prompt_id} prompt needs about {estimate} tokens but {name} has room for "
                f"{budget.prompt_tokens} (num_ctx {budget.num_ctx} minus {budget.num_predict} "
                "reserved for the reply); it was not sent",
                estimate=estimate,
                budget=budget.prompt_tokens,
                num_ctx=budget.num_ctx,
                hint="split the input"
                + ("" if at_max else ", or raise SUMMARIZER_NUM_CTX if memory allows"),
            )
        # Caller options first: num_ctx and the sampling settings are this layer's to set.
        opts: dict[str, Any] = {
            "repeat_penalty": REPEAT_PENALTY,
            "repeat_last_n": REPEAT_LAST_N,
            **(options or {}),
            "num_ctx": budget.num_ctx,
            "num_predict": budget.num_predict,
            "temperature": temperature,
            "seed": seed,
        }
        record = CallRecord(
            model=name,
            digest=digest,
            prompt_id=prompt_id,
            prompt_version=prompt_version,
            num_ctx=budget.num_ctx,
            num_predict=budget.num_predict,
            estimated_prompt_tokens=estimate,
        )
        # --no-cache means "do not read the cache": the fresh reply is still stored, so that the
        # next plain run gives it (not the older one).
        reading = self.settings.use_cache if use_cache is None else use_cache
        key = cache_key(
            digest=digest,
            prompt_id=prompt_id,
            prompt_version=prompt_version,
            options=opts,
            messages=base,
            schema=schema,
        )
        cached = self._from_cache(key, reply_model, started) if reading else None
        if cached is not None:
            return cached
        # Overheads aside: what the server must count at least, whatever its template adds - of
        # the messages after a prefix that other calls share (it may have them in its cache).
        text_estimate = sum(estimate_tokens(m["content"]) for m in base[prefix:])
        reply, content = self._ask(
            reply_model, base, schema, opts, budget, record, text_estimate, affinity
        )
        record.wall_seconds = time.perf_counter() - started
        try:
            self.cache.put(
                key,
                model=name,
                digest=digest,
                prompt_id=prompt_id,
                prompt_version=prompt_version,
                content=content,
                record=record.as_dict(),
            )
        except LLMCacheError:
            if reading:
                raise
            # With --no-cache (the way round a broken cache file) storing is only a courtesy.
        return Structured(reply=reply, content=content, record=record)

    def _from_cache(self, key: str, reply_model: type[T], started: float) -> Structured[T] | None:
        hit = self.cache.get(key)
        reply = None
        if hit is not None:
            try:
                reply = parse_reply(reply_model, hit.content)
            except ValidationError:
                # Stored under a key that covers the schema, so only a changed validator gets here.
                reply = None
        if hit is None or reply is None:
            self._count(cache_misses=1)
            return None
        self._count(cache_hits=1)
        record = CallRecord.from_dict(hit.record)
        record.cache_hit = True
        record.host = None
        record.attempts = 0
        record.wall_seconds = time.perf_counter() - started
        return Structured(reply=reply, content=hit.content, record=record)

    def _ask(
        self,
        reply_model: type[T],
        base: list[dict[str, str]],
        schema: dict[str, Any],
        opts: dict[str, Any],
        budget: Budget,
        record: CallRecord,
        text_estimate: int,
        affinity: str | None = None,
    ) -> tuple[T, str]:
        """Chat until a complete, schema-valid reply: one repair retry, one retry with another
        seed for a reply that loops, and more room for one cut while still making progress."""
        conversation = list(base)
        num_predict = budget.num_predict
        repaired = reseeded = checked = False
        grown = 0
        while True:
            options = {**opts, "num_predict": num_predict}
            got = self._chat(record, conversation, schema, options, affinity)
            if not checked and got.stopped is None:
                # The first reply read to its end (one stopped as a loop has no counts). Later
                # attempts re-send a prefix Ollama may serve from its prompt cache, which lowers
                # prompt_eval_count without any truncation: for them only a full window counts.
                checked = True
                estimate = text_estimate if record.attempts == 1 else 0
                self._check_truncation(record, got.prompt_tokens, estimate)
            content = got.content
            loop = got.stopped
            cut = got.done_reason == "length"
            if loop is None and cut and not stream.making_progress(content, got.prompt):
                loop = f"cut at {num_predict} tokens while saying the same things again"
            if loop is not None:
                record.degenerate += 1
                self._count(degenerate_replies=1, degenerate_tokens=got.output_tokens)
                if reseeded:
                    return _in_full(
                        record, reply_model, content,
                        f"{record.model} repeated itself in both replies ({loop}): what it wrote "
                        "before the loop is used",
                        DegenerateReply(
                            f"{record.model} repeated itself in both replies to the "
                            f"{record.prompt} prompt ({loop}; stopped after "
                            f"{got.output_tokens} tokens)",
                            hint="run again, or try a larger model with --model",
                        ),
                    )  # fmt: skip
                reseeded = True
                record.warnings.append(
                    f"reply stopped after {got.output_tokens} tokens: {loop}; "
                    "asked again with another seed, warmer"
                )
                # At temperature 0 decoding is greedy and a seed changes nothing: the retry
                # samples (and damps repetition more), or it would only loop again.
                opts = {
                    **opts,
                    "seed": int(opts.get("seed", DEFAULT_SEED)) + 1,
                    "temperature": max(float(opts.get("temperature", 0.0)), RETRY_TEMPERATURE),
                    "repeat_penalty": max(float(opts.get("repeat_penalty", 1.0)), 1.2),
                }
                continue
            if got.done_reason == "length":
                room = budget.num_ctx - estimate_messages(conversation)
                larger = min(num_predict * 2, room)
                if grown < MAX_GROWTH and larger > num_predict:
                    grown += 1
                    record.warnings.append(
                        f"reply cut at {num_predict} output tokens; asked again with {larger}"
                    )
                    num_predict = larger
                    continue
                return _in_full(
                    record, reply_model, content,
                    f"reply cut at {num_predict} output tokens with no room for more: what it "
                    "wrote in full before the cut is used",
                    OutputTruncated(
                        f"{record.model}'s reply to {record.prompt} was cut at {num_predict} "
                        f"output tokens (done_reason length) and num_ctx {budget.num_ctx} has "
                        "no room for a longer one",
                        hint="shorten the input, or raise SUMMARIZER_NUM_CTX if memory allows",
                    ),
                )  # fmt: skip
            try:
                return parse_reply(reply_model, content), content
            except ValidationError as e:
                problems = describe_validation_error(e)
                if repaired:
                    raise InvalidReply(
                        f"{record.model} twice replied to {record.prompt} with output that does "
                        f"not match the schema: {problems}",
                        hint="run again, or try a larger model with --model",
                    ) from None
                repaired = True
                record.warnings.append(f"reply rejected and retried: {problems}")
                conversation = self._repair(base, content, problems, schema, budget, record)

    def _chat(
        self,
        record: CallRecord,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        options: dict[str, Any],
        affinity: str | None = None,
    ) -> stream.Streamed:
        """One chat request, streamed: stopped early when it loops; a read timeout counts from
        the last token received."""
        name = record.model
        what = record.prompt
        given = "\n".join(m["content"] for m in messages if m["role"] != "assistant")
        got, url = self.pool.call(
            f"chat with {name}",
            name,
            lambda c: stream.read(
                c.chat(model=name, messages=messages, format=schema, options=options, stream=True),
                what,
                name,
                given,
                record.estimated_prompt_tokens,
            ),
            affinity=affinity,
        )
        self._count(chat_calls=1, prompt_tokens=got.prompt_tokens, output_tokens=got.output_tokens)
        record.attempts += 1
        record.host = url
        record.done_reason = "repeat" if got.stopped else got.done_reason
        record.prompt_eval_count += got.prompt_tokens
        record.eval_count += got.output_tokens
        for field in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
            setattr(record, f"{field}_ns", getattr(record, f"{field}_ns") + got.counter(field))
        return got

    def _check_truncation(
        self, record: CallRecord, prompt_eval_count: int, text_estimate: int
    ) -> None:
        warning = truncation_warning(prompt_eval_count, text_estimate, record.num_ctx)
        if warning is None:
            return
        record.truncated = True
        record.warnings.append(warning)
        if self._on_truncation == "error":
            raise PromptTruncated(
                f"{record.model} did not read the whole {record.prompt_id} prompt: {warning}",
                hint="split the input, or raise SUMMARIZER_NUM_CTX",
            )
        log.warning("%s %s: %s", record.model, record.prompt_id, warning)

    def _repair(
        self,
        base: list[dict[str, str]],
        bad: str,
        problems: str,
        schema: dict[str, Any],
        budget: Budget,
        record: CallRecord,
    ) -> list[dict[str, str]]:
        """The conversation for the one retry: what was wrong, as much context as fits."""
        echo = bad if len(bad) <= REPAIR_ECHO_CHARS else bad[:REPAIR_ECHO_CHARS] + " …"
        says = f"Your previous reply was rejected: {problems}."
        ask = "Reply again with only a JSON object that matches the schema, and no other text."
        spec = f"The schema is: {json.dumps(schema, separators=(',', ':'))}"
        for with_echo, with_spec in ((True, True), (False, True), (False, False)):
            extra = [{"role": "assistant", "content": echo}] if with_echo else []
            text = " ".join([says, ask] + ([spec] if with_spec else []))
            conversation = [*base, *extra, {"role": "user", "content": text}]
            if budget.fits(estimate_messages(conversation)):
                return conversation
        raise InvalidReply(
            f"{record.model} replied to {record.prompt} with output "
            f"that does not match the schema ({problems}), and there is no room to ask again",
            hint="split the input",
        )


def _build_messages(
    system: str | None, user: str | None, messages: Sequence[Mapping[str, str]] | None
) -> list[dict[str, str]]:
    built = [{"role": "system", "content": system}] if system else []
    built += [{"role": m["role"], "content": m.get("content", "")} for m in messages or []]
    if user is not None:
        built.append({"role": "user", "content": user})
    if not built:
        raise ConfigError("a model call needs at least one message")
    return built


def _in_full(
    record: CallRecord, reply_model: type[T], content: str, warning: str, error: Exception
) -> tuple[T, str]:
    """What a reply that cannot be had whole said in full before it went wrong, with `warning`
    noted; `error` raised when nothing of it is whole."""
    whole = salvaged(reply_model, content)
    if whole is None:
        raise error
    record.warnings.append(warning)
    return whole
