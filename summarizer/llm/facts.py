"""What the tool knows of each model: its context length and digest (asked of the server once per
process, and remembered in the reply cache for runs made while no server is reachable), and the
token budget of a request."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from summarizer.config import Settings
from summarizer.errors import ConfigError, OllamaUnreachable
from summarizer.llm._ollama import ollama
from summarizer.llm.budget import (
    DEFAULT_NUM_CTX,
    FALLBACK_CONTEXT_LENGTH,
    Budget,
    context_length_from_info,
    default_num_predict,
)
from summarizer.llm.cache import ReplyCache
from summarizer.llm.hosts import HostPool, canonical_model

log = logging.getLogger(__name__)

V = TypeVar("V")


@dataclass(frozen=True)
class _KnownModel:
    digest: str
    context_length: int


class ModelFacts:
    """The models' context lengths and digests, and request budgets; shared between threads."""

    def __init__(self, settings: Settings, pool: HostPool, cache: ReplyCache) -> None:
        self.settings = settings
        self.pool = pool
        self.cache = cache
        self._meta_lock = threading.Lock()
        self._context_lengths: dict[str, int] = {}
        self._digests: dict[str, str] = {}
        self._offline: set[str] = set()  # models served from what an earlier run remembered

    def _model(self, model: str | None) -> str:
        name = (model or self.settings.model).strip()
        if not name:
            raise ConfigError("no model named", hint="set --model or SUMMARIZER_MODEL")
        return name

    def context_length(self, model: str | None = None) -> int:
        """The model's trained context length (from /api/show), asked once per process."""
        name = self._model(model)

        def ask() -> int:
            show, _ = self.pool.call(f"show {name}", name, lambda c: c.show(name))
            length = context_length_from_info(show.modelinfo or {})
            if length is None:
                log.warning(
                    "%s reports no context length; assuming %d", name, FALLBACK_CONTEXT_LENGTH
                )
            return length or FALLBACK_CONTEXT_LENGTH

        return self._model_fact(name, "context_length", self._context_lengths, ask)

    def model_digest(self, model: str | None = None) -> str:
        """The model's digest from /api/tags; ModelNotFound (with the pull command) if absent.

        A host that lacks the model counts as a 404 for it, so the pool asks the other hosts.
        """
        name = self._model(model)
        wanted = canonical_model(name)

        def digest_on(client: ollama.Client) -> str:
            for m in client.list().models:
                if canonical_model(m.model or "") == wanted:
                    return m.digest or ""
            raise ollama.ResponseError(f"model '{name}' not found", 404)

        def ask() -> str:
            return self.pool.call("list models", name, digest_on)[0]

        return self._model_fact(name, "digest", self._digests, ask)

    def _model_fact(self, name: str, fact: str, known: dict[str, V], ask: Callable[[], V]) -> V:
        """known[name], asked of the server once per process and remembered in the cache;
        while no host is reachable, what an earlier run remembered."""
        with self._meta_lock:
            if name not in known:
                try:
                    known[name] = ask()
                except OllamaUnreachable as e:
                    known[name] = getattr(self._remembered(name, e), fact)
                else:
                    self._remember(name, **{fact: known[name]})
            return known[name]

    def _remember(self, name: str, **facts: Any) -> None:
        if self.settings.use_cache:
            self.cache.remember_model(name, **facts)

    def _remembered(self, name: str, unreachable: OllamaUnreachable) -> _KnownModel:
        """What an earlier run learnt of `name`, so that replies it cached can still be served
        while no host is reachable; without it (or with --no-cache), `unreachable` is raised."""
        known = self.cache.known_model(name) if self.settings.use_cache else None
        if known is None or known[0] is None or known[1] is None:
            raise unreachable
        if name not in self._offline:
            self._offline.add(name)
            seen = time.strftime("%Y-%m-%d %H:%M", time.localtime(known[2]))
            log.warning(
                "warning: %s; only replies cached for %s (as it was on %s) can be given",
                unreachable.message,
                name,
                seen,
            )
        return _KnownModel(known[0], known[1])

    def num_ctx(self, model: str | None = None) -> int:
        """num_ctx sent with every request: the model's length, capped by SUMMARIZER_NUM_CTX."""
        cap = self.settings.num_ctx_cap or DEFAULT_NUM_CTX
        return max(1, min(self.context_length(model), cap))

    def budget(self, model: str | None = None, num_predict: int | None = None) -> Budget:
        """The token budget of a request: plan windows with `budget.prompt_tokens`."""
        name = self._model(model)
        num_ctx = self.num_ctx(name)
        reserve = num_predict if num_predict is not None else default_num_predict(num_ctx)
        if reserve < 1:
            raise ConfigError(f"num_predict must be positive, not {reserve}")
        return Budget(name, self.context_length(name), num_ctx, reserve)

    def fits(
        self,
        prompt: str | Sequence[Mapping[str, str]],
        model: str | None = None,
        num_predict: int | None = None,
    ) -> bool:
        """Whether a prompt (text of one user message, or messages) fits the model's budget."""
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        return self.budget(model, num_predict).fits_messages(messages)
