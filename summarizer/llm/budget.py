"""Pure: how many tokens a prompt needs and how many a model's request may use.

No network and no heavy imports, so code that plans windows of segments can use it freely.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The model's trained maximum is often 128k tokens; asking Ollama for that allocates a KV cache of
# many GB on every load. Unless SUMMARIZER_NUM_CTX says otherwise, requests use at most this much.
DEFAULT_NUM_CTX = 8192
# Ollama's own default when a model does not report a context length.
FALLBACK_CONTEXT_LENGTH = 2048
MAX_NUM_PREDICT = 1024
MIN_NUM_PREDICT = 128
# Role headers and the chat template add tokens the message text does not show.
MESSAGE_OVERHEAD = 8
TEMPLATE_OVERHEAD = 16
# Below this share of the estimate, prompt_eval_count means the server dropped part of the prompt.
# Real tokenizers on news prose give 0.6-0.9 of the (deliberately high) estimate.
TRUNCATION_RATIO = 0.35
TRUNCATION_MIN_ESTIMATE = 64


def estimate_tokens(text: str) -> int:
    """A deliberately high token count for `text`; real tokenizers give fewer on news prose."""
    # ~4 ASCII characters per token in practice, counted as 3; digits and non-ASCII characters
    # (accents, other scripts) often cost a token each, so they are counted as one.
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    digits = sum(text.count(d) for d in "0123456789")
    return math.ceil((len(text) - non_ascii - digits) / 3) + digits + non_ascii


def estimate_messages(messages: Sequence[Mapping[str, str]]) -> int:
    """Estimated prompt tokens of a chat: every message plus the template around it."""
    return TEMPLATE_OVERHEAD + sum(
        estimate_tokens(m.get("content", "")) + MESSAGE_OVERHEAD for m in messages
    )


def default_num_predict(num_ctx: int) -> int:
    """Output tokens reserved when the caller does not say: a quarter of the window, 128-1024."""
    return max(MIN_NUM_PREDICT, min(MAX_NUM_PREDICT, num_ctx // 4))


def context_length_from_info(model_info: Mapping[str, Any]) -> int | None:
    """The trained context length from /api/show's model_info (`<arch>.context_length`)."""
    arch = model_info.get("general.architecture")
    value = model_info.get(f"{arch}.context_length") if arch else None
    if value is None:
        value = next((v for k, v in model_info.items() if k.endswith(".context_length")), None)
    return int(value) if isinstance(value, int | float) and value > 0 else None


def truncation_warning(prompt_eval_count: int, estimate: int, num_ctx: int) -> str | None:
    """Why a reply's prompt_eval_count says the server cut the prompt, or None.

    `estimate` is estimate_tokens() of the messages' text alone, without template overheads.
    """
    if num_ctx > 0 and prompt_eval_count >= num_ctx * 0.98:
        return (
            f"the prompt filled the whole context window (prompt_eval_count {prompt_eval_count} "
            f"of num_ctx {num_ctx}): Ollama probably dropped its beginning"
        )
    if estimate >= TRUNCATION_MIN_ESTIMATE and prompt_eval_count < estimate * TRUNCATION_RATIO:
        return (
            f"prompt_eval_count {prompt_eval_count} is far below the ~{estimate} tokens sent: "
            "the server probably dropped the beginning of the prompt (or served it from its "
            "prompt cache)"
        )
    return None


@dataclass(frozen=True)
class Budget:
    """How many tokens a model's requests may use: num_ctx, minus what is reserved for the reply."""

    model: str
    context_length: int
    num_ctx: int
    num_predict: int

    @property
    def prompt_tokens(self) -> int:
        return self.num_ctx - self.num_predict

    def fits(self, estimate: int) -> bool:
        return estimate <= self.prompt_tokens

    def fits_messages(self, messages: Sequence[Mapping[str, str]]) -> bool:
        return self.fits(estimate_messages(messages))
