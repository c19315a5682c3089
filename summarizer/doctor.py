"""Health checks of the model side: each Ollama host, its version, the models and their context.

Each check is a value (name, ok, detail, fix) so the CLI can print them, add its own (store,
embedder) and exit non-zero with the fixes listed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from summarizer.config import DEFAULT_EMBED_MODEL, Settings
from summarizer.llm import (
    DEFAULT_NUM_CTX,
    START_HINT,
    canonical_model,
    context_length_from_info,
    host_url,
    is_loopback,
    pull_command,
)

# JSON-schema `format` (structured output) arrived in Ollama 0.5.0; older servers ignore it.
MIN_VERSION = (0, 5, 0)
# Doctor answers quickly even when the configured read timeout is generous.
MAX_CHECK_SECONDS = 10.0


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report; `fix` says what to run when `ok` is False."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None


def fixes(checks: Iterable[Check]) -> list[str]:
    """The fixes of the failed checks, each once, in order."""
    return list(dict.fromkeys(c.fix for c in checks if not c.ok and c.fix))


def parse_version(text: str) -> tuple[int, ...] | None:
    """`0.12.6` (or `0.5.0-rc1`) -> (0, 12, 6); None when it is not a version."""
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if not match:
        return None
    return tuple(int(g or 0) for g in match.groups())


def check_ollama(settings: Settings) -> list[Check]:
    """Each Ollama host (reachable, version), and the chat and embedding models on each."""
    urls = list(dict.fromkeys(host_url(h) for h in settings.ollama_hosts))
    read = min(settings.read_timeout, MAX_CHECK_SECONDS)
    timeout = httpx.Timeout(read, connect=min(settings.connect_timeout, MAX_CHECK_SECONDS))
    models = [("chat model", settings.model, False)]
    if settings.embedder.startswith("ollama:"):
        models.append(("embedding model", settings.embedder.split(":", 1)[1], True))
    checks: list[Check] = []
    reachable: list[tuple[str, httpx.Client]] = []
    clients = [
        httpx.Client(base_url=u, timeout=timeout, trust_env=not is_loopback(u)) for u in urls
    ]
    try:
        for url, client in zip(urls, clients, strict=True):
            check, answered = _check_host(client, url, read)
            checks.append(check)
            if answered:
                reachable.append((url, client))
        for label, model, embedding in models:
            if not reachable:
                checks.append(
                    Check(f"{label} {model}", False, "not checked: no Ollama host is reachable")
                )
            for url, client in reachable:
                name = f"{label} {model}" + (f" on {url}" if len(urls) > 1 else "")
                checks.append(_check_model(client, url, name, model, embedding, settings))
    finally:
        for client in clients:
            client.close()
    return checks


def _get_json(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    response = client.request(method, path, **kwargs)
    response.raise_for_status()
    return response.json()


def _check_host(client: httpx.Client, url: str, read: float) -> tuple[Check, bool]:
    """The host's check, and whether it answered like Ollama (so its models can be checked)."""
    name = f"ollama at {url}"
    try:
        version = str(_get_json(client, "GET", "/api/version").get("version", ""))
    except httpx.ConnectTimeout:
        return Check(name, False, "no answer to connect", START_HINT), False
    except httpx.ConnectError:
        return Check(name, False, "not reachable (connection refused)", START_HINT), False
    except httpx.TimeoutException:
        return Check(name, False, f"connected, but no answer within {read:g} s", START_HINT), False
    except httpx.HTTPStatusError as e:
        status = e.response.status_code
        detail = f"answered HTTP {status} to /api/version: not Ollama?"
        return Check(name, False, detail, START_HINT), False
    except (httpx.HTTPError, ValueError, AttributeError):
        return Check(name, False, "answered, but not like an Ollama server", START_HINT), False
    parsed = parse_version(version)
    if parsed is not None and parsed != (0, 0, 0) and parsed < MIN_VERSION:
        wanted = ".".join(map(str, MIN_VERSION))
        detail = f"version {version}: structured output needs {wanted} or newer"
        return Check(name, False, detail, "upgrade Ollama (https://ollama.com/download)"), True
    return Check(name, True, f"version {version or 'unknown'}"), True


def _check_model(
    client: httpx.Client, url: str, name: str, model: str, embedding: bool, settings: Settings
) -> Check:
    pull = pull_command(model, url)
    try:
        tags = _get_json(client, "GET", "/api/tags").get("models") or []
        wanted = canonical_model(model)
        entry = next(
            (m for m in tags if canonical_model(str(m.get("model") or m.get("name"))) == wanted),
            None,
        )
        if entry is None:
            return Check(name, False, f"not pulled on {url}", pull)
        show = _get_json(client, "POST", "/api/show", json={"model": model})
    except httpx.HTTPStatusError as e:
        if e.response.status_code == 404:
            return Check(name, False, f"not pulled on {url}", pull)
        return Check(name, False, f"{url} answered HTTP {e.response.status_code}", START_HINT)
    except (httpx.HTTPError, ValueError, AttributeError) as e:
        return Check(name, False, f"{url} failed to describe it ({type(e).__name__})", START_HINT)
    capabilities = show.get("capabilities") or []
    if embedding and capabilities and "embedding" not in capabilities:
        return Check(
            name,
            False,
            f"is not an embedding model (it can: {', '.join(capabilities)})",
            f"use an embedding model, e.g. --embedder ollama:{DEFAULT_EMBED_MODEL}",
        )
    if not embedding and capabilities and "completion" not in capabilities:
        return Check(
            name,
            False,
            f"cannot generate text (it can: {', '.join(capabilities)})",
            "choose a chat model with --model or SUMMARIZER_MODEL",
        )
    length = context_length_from_info(show.get("model_info") or {})
    digest = str(entry.get("digest") or "")[:12]
    if length is None:
        context = "context length not reported"
    else:
        num_ctx = min(length, settings.num_ctx_cap or DEFAULT_NUM_CTX)
        context = f"context {length} tokens, requests use num_ctx {num_ctx}"
    return Check(name, True, f"pulled (digest {digest}); {context}")


def check_store(settings: Settings) -> list[Check]:
    """The data dir, the vector store (embedded or server), and the embedder it was built with."""
    from summarizer.corpus import MINILM, Corpus, canonical_name, minilm_available, minilm_model_dir
    from summarizer.errors import SummarizerError

    checks: list[Check] = []
    try:
        configured = canonical_name(settings.embedder)
    except SummarizerError as e:
        return [Check("embedder", False, e.message, e.hint)]
    try:
        corpus = Corpus(settings)
    except SummarizerError as e:
        return [Check(f"catalog {settings.catalog_where}", False, e.message, e.hint)]
    try:
        n = corpus.catalog.count()
        checks.append(Check(f"catalog {settings.catalog_where}", True, f"{n} articles"))
        where = corpus.vectors.where
        collection = corpus.collection_name()
        try:
            corpus.vectors.client.heartbeat()
            if collection is not None and n:
                count = corpus.vectors.count(collection)
                detail = f"reachable; {count} chunks in {collection}"
            else:
                detail = "reachable; nothing stored yet"
            checks.append(Check(f"vector store {where}", True, detail))
        except SummarizerError as e:
            checks.append(Check(f"vector store {where}", False, e.message, e.hint))
        recorded = corpus.recorded_embedder()
        try:
            corpus.check_embedder(configured)
            built = f"; the corpus uses it ({recorded[1]}-d)" if recorded and n else ""
            checks.append(Check(f"embedder {configured}", True, f"configured{built}"))
        except SummarizerError as e:
            checks.append(Check(f"embedder {configured}", False, e.message, e.hint))
    finally:
        corpus.close()
    if configured == MINILM:
        if minilm_available():
            checks.append(Check("MiniLM model", True, f"in {minilm_model_dir()}"))
        else:
            checks.append(
                Check(
                    "MiniLM model",
                    False,
                    f"not in {minilm_model_dir()}: Chroma downloads it on first use",
                    "run `summarizer ingest` once with internet access, or use "
                    f"--embedder ollama:{DEFAULT_EMBED_MODEL}",
                )
            )
    return checks
