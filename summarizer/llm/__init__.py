"""The model layer: the tool's only way to a model served by Ollama.

One `Ollama` object per command, built from Settings: its own clients with explicit timeouts, one
per host, with failover and a bound on requests in flight (hosts); the token budget of a request,
so that a prompt that would not fit is never sent (budget); validated structured replies with one
repair retry and the record of what each call cost (client, records); what is known of each model
(facts); and the reply cache keyed on the model digest, prompt and input (cache: its interface;
sqlite_cache: the SQLite file of the data dir).

Imported only by the commands that talk to a model, never by the CLI at start-up: the `ollama`,
`httpx` and `pydantic` imports cost nothing to `summarizer --help`, and importing this
package loads each part only when one of its names is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from summarizer.llm.budget import (
        DEFAULT_NUM_CTX,
        Budget,
        context_length_from_info,
        estimate_messages,
        estimate_tokens,
        truncation_warning,
    )
    from summarizer.llm.client import DEFAULT_SEED, REPEAT_LAST_N, REPEAT_PENALTY, Ollama
    from summarizer.llm.hosts import (
        START_HINT,
        canonical_model,
        host_url,
        is_loopback,
        pull_command,
    )
    from summarizer.llm.records import CallRecord, LLMStats, Structured, json_schema
    from summarizer.llm.stream import Activity, stepping, watching

_PARTS = {
    "budget": (
        "DEFAULT_NUM_CTX Budget context_length_from_info estimate_messages estimate_tokens "
        "truncation_warning"
    ),
    "client": "DEFAULT_SEED REPEAT_LAST_N REPEAT_PENALTY Ollama",
    "hosts": "START_HINT canonical_model host_url is_loopback pull_command",
    "records": "CallRecord LLMStats Structured json_schema",
    "stream": "Activity stepping watching",
}
_WHERE = {name: part for part, names in _PARTS.items() for name in names.split()}


def __getattr__(name: str) -> Any:
    part = _WHERE.get(name)
    if part is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{part}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_NUM_CTX",
    "DEFAULT_SEED",
    "REPEAT_LAST_N",
    "REPEAT_PENALTY",
    "START_HINT",
    "Activity",
    "Budget",
    "CallRecord",
    "LLMStats",
    "Ollama",
    "Structured",
    "canonical_model",
    "context_length_from_info",
    "estimate_messages",
    "estimate_tokens",
    "host_url",
    "is_loopback",
    "json_schema",
    "pull_command",
    "stepping",
    "truncation_warning",
    "watching",
]
