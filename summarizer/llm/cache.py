"""The reply cache's face: validated model replies by content address (the key covers the model
digest, the prompt id and version, the options and the input), and what was last known of each
model, for runs made while no server is reachable. The SQLite file of the data dir implements it
(sqlite_cache)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

# Bump when the meaning of a key changes, so old entries are never mistaken for new ones.
KEY_VERSION = 1


def _sha256(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_key(
    *,
    digest: str,
    prompt_id: str,
    prompt_version: str,
    options: Mapping[str, Any],
    messages: Sequence[Mapping[str, str]],
    schema: Mapping[str, Any] | None,
) -> str:
    """sha256 over the model digest, prompt id+version, options and a hash of the input."""
    # The schema is part of the input: a changed reply model must never be served an old reply.
    input_hash = _sha256({"messages": [dict(m) for m in messages], "format": schema})
    return _sha256(
        {
            "v": KEY_VERSION,
            "digest": digest,
            "prompt": [prompt_id, prompt_version],
            "options": dict(options),
            "input": input_hash,
        }
    )


@dataclass(frozen=True)
class CachedReply:
    """A reply as stored: the model's JSON text and the record of the call that produced it."""

    content: str
    record: dict[str, Any]


class ReplyCache(Protocol):
    """Content-addressed replies, shared by threads and by runs."""

    def get(self, key: str) -> CachedReply | None:
        """The stored reply for `key`, or None."""
        ...

    def put(
        self,
        key: str,
        *,
        model: str,
        digest: str,
        prompt_id: str,
        prompt_version: str,
        content: str,
        record: Mapping[str, Any],
    ) -> None:
        """Store a validated reply under `key` (replacing any older one)."""
        ...

    def remember_model(
        self, model: str, *, digest: str | None = None, context_length: int | None = None
    ) -> None:
        """Keep what the server said of `model`, for runs made while it is unreachable."""
        ...

    def known_model(self, model: str) -> tuple[str | None, int | None, float] | None:
        """(digest, context length, when seen) as last remembered for `model`, or None."""
        ...

    def __len__(self) -> int: ...

    def close(self) -> None: ...
