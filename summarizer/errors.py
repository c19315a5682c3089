"""One exception hierarchy: every expected failure is a SummarizerError with a one-line message."""

from __future__ import annotations


def one_line(text: object, limit: int = 300) -> str:
    """Whitespace collapsed and length capped: a library's or server's message (or exception,
    by its type when it has no message) as one line."""
    flat = " ".join(str(text).split())
    if not flat and isinstance(text, BaseException):
        flat = type(text).__name__
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class SummarizerError(Exception):
    """An expected failure, shown to the user as one line (plus an optional hint)."""

    def __init__(self, message: str, *, hint: str | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.retryable = retryable

    def __str__(self) -> str:
        return self.message

    def line(self) -> str:
        """The message and, in parentheses, its hint: one line."""
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(SummarizerError):
    """A setting or option has a value the tool cannot use."""


class SourceError(SummarizerError):
    """A file or URL could not be read or fetched."""


class ExtractionError(SummarizerError):
    """A page or file was read but holds no usable article text."""


class EmbedderError(SummarizerError):
    """The configured embedder cannot be loaded or failed to embed."""


class StoreError(SummarizerError):
    """The corpus store (catalog or vector store) cannot be used as asked."""


class DatabaseError(StoreError):
    """The catalog's database failed a read or write (a full disk, a read-only data dir)."""

    def __init__(self, where: str, cause: object) -> None:
        super().__init__(
            f"database: {where}: {cause}", hint="is the disk full, or the data dir read-only?"
        )
        self.cause = str(cause)


class NotFoundError(SummarizerError):
    """An article id or name does not exist in the corpus."""


class LLMError(SummarizerError):
    """A call to the Ollama server failed."""


class OllamaUnreachable(LLMError):
    """No configured Ollama host accepted a connection."""


class ModelNotFound(LLMError):
    """The model is not pulled on the Ollama server."""


class LLMTimeout(LLMError):
    """Ollama accepted the request but did not answer within the read timeout."""


class LLMServerError(LLMError):
    """Ollama kept failing with a server error (HTTP 5xx) through every retry."""


class InvalidReply(LLMError):
    """The model's reply did not match the schema, even after one retry that said what was wrong."""


class DegenerateReply(LLMError):
    """The model repeated itself (the same words again and again) in a reply and its retry."""


class OutputTruncated(LLMError):
    """The model's reply was cut at num_predict and the context had no room for a longer one."""


class PromptTruncated(LLMError):
    """The server used far fewer prompt tokens than were sent: it cut the prompt."""


class LLMCacheError(LLMError):
    """The reply cache file cannot be opened, read or written."""


class ContextOverflow(LLMError):
    """A prompt would not fit the model's context budget, so it was not sent: split the work."""

    def __init__(
        self, message: str, *, estimate: int, budget: int, num_ctx: int, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.estimate = estimate
        self.budget = budget
        self.num_ctx = num_ctx


class FeedError(SummarizerError):
    """A feed cannot be registered, found, fetched or read as RSS, Atom or JSON Feed."""


class RefusedAddress(SourceError):
    """A URL leads to a loopback, private or link-local address, refused without --allow-private."""


class LedgerError(StoreError):
    """The feed ledger (feeds and entries in the data dir) cannot be opened or written."""
