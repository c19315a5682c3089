"""Ollama hosts: one client each, bounded requests in flight, failover, retries, one-line errors."""

from __future__ import annotations

import ipaddress
import json
import random
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import httpx
from pydantic import ValidationError

from summarizer.errors import (
    ConfigError,
    LLMError,
    LLMServerError,
    LLMTimeout,
    ModelNotFound,
    OllamaUnreachable,
    one_line,
)
from summarizer.llm._ollama import ollama
from summarizer.llm.stream import bounded_replies

R = TypeVar("R")

DEFAULT_PORT = 11434
MAX_TIMEOUT_RETRIES = 1
# Articles whose host is remembered (their calls go to it), at most: the most recent are kept.
MAX_STICKY = 4096
START_HINT = "start it with `ollama serve`, or point OLLAMA_HOST / --ollama-host at a server"


UNRESOLVED = "the host name does not resolve"

DEFAULT_URLS = (f"http://127.0.0.1:{DEFAULT_PORT}", f"http://localhost:{DEFAULT_PORT}")


def pull_command(model: str, url: str) -> str:
    """The exact command that pulls `model` onto the host at `url`."""
    prefix = "" if url in DEFAULT_URLS else f"OLLAMA_HOST={url} "
    return f"{prefix}ollama pull {model}"


def host_url(raw: str) -> str:
    """`host`, `:port`, `host:port` or a URL -> `scheme://host:port[/path]`, as ollama reads it."""
    raw = raw.strip()
    port = DEFAULT_PORT
    scheme, sep, rest = raw.partition("://")
    if not sep:
        scheme, rest = "http", raw
    elif scheme == "http":
        port = 80
    elif scheme == "https":
        port = 443
    split = urllib.parse.urlsplit(f"{scheme}://{rest}")
    host = split.hostname or "127.0.0.1"
    try:
        port = split.port or port
    except ValueError:
        raise ConfigError(f"Ollama host {raw!r} has an invalid port") from None
    try:
        if isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address):
            host = f"[{host}]"
    except ValueError:
        pass
    path = split.path.strip("/")
    return f"{scheme}://{host}:{port}" + (f"/{path}" if path else "")


def is_loopback(url: str) -> bool:
    """True for localhost and loopback addresses, which never go through an HTTP proxy."""
    host = (urllib.parse.urlsplit(url).hostname or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def canonical_model(name: str) -> str:
    """`llama3.2` -> `llama3.2:latest`, the way /api/tags names models."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _pick(affinity: str, hosts: int) -> int:
    """The place among `hosts` hosts for `affinity`, the same in every process."""
    import hashlib

    digest = hashlib.blake2b(affinity.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % hosts


def _unresolved(error: BaseException) -> bool:
    """Whether a connect error (or the httpx error ollama wrapped) is a failed name lookup."""
    for e in (error, error.__cause__, error.__context__):
        text = str(e or "")
        if "Name or service not known" in text or "nodename nor servname" in text:
            return True
        if "Temporary failure in name resolution" in text or "getaddrinfo" in text:
            return True
    return False


class _Host:
    """One Ollama server: its client and the bookkeeping that bounds and routes requests."""

    def __init__(self, url: str, client: ollama.Client) -> None:
        self.url = url
        self.client = client
        self.in_flight = 0
        self.served = 0
        self.down_until = 0.0


@dataclass
class _Failure:
    kind: Literal["unreachable", "timeout", "server", "transport"]
    host: str
    detail: str
    status: int | None = None


class HostPool:
    """Runs client calls on the hosts: `parallel` in flight per host, failover, retries."""

    def __init__(
        self,
        hosts: Sequence[str],
        *,
        parallel: int,
        connect_timeout: float,
        read_timeout: float,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        down_for: float = 10.0,
    ) -> None:
        if not hosts:
            raise ConfigError("no Ollama host configured", hint="set OLLAMA_HOST or --ollama-host")
        if parallel < 1:
            raise ConfigError(f"--parallel must be at least 1, not {parallel}")
        self.parallel = parallel
        self.read_timeout = read_timeout
        self._retries = max(0, retries)
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._down_for = down_for
        # Never ollama's default (no timeout at all): a hung server must not hang the tool.
        timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        # Like Ollama's own CLI (Go's ProxyFromEnvironment), loopback hosts bypass HTTP_PROXY.
        self._hosts = [
            _Host(
                url,
                ollama.Client(
                    host=url,
                    timeout=timeout,
                    trust_env=not is_loopback(url),
                    event_hooks={"response": [bounded_replies(read_timeout)]},
                ),
            )
            for url in dict.fromkeys(host_url(h) for h in hosts)
        ]
        self._cond = threading.Condition()
        # model -> hosts that answered 404 for it: calls for that model go to the other hosts.
        self._lacking: dict[str, set[str]] = {}
        # affinity (an article) -> the host its calls go to, the most recent last.
        self._sticky: OrderedDict[str, str] = OrderedDict()
        self.requests = 0
        self.retries = 0
        self.failovers = 0

    @property
    def urls(self) -> list[str]:
        return [h.url for h in self._hosts]

    @property
    def capacity(self) -> int:
        return self.parallel * len(self._hosts)

    def close(self) -> None:
        for host in self._hosts:
            host.client.close()  # type: ignore[no-untyped-call]  # ollama leaves close() untyped

    def _acquire(self, avoid: set[str], model: str | None, affinity: str | None = None) -> _Host:
        """A host with a free slot, preferring ones that are up and not yet tried for this call,
        and for an `affinity` the host its earlier calls went to (waiting for its slot).

        Hosts known to lack `model` are never chosen; ModelNotFound when that is all of them.
        """
        with self._cond:
            while True:
                lacking = self._lacking.get(model or "", set())
                candidates = [h for h in self._hosts if h.url not in lacking]
                if not candidates:
                    raise self._model_not_found(model or "", lacking)
                now = time.monotonic()
                up = [h for h in candidates if h.down_until <= now]
                fresh = [h for h in up if h.url not in avoid]
                untried = [h for h in candidates if h.url not in avoid]
                pool = fresh or up or untried or candidates
                if affinity is not None:
                    # Its host from earlier calls. For its first call, the one its name picks
                    # among all the pool's hosts (the same in every process, so a later command
                    # finds the article in that host's cache too) when that one has room; else
                    # any with room: waiting for one host while another idles would make the
                    # busiest host's share of articles the time of a whole batch.
                    sticky = self._sticky.get(affinity)
                    picked = self._hosts[_pick(affinity, len(self._hosts))]
                    if sticky is None and picked.in_flight < self.parallel:
                        sticky = picked.url
                    if any(h.url == sticky for h in fresh):
                        pool = [h for h in fresh if h.url == sticky]
                free = [h for h in pool if h.in_flight < self.parallel]
                if free:
                    host = min(free, key=lambda h: (h.in_flight, h.served))
                    host.in_flight += 1
                    host.served += 1
                    self.requests += 1
                    if affinity is not None:
                        self._sticky[affinity] = host.url
                        self._sticky.move_to_end(affinity)
                        if len(self._sticky) > MAX_STICKY:
                            self._sticky.popitem(last=False)
                    return host
                # Woken by a release; the timeout re-reads down marks that expire meanwhile.
                self._cond.wait(timeout=0.25)

    def _release(self, host: _Host, *, down: bool | None) -> None:
        with self._cond:
            host.in_flight -= 1
            if down is not None:
                host.down_until = time.monotonic() + self._down_for if down else 0.0
            self._cond.notify_all()

    def _other_host_ready(self, tried: set[str], model: str | None) -> bool:
        now = time.monotonic()
        with self._cond:
            lacking = self._lacking.get(model or "", set())
            return any(
                h.url not in tried and h.url not in lacking and h.down_until <= now
                for h in self._hosts
            )

    def _model_not_found(self, model: str, lacking: set[str]) -> ModelNotFound:
        urls = [url for url in self.urls if url in lacking]
        where = f"any of {', '.join(urls)}" if len(urls) > 1 else urls[0]
        pulls = " or ".join(f"`{pull_command(model, url)}`" for url in urls)
        return ModelNotFound(
            f'model "{model}" is not pulled on {where}', hint=f"pull it with {pulls}"
        )

    def call(
        self,
        what: str,
        model: str | None,
        fn: Callable[[ollama.Client], R],
        *,
        affinity: str | None = None,
    ) -> tuple[R, str]:
        """fn(client) on some host, retried with backoff on connection errors, timeouts and 5xx.
        Calls with the same `affinity` go to the host the first of them went to while it is up
        (one article's calls: its prompt prefix stays in that host's cache).

        Returns the result and the host that served it. A 404 for `model` sends the call (and
        later ones for that model) to the other hosts; once no host has it, ModelNotFound with
        the pull commands. Other 4xx are an LLMError, all without a retry. A timeout is retried
        once, hosts that all refuse connections get one more round.
        """
        tried: set[str] = set()
        failure: _Failure | None = None
        previous: str | None = None
        sleeps = timeouts = refused_rounds = attempt = 0
        while attempt <= self._retries:
            host = self._acquire(tried, model, affinity)
            if attempt:
                with self._cond:
                    self.retries += 1
                    self.failovers += host.url != previous
            previous = host.url
            tried.add(host.url)
            down: bool | None = None
            try:
                result = fn(host.client)
                down = False
                return result, host.url
            except ollama.ResponseError as e:
                status = e.status_code
                if status == 404 and model is not None:
                    with self._cond:
                        self._lacking.setdefault(model, set()).add(host.url)
                    continue  # the next _acquire picks a host that may have it, or raises
                if 400 <= status < 500:
                    raise LLMError(
                        f"Ollama at {host.url} refused the {what} request: "
                        f"{one_line(e.error)} (HTTP {status})"
                    ) from None
                failure = _Failure("server", host.url, one_line(e.error), status)
            except (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout) as e:
                down = True
                slow = isinstance(e, httpx.TimeoutException)
                detail = "connect timed out" if slow else "connection refused"
                if _unresolved(e):
                    detail = UNRESOLVED
                failure = _Failure("unreachable", host.url, detail)
            except httpx.TimeoutException:
                failure = _Failure("timeout", host.url, "read timeout")
            except httpx.TransportError as e:
                failure = _Failure("transport", host.url, one_line(str(e) or type(e).__name__))
            except (ValidationError, json.JSONDecodeError) as e:
                raise LLMError(
                    f"Ollama at {host.url} sent an unexpected reply to the {what} request: "
                    f"{one_line(str(e), 160)}"
                ) from None
            finally:
                self._release(host, down=down)
            attempt += 1
            other_ready = self._other_host_ready(tried, model)
            if failure.kind == "timeout":
                # Each timeout costs a whole read timeout (minutes on a slow machine): once more.
                timeouts += 1
                if timeouts > MAX_TIMEOUT_RETRIES:
                    break
            if failure.kind == "unreachable" and not other_ready:
                # Every host refused: worth one more round after a pause (a restarting server),
                # not a minute of retries before telling the user to start it.
                refused_rounds += 1
                if refused_rounds > 1:
                    break
            if attempt <= self._retries and not other_ready:
                # Failing over to a host not tried yet needs no wait; retrying the same one does.
                delay = min(self._max_backoff, self._backoff * 2**sleeps)
                sleeps += 1
                time.sleep(delay * (1 + random.random() / 4))
        assert failure is not None
        raise self._translate(failure, what, tried, attempts=attempt)

    def _translate(self, failure: _Failure, what: str, tried: set[str], attempts: int) -> LLMError:
        tries = f"{attempts} attempt{'s' * (attempts > 1)}"
        if failure.kind == "unreachable":
            where = ", ".join(url for url in self.urls if url in tried)
            where = f"any of {where}" if len(tried) > 1 else where
            unresolved = failure.detail == UNRESOLVED
            return OllamaUnreachable(
                f"Ollama is not reachable at {where} ({failure.detail}, {tries})",
                hint="check the host name in OLLAMA_HOST / --ollama-host"
                if unresolved
                else START_HINT,
                retryable=True,
            )
        if failure.kind == "timeout":
            return LLMTimeout(
                f"Ollama at {failure.host} did not answer the {what} request within "
                f"{self.read_timeout:g} s ({tries})",
                hint="a slow machine may need a larger SUMMARIZER_READ_TIMEOUT, or a smaller model",
                retryable=True,
            )
        status = f"HTTP {failure.status}: " if failure.status and failure.status > 0 else ""
        return LLMServerError(
            f"Ollama at {failure.host} failed the {what} request "
            f"({status}{failure.detail}; {tries})",
            hint="the Ollama server log says why",
            retryable=True,
        )
