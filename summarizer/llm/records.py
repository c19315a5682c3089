"""What a model call returns and costs: the validated reply, the record stored with every
output, the layer's counters, and the JSON schema sent as Ollama's `format`."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from summarizer.errors import one_line

T = TypeVar("T", bound=BaseModel)


@dataclass
class CallRecord:
    """What one structured call cost and where it came from; stored with every output.

    Token counts and durations add up over every request of the call (repairs, retries with more
    room); on a cache hit they are those of the call that produced the reply, and attempts is 0.
    """

    model: str
    digest: str
    prompt_id: str
    prompt_version: str
    cache_hit: bool = False
    host: str | None = None
    # Chat requests sent for this call; warnings say why there was more than one.
    attempts: int = 0
    num_ctx: int = 0
    num_predict: int = 0
    estimated_prompt_tokens: int = 0
    prompt_eval_count: int = 0
    eval_count: int = 0
    total_duration_ns: int = 0
    load_duration_ns: int = 0
    prompt_eval_duration_ns: int = 0
    eval_duration_ns: int = 0
    wall_seconds: float = 0.0
    done_reason: str | None = None
    truncated: bool = False
    # Replies stopped because they repeated themselves (or were cut while doing so).
    degenerate: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def prompt(self) -> str:
        """How messages name the call's prompt: "summarize.v2"."""
        return prompt_name(self.prompt_id, self.prompt_version)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Structured(Generic[T]):
    """A validated reply, the JSON text it came from, and the record of the call."""

    reply: T
    content: str
    record: CallRecord


@dataclass
class LLMStats:
    """Counters over the life of one Ollama object."""

    requests: int = 0
    retries: int = 0
    failovers: int = 0
    chat_calls: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0
    degenerate_replies: int = 0  # stopped early as loops, or cut while looping
    degenerate_tokens: int = 0  # output tokens those replies had cost when stopped


@functools.lru_cache(maxsize=128)
def _schema_json(reply_model: type[BaseModel]) -> str:
    # Generating a schema costs ~3 ms, more than the rest of a call's client side.
    return json.dumps(reply_model.model_json_schema())


def json_schema(reply_model: type[BaseModel]) -> dict[str, Any]:
    """The reply model's JSON schema, as sent in `format` (a fresh copy each time)."""
    schema: dict[str, Any] = json.loads(_schema_json(reply_model))
    return schema


def describe_validation_error(e: ValidationError) -> str:
    """A short, one-line account of what was wrong with a reply."""
    problems = []
    for err in e.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "reply"
        problems.append(f"{where}: {err['msg']}")
    more = e.error_count() - len(problems)
    return one_line("; ".join(problems) + (f"; and {more} more" if more > 0 else ""))


def prompt_name(prompt_id: str, version: object) -> str:
    """How messages name a prompt: "summarize.v2"."""
    return f"{prompt_id}.v{str(version).removeprefix('v')}"
