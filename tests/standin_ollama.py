"""A stand-in Ollama server: the real wire protocol on 127.0.0.1, for tests and benchmarks.

It speaks what the `ollama` client 0.6 sends and expects (/api/chat streamed and not, /api/embed,
/api/tags, /api/show, /api/ps, /api/version), counts tokens by one fixed rule (whitespace-separated
words) and answers a JSON-schema `format` with an instance of that schema built from the prompt:
quotes are verbatim sentences of the `[s12] text` segments it was given, segment ids are theirs
(an `enum` of ids is kept to, as under Ollama's grammar).

Tests make it misbehave through `misbehave(kind, times=..., model=...)`, read what it received in
`requests()`, and see how many model requests it served at once in `max_concurrency`.

As its own process, for benchmarks:
    python -m tests.standin_ollama --port 0 --latency 0.2 --slots 2
prints the URL it listens on and serves until interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

VERSION = "0.12.6"
# What Ollama uses when a request does not set num_ctx.
DEFAULT_NUM_CTX = 2048
DEFAULT_EMBED_DIM = 64
TOKEN = re.compile(r"\S+")
WORD = re.compile(r"\w+")
# The prompt convention of the project: one segment per line, `[s12] text`.
SEGMENT_LINE = re.compile(r"^\[([A-Za-z]+\d+)\][ \t]+(\S.*?)[ \t]*$", re.MULTILINE)
# Split after . ! ? (optionally followed by a closing quote or bracket): pieces stay verbatim.
SENTENCE_BREAK = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"'\u201d\u2019)\]]))\s+")
MODIFIED_AT = "2025-06-01T12:00:00.000000000Z"

NOT_FOUND = 'model "{name}" not found, try pulling it first'
RUNNER_CRASH = "llama runner process has terminated: exit status 2"

TRANSPORT_KINDS = frozenset({"http_500", "not_found", "delay", "hang", "drop_connection"})
CONTENT_KINDS = frozenset(
    {
        "invalid_json",
        "schema_violation",
        "invented_quotes",
        "unknown_segments",
        "length",
        "reply",
        "stream_error",
        # Statements that twist what their (real) quotes say:
        "contradicting",  # the statement says the opposite of its quote ("not" added/removed)
        "wrong_number",  # its figures changed
        "unrelated_quote",  # the quote is another sentence than the one the statement says
        "boilerplate_summary",  # the headline and summary are the prompt's own instructions
        "truncated_quote",  # quote and statement stop right before the sentence's negation
        # A small model's loops, to num_predict: the first item of the reply's first list
        # again and again (style="item"), or one string saying the same phrase (style="phrase").
        "loop",
        # A broken or hostile server: a reply that never ends, as one line without a newline
        # (style="line"), as new tokens past num_predict (style="tokens"), or as a token every
        # `every` seconds (style="trickle"); it goes on until the client hangs up.
        "flood",
    }
)
TWISTS = ("contradicting", "wrong_number", "unrelated_quote", "boilerplate_summary",
          "truncated_quote")  # fmt: skip
BOILERPLATE = "The article is given between [article_id] and ] as numbered segments to summarise"
NEGATION = re.compile(r"\s(?:not(?! only)|never|no longer)\b|n't\b")
AUXILIARY = re.compile(r"\b(is|are|was|were|will|would|can|could|has|have|had|does|did)\b ")
MODEL_ENDPOINTS = ("/api/chat", "/api/embed")
# The schema title of the project's support check: content misbehaviours leave it alone unless
# they name it (misbehave(..., schema=SUPPORT_SCHEMA)).
SUPPORT_SCHEMA = "SupportReply"

QUOTE_WORDS = ("quote", "excerpt", "evidence")
SEGMENT_WORDS = ("segment", "chunk_id", "source_id")
TEXT_WORDS = (
    "text",
    "statement",
    "headline",
    "title",
    "summary",
    "answer",
    "claim",
    "point",
    "description",
    "explanation",
    "reason",
    "content",
    "sentence",
    "finding",
    "conclusion",
    "abstract",
    "rationale",
)
# Booleans are false, except these, which are true when the prompt holds segments to work from.
AFFIRMATIVE = frozenset({"found", "answerable", "answered", "supported", "grounded", "relevant"})


def sentence_id(body: Mapping[str, Any], words: str) -> str:
    """The id of the numbered line (`[s12] ...`) of a request's prompt that holds `words`: what
    a scripted reply cites for them."""
    prompt = "\n".join(str(m.get("content") or "") for m in body.get("messages") or [])
    for sid, line in SEGMENT_LINE.findall(prompt):
        if words in line:
            return str(sid)
    raise AssertionError(f"no numbered line of the prompt holds {words!r}")


def count_tokens(text: str) -> int:
    """The stand-in's token rule: whitespace-separated words."""
    return sum(1 for _ in TOKEN.finditer(text))


def sentences(text: str) -> list[str]:
    """Sentences of `text`, each an exact substring of it."""
    return [s.strip() for s in SENTENCE_BREAK.split(text) if s.strip()]


def embed_vector(text: str, dim: int) -> list[float]:
    """A deterministic unit vector: hashed bag of words, so shared words mean similar vectors."""
    vector = [0.0] * dim
    for word in WORD.findall(text.lower()):
        h = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
        vector[int.from_bytes(h[:4], "big") % dim] += 1.0 if h[4] & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0:
        vector[0] = 1.0
        return vector
    return [x / norm for x in vector]


def canonical(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class ModelSpec:
    """A model the stand-in has 'pulled'."""

    name: str
    arch: str = "llama"
    family: str = "llama"
    context_length: int = 131072
    embedding: bool = False
    dim: int = DEFAULT_EMBED_DIM
    parameter_size: str = "3.2B"
    quantization: str = "Q4_K_M"
    size: int = 2_019_393_189
    digest: str = ""

    def __post_init__(self) -> None:
        self.name = canonical(self.name)
        if not self.digest:
            self.digest = hashlib.sha256(self.name.encode()).hexdigest()

    def details(self) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": self.family,
            "families": [self.family],
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization,
        }

    def capabilities(self) -> list[str]:
        return ["embedding"] if self.embedding else ["completion", "tools"]


def default_models(embed_dim: int = DEFAULT_EMBED_DIM) -> list[ModelSpec]:
    return [
        ModelSpec("llama3.2"),
        ModelSpec(
            "nomic-embed-text",
            arch="nomic-bert",
            family="nomic-bert",
            context_length=2048,
            embedding=True,
            dim=embed_dim,
            parameter_size="137M",
            quantization="F16",
            size=274_302_450,
        ),
    ]


@dataclass
class Rule:
    """One misbehaviour: what, for which model and endpoints, how many more times (None: always)."""

    kind: str
    model: str | None
    endpoints: tuple[str, ...]
    remaining: int | None
    params: dict[str, Any]
    fired: int = 0
    # Content rules: only for replies in the schema of this title (None: any reply but the
    # support check's, which is a second request beside the task's own).
    schema: str | None = None


@dataclass
class LoggedRequest:
    """What the stand-in received, as it received it."""

    method: str
    path: str
    body: Any
    time: float
    # Model requests (chat, embed) in progress when this one arrived, itself included.
    concurrency: int = 0
    status: int = 0
    model: str | None = None
    # Lines of a streamed reply written before it ended (or the client hung up).
    pieces_sent: int = 0


class _Reply(Exception):
    """Raised inside a handler to answer at once with this status and JSON error."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


MAX_QUOTE_WORDS = 40


def _first_words(text: str, n: int) -> str:
    """The verbatim prefix of `text` holding its first `n` whitespace-separated words."""
    words = list(TOKEN.finditer(text))
    return text if len(words) <= n else text[: words[n - 1].end()]


class _Dropped(Exception):
    """Raised inside a handler to close the connection without any answer."""


class _Filler:
    """Builds an instance of a JSON schema from the prompt's segments and sentences."""

    def __init__(
        self,
        root: Mapping[str, Any],
        source: str,
        *,
        invent_quotes: bool,
        unknown_segments: bool,
        twist: str | None = None,
        overrides: Mapping[str, Any],
    ) -> None:
        self.root = root
        self.invent_quotes = invent_quotes
        self.twist = twist
        self.unknown_segments = unknown_segments
        self.overrides = overrides
        self.cursor = 0
        found = SEGMENT_LINE.findall(source)
        self.has_segments = bool(found)
        if found:
            per_segment = [(sid, sentences(text)) for sid, text in found]
            # Round robin over segments, so successive items cite different segments.
            depth = max(len(s) for _, s in per_segment)
            self.pool: list[tuple[str | None, str]] = [
                (sid, sents[i])
                for i in range(depth)
                for sid, sents in per_segment
                if i < len(sents)
            ]
        else:
            self.pool = [(None, s) for s in sentences(source)]
        # A model told to quote 5 to 40 words keeps quotes short: a run-on "sentence" (text
        # without spaces after its full stops) is quoted by its first words, still verbatim.
        self.pool = [(sid, _first_words(text, MAX_QUOTE_WORDS)) for sid, text in self.pool]
        long_enough = [p for p in self.pool if len(p[1].split()) >= 3]
        self.pool = long_enough or self.pool or [(None, "The stand-in was given no text.")]
        self.source = source
        if twist == "truncated_quote":
            # Every item quotes the words before a negation: "Binance will" of "Binance will
            # not freeze...", and says them as its statement.
            cut = []
            for sid, text in self.pool:
                m = NEGATION.search(text)
                if m and len(text[: m.start()].split()) >= 4:
                    cut.append((sid, text[: m.start()].rstrip(" ,")))
            self.pool = cut or self.pool

    def anchor(self, i: int) -> tuple[str | None, str]:
        return self.pool[i % len(self.pool)]

    def twisted(self, sentence: str, anchor: int) -> str:
        """The statement beside a real quote, as a misbehaving model writes it."""
        if self.twist == "contradicting":
            if NEGATION.search(sentence):
                return NEGATION.sub("", sentence, count=1)
            m = AUXILIARY.search(sentence)
            return f"{sentence[: m.end()]}not {sentence[m.end() :]}" if m else f"No: {sentence}"
        if self.twist == "wrong_number":
            changed = re.sub(r"\d", lambda m: str((int(m.group()) + 1) % 10), sentence)
            return changed if changed != sentence else f"{sentence.rstrip('.')} in 1987."
        if self.twist == "unrelated_quote":
            # The statement is another sentence than the one quoted.
            for step in range(1, len(self.pool)):
                other = self.anchor(anchor + step)[1]
                if other != sentence:
                    return other
        return sentence

    def resolve(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        schema = dict(schema)
        while "$ref" in schema:
            target: Any = self.root
            for part in str(schema.pop("$ref")).lstrip("#/").split("/"):
                target = target[part]
            schema = {**target, **schema}
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema.pop("allOf"):
                merged.update(self.resolve(part))
            schema = {**merged, **schema}
        return schema

    def wanted(self, name: str) -> bool:
        lname = name.lower()
        return name in self.overrides or any(
            w in lname for w in (*QUOTE_WORDS, *SEGMENT_WORDS, *TEXT_WORDS)
        )

    def value(self, schema: Mapping[str, Any], name: str, anchor: int, depth: int = 0) -> Any:
        s = self.resolve(schema)
        if name in self.overrides:
            return self.overrides[name]
        if "const" in s:
            return s["const"]
        if s.get("enum"):
            if self.cites(name):
                # A sentence the prompt numbered, as under the grammar (an unknown one only when
                # told to ignore it, as a server without a grammar may).
                sid = self.segment_id(anchor)
                return sid if sid in s["enum"] or self.unknown_segments else s["enum"][0]
            return s["enum"][0]
        options = s.get("anyOf") or s.get("oneOf")
        if options:
            real = [o for o in options if self.resolve(o).get("type") != "null"]
            if not real or (len(real) < len(options) and not self.wanted(name)):
                return None
            return self.value(real[0], name, anchor, depth)
        kind = s.get("type")
        if isinstance(kind, list):
            real_types = [t for t in kind if t != "null"]
            if not real_types or (len(real_types) < len(kind) and not self.wanted(name)):
                return None
            kind = real_types[0]
        if kind is None:
            kind = "object" if "properties" in s else "array" if "items" in s else "string"
        if kind == "object":
            props = s.get("properties") or {}
            return {key: self.value(sub, key, anchor, depth) for key, sub in props.items()}
        if kind == "array":
            return self.array(s, name, anchor, depth)
        if kind == "boolean":
            return name.lower() in AFFIRMATIVE and self.has_segments
        if kind in ("integer", "number"):
            return self.number(s, name, anchor, kind)
        return self.string(s, name, anchor)

    def array(self, s: Mapping[str, Any], name: str, anchor: int, depth: int) -> list[Any]:
        lo = int(s.get("minItems", 0))
        hi = int(s.get("maxItems", max(lo, 3)))
        # 1-3 items at the top (as many as there are sentences), one inside an item: a point
        # usually cites one passage.
        count = max(lo, min(hi, min(3, len(self.pool)) if depth == 0 else 1))
        items = s.get("items") or {"type": "string"}
        values = []
        for i in range(count):
            if i:
                self.cursor += 1
            # The first item carries on the enclosing anchor: a point's first citation quotes
            # the point's own sentence.
            values.append(self.value(items, name, anchor if i == 0 else self.cursor, depth + 1))
        return values

    def number(self, s: Mapping[str, Any], name: str, anchor: int, kind: str) -> int | float:
        if self.cites(name):
            digits = re.sub(r"\D", "", self.segment_id(anchor))
            return int(digits or 0)
        low = s.get("minimum", s.get("exclusiveMinimum", -1) + 1 if "exclusiveMinimum" in s else 0)
        if "maximum" in s:
            low = min(low, s["maximum"])
        return int(low) if kind == "integer" else float(low)

    def segment_id(self, anchor: int) -> str:
        sid = self.anchor(anchor)[0] or "s1"
        if self.unknown_segments:
            prefix = re.match(r"[A-Za-z]*", sid)
            return f"{prefix.group(0) if prefix else 's'}{9000 + anchor}"
        return sid

    @staticmethod
    def cites(name: str) -> bool:
        """Whether a field names a segment (or a sentence) by its id."""
        lname = name.lower()
        return lname == "sentence" or any(w in lname for w in SEGMENT_WORDS)

    def string(self, s: Mapping[str, Any], name: str, anchor: int) -> str:
        lname = name.lower()
        sentence = self.anchor(anchor)[1]
        if self.cites(name):
            text = self.segment_id(anchor)
        elif any(w in lname for w in QUOTE_WORDS):
            text = self.invented(anchor) if self.invent_quotes else sentence
        elif self.twist == "boilerplate_summary" and any(
            w in lname for w in ("headline", "summary", "answer")
        ):
            text = BOILERPLATE
        elif "headline" in lname or "title" in lname:
            text = " ".join(sentence.split()[:12]).rstrip(".,;:!?")
        elif "summary" in lname or "abstract" in lname:
            following = self.anchor(anchor + 1)[1]
            text = sentence if following == sentence else f"{sentence} {following}"
        elif any(w in lname for w in TEXT_WORDS):
            text = self.twisted(sentence, anchor)
        elif s.get("format") == "date":
            text = "2025-06-01"
        elif s.get("format") == "date-time":
            text = "2025-06-01T12:00:00Z"
        elif s.get("format") == "uri":
            text = "https://example.com/"
        else:
            text = " ".join(sentence.split()[:4])
        if "maxLength" in s:
            text = text[: int(s["maxLength"])]
        return text.ljust(int(s.get("minLength", 0)), "x")

    def invented(self, anchor: int) -> str:
        # A number every few words: invented quotes differ from each other, as a model's do.
        n = 400 + anchor
        text = f"The minister promised {n} new hospitals in {n % 7 + 3} years, {n * 3} beds."
        return text if text not in self.source else f"Officials denied it {anchor} times."


def _looped(value: Any, style: str) -> Any:
    """`value` with its first list made endless (the first item over and over), or with its
    first long string going round in circles; num_predict then cuts it, as it does a model."""
    if isinstance(value, dict):
        for key, sub in value.items():
            if style == "phrase" and isinstance(sub, str) and len(sub.split()) >= 3:
                return {**value, key: " ".join([*sub.split()[:3]] * 2000)}
            looped = _looped(sub, style)
            if looped is not sub:
                return {**value, key: looped}
    elif isinstance(value, list) and value:
        if style == "item":
            return [value[0]] * 2000
        looped = _looped(value[0], style)
        if looped is not value[0]:
            return [looped, *value[1:]]
    return value


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Benchmarks open dozens of connections at once; the default backlog of 5 would refuse some.
    request_queue_size = 256
    standin: StandinOllama

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        # A client that hung up (after its timeout, or at stop()) is not the stand-in's failure.
        if not isinstance(error, OSError):
            with self.standin._lock:
                self.standin.errors.append(f"{client_address}: {error!r}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm the body would wait
    # ~40 ms for the client's delayed ACK, a latency no real Ollama adds.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.standin._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.standin._track(self.connection, False)

    def do_GET(self) -> None:
        self.server.standin._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.standin._handle(self, "POST")

    def do_HEAD(self) -> None:
        self.server.standin._handle(self, "HEAD")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests and benchmarks read the request log instead


class StandinOllama:
    """The stand-in server: start() it (or use it as a context manager), point a client at url.

    latency: seconds each chat or embed request holds one of the `slots` (None: no limit; as
    OLLAMA_NUM_PARALLEL, the others queue); token_delay: seconds per output token.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        models: Iterable[ModelSpec] | None = None,
        latency: float = 0.0,
        slots: int | None = None,
        token_delay: float = 0.0,
        embed_dim: int = DEFAULT_EMBED_DIM,
        version: str = VERSION,
    ) -> None:
        self.host = host
        self.port = port
        self.latency = latency
        self.token_delay = token_delay
        self.version = version
        # Context the server really uses at most, whatever num_ctx asks (as when a proxy or
        # OLLAMA_CONTEXT_LENGTH caps it): longer prompts lose their beginning.
        self.max_ctx: int | None = None
        # Values for schema fields by name, wherever they occur (e.g. {"found": False}).
        self.field_values: dict[str, Any] = {}
        self.truncations = 0
        # Exceptions inside the stand-in itself; a test that sees one has found a stand-in bug.
        self.errors: list[str] = []
        self._models = {m.name: m for m in (models or default_models(embed_dim))}
        self._slots = threading.BoundedSemaphore(slots) if slots else None
        self._rules: list[Rule] = []
        self._log: list[LoggedRequest] = []
        self._loaded: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self._in_flight = 0
        self._max_concurrency = 0
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> StandinOllama:
        httpd = _Server((self.host, self.port), _Handler)
        httpd.standin = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._stopping.clear()
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is None:
            return
        self._httpd.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            # Keep-alive connections would otherwise outlive the server.
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> StandinOllama:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            if alive:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    # -- configuration --------------------------------------------------------------------------

    def add_model(self, name: str, **spec: Any) -> ModelSpec:
        """Make a model 'pulled' (or replace it, e.g. with a new digest)."""
        model = ModelSpec(name, **spec)
        with self._lock:
            self._models[model.name] = model
        return model

    def remove_model(self, name: str) -> None:
        """Forget a model: every request for it gets Ollama's 404."""
        with self._lock:
            self._models.pop(canonical(name), None)

    def model(self, name: str) -> ModelSpec | None:
        with self._lock:
            return self._models.get(canonical(name))

    def set_slots(self, slots: int | None) -> None:
        """Requests served at once (OLLAMA_NUM_PARALLEL); others queue. None: no limit."""
        self._slots = threading.BoundedSemaphore(slots) if slots else None

    def misbehave(
        self,
        kind: str,
        *,
        times: int | None = 1,
        model: str | None = None,
        endpoint: str | None = None,
        schema: str | None = None,
        **params: Any,
    ) -> Rule:
        """Misbehave `times` more times (None: until behave()) for `model` (None: any model).

        Transport kinds (on /api/chat and /api/embed unless `endpoint` says):
          http_500 (status=500, error=...), not_found, delay (seconds), hang (seconds, default 60;
          ends at stop()), drop_connection (closes without an answer).
        Content kinds (on /api/chat): invalid_json, schema_violation, invented_quotes,
          unknown_segments, length (done_reason "length", the JSON cut in half),
          reply (content: str | Callable[[dict], str]), stream_error (an error line mid-stream);
          they apply to the task's reply, or with `schema` to the reply of that schema title
          (e.g. schema="SupportReply": the support check).
        """
        endpoints: tuple[str, ...]
        if kind in TRANSPORT_KINDS:
            endpoints = MODEL_ENDPOINTS
        elif kind in CONTENT_KINDS:
            endpoints = ("/api/chat",)
        else:
            raise ValueError(f"unknown misbehaviour {kind!r}")
        rule = Rule(
            kind=kind,
            model=canonical(model) if model else None,
            endpoints=(endpoint,) if endpoint else endpoints,
            remaining=times,
            params=params,
            schema=schema,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def behave(self) -> None:
        """Forget every misbehaviour."""
        with self._lock:
            self._rules.clear()

    def _take_rules(self, path: str, model: str, schema: str = "") -> dict[str, Rule]:
        taken: dict[str, Rule] = {}
        with self._lock:
            for rule in self._rules:
                if rule.remaining == 0 or path not in rule.endpoints or rule.kind in taken:
                    continue
                if rule.model is not None and rule.model != canonical(model):
                    continue
                if rule.kind in CONTENT_KINDS and (
                    rule.schema != schema if rule.schema is not None else schema == SUPPORT_SCHEMA
                ):
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                rule.fired += 1
                taken[rule.kind] = rule
        return taken

    # -- what it received -----------------------------------------------------------------------

    def requests(self, path: str | None = None) -> list[LoggedRequest]:
        """Requests received so far (to `path` only, if given), oldest first."""
        with self._lock:
            return [r for r in self._log if path is None or r.path == path]

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()
            self._max_concurrency = 0

    @property
    def max_concurrency(self) -> int:
        """Most model requests (chat, embed) the server had in progress at once."""
        return self._max_concurrency

    # -- HTTP -------------------------------------------------------------------------------------

    def _handle(self, handler: _Handler, method: str) -> None:
        path = urlsplit(handler.path).path
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        entry = LoggedRequest(method, path, None, time.monotonic())
        with self._lock:
            self._log.append(entry)
        routes: dict[tuple[str, str], Callable[[_Handler, LoggedRequest], None]] = {
            ("GET", "/api/version"): self._version,
            ("GET", "/api/tags"): self._tags,
            ("GET", "/api/ps"): self._ps,
            ("POST", "/api/show"): self._show,
            ("POST", "/api/chat"): self._chat,
            ("POST", "/api/embed"): self._embed,
        }
        try:
            if method in ("GET", "HEAD") and path == "/":
                self._send_text(handler, entry, 200, "Ollama is running")
                return
            route = routes.get((method, path))
            if route is None:
                known = any(p == path for _, p in routes)
                status = 405 if known else 404
                text = "405 method not allowed" if known else "404 page not found"
                self._send_text(handler, entry, status, text)
                return
            if method == "POST":
                try:
                    entry.body = json.loads(raw or b"{}")
                except ValueError as e:
                    raise _Reply(400, f"invalid request body: {e}") from None
                if not isinstance(entry.body, dict):
                    raise _Reply(400, "invalid request body: not a JSON object")
            route(handler, entry)
        except _Reply as r:
            self._send_json(handler, entry, r.status, {"error": r.error})
        except _Dropped:
            handler.close_connection = True
            entry.status = -1
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. its read timeout during a hang): nothing left to answer.
            handler.close_connection = True
        except Exception as e:
            # A bug in the stand-in: recorded for tests to see, answered as Ollama would a crash.
            with self._lock:
                self.errors.append(f"{method} {path}: {e!r}")
            handler.close_connection = True
            if entry.status == 0:
                self._send_json(handler, entry, 500, {"error": f"stand-in failure: {e!r}"})

    def _send_json(
        self, handler: _Handler, entry: LoggedRequest, status: int, obj: Mapping[str, Any]
    ) -> None:
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self._send(handler, entry, status, data, "application/json; charset=utf-8")

    def _send_text(self, handler: _Handler, entry: LoggedRequest, status: int, text: str) -> None:
        self._send(handler, entry, status, text.encode("utf-8"), "text/plain; charset=utf-8")

    def _send(
        self, handler: _Handler, entry: LoggedRequest, status: int, data: bytes, content_type: str
    ) -> None:
        entry.status = status
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(data)

    def _send_stream(
        self, handler: _Handler, entry: LoggedRequest, lines: Iterable[Mapping[str, Any]]
    ) -> None:
        entry.status = 200
        handler.send_response(200)
        handler.send_header("Content-Type", "application/x-ndjson")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for obj in lines:
            # One JSON object per line and never a blank line: the client parses every line.
            data = (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8")
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            handler.wfile.flush()
            entry.pieces_sent += 1
            if self.token_delay:
                self._stopping.wait(self.token_delay)
        handler.wfile.write(b"0\r\n\r\n")

    def _flood(
        self, handler: _Handler, entry: LoggedRequest, model: str, params: Mapping[str, Any]
    ) -> None:
        """A reply without end, until the client hangs up or the stand-in stops."""
        style = str(params.get("style", "line"))
        entry.status = 200
        handler.send_response(200)
        handler.send_header("Content-Type", "application/x-ndjson")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()

        def send(data: bytes) -> None:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            handler.wfile.flush()
            entry.pieces_sent += 1

        if style == "line":
            send(b'{"model": "%s", "message": {"role": "assistant", "content": "' % model.encode())
        n = 0
        while not self._stopping.is_set():
            n += 1
            if style == "line":
                send(b"x" * 65536)
                continue
            piece = {"role": "assistant", "content": f" word{n}"}
            line = {"model": model, "created_at": _now(), "message": piece, "done": False}
            send((json.dumps(line) + "\n").encode())
            if style == "trickle":
                self._stopping.wait(float(params.get("every", 0.5)))

    # -- metadata endpoints ---------------------------------------------------------------------

    def _version(self, handler: _Handler, entry: LoggedRequest) -> None:
        self._send_json(handler, entry, 200, {"version": self.version})

    def _tags(self, handler: _Handler, entry: LoggedRequest) -> None:
        with self._lock:
            models = list(self._models.values())
        listed = [
            {
                "name": m.name,
                "model": m.name,
                "modified_at": MODIFIED_AT,
                "size": m.size,
                "digest": m.digest,
                "details": m.details(),
            }
            for m in models
        ]
        self._send_json(handler, entry, 200, {"models": listed})

    def _known(self, entry: LoggedRequest) -> ModelSpec:
        body = entry.body or {}
        name = str(body.get("model") or body.get("name") or "")
        entry.model = name or None
        if not name:
            raise _Reply(400, "model is required")
        spec = self.model(name)
        if spec is None:
            raise _Reply(404, NOT_FOUND.format(name=name))
        return spec

    def _show(self, handler: _Handler, entry: LoggedRequest) -> None:
        m = self._known(entry)
        info = {
            "general.architecture": m.arch,
            "general.basename": m.name.split(":")[0],
            "general.parameter_count": 3_212_749_888,
            f"{m.arch}.context_length": m.context_length,
            f"{m.arch}.embedding_length": m.dim if m.embedding else 3072,
        }
        show = {
            "license": "",
            "modelfile": f'# Modelfile generated by "ollama show"\nFROM {m.name}\n',
            "parameters": 'stop "<|eot_id|>"',
            "template": "{{ .Prompt }}",
            "details": m.details(),
            "model_info": info,
            "capabilities": m.capabilities(),
            "modified_at": MODIFIED_AT,
        }
        self._send_json(handler, entry, 200, show)

    def _ps(self, handler: _Handler, entry: LoggedRequest) -> None:
        now = time.time()
        running = []
        with self._lock:
            loaded = [(self._models.get(n), until, ctx) for n, (until, ctx) in self._loaded.items()]
        for m, until, ctx in loaded:
            if m is None or until < now:
                continue
            expires = datetime.fromtimestamp(until, UTC).isoformat().replace("+00:00", "Z")
            running.append(
                {
                    "name": m.name,
                    "model": m.name,
                    "size": m.size,
                    "digest": m.digest,
                    "details": m.details(),
                    "expires_at": expires,
                    "size_vram": m.size,
                    "context_length": ctx,
                }
            )
        self._send_json(handler, entry, 200, {"models": running})

    # -- model endpoints ------------------------------------------------------------------------

    def _model_work(
        self, entry: LoggedRequest, work: Callable[[ModelSpec, dict[str, Rule]], Any]
    ) -> Any:
        """Misbehave if told to, then do `work` holding a slot for the configured latency."""
        with self._lock:
            self._in_flight += 1
            entry.concurrency = self._in_flight
            self._max_concurrency = max(self._max_concurrency, self._in_flight)
        try:
            body = entry.body or {}
            name = str(body.get("model") or "")
            entry.model = name or None
            if not name:
                raise _Reply(400, "model is required")
            fmt = body.get("format")
            title = str(fmt.get("title", "")) if isinstance(fmt, Mapping) else ""
            rules = self._take_rules(entry.path, name, title)
            if "hang" in rules:
                self._stopping.wait(float(rules["hang"].params.get("seconds", 60)))
            if "delay" in rules:
                self._stopping.wait(float(rules["delay"].params.get("seconds", 0.5)))
            if "drop_connection" in rules:
                raise _Dropped()
            if "not_found" in rules:
                raise _Reply(404, NOT_FOUND.format(name=name))
            if "http_500" in rules:
                params = rules["http_500"].params
                raise _Reply(int(params.get("status", 500)), str(params.get("error", RUNNER_CRASH)))
            spec = self._known(entry)
            started = time.monotonic()
            if self._slots is None:
                result = work(spec, rules)
                self._stopping.wait(self.latency)
            else:
                with self._slots:
                    result = work(spec, rules)
                    self._stopping.wait(self.latency)
            num_ctx = int((body.get("options") or {}).get("num_ctx") or DEFAULT_NUM_CTX)
            with self._lock:
                self._loaded[spec.name] = (time.time() + 300, num_ctx)
            result["total_duration"] = int((time.monotonic() - started) * 1e9)
            return result
        finally:
            with self._lock:
                self._in_flight -= 1

    def _context(self, spec: ModelSpec, options: Mapping[str, Any]) -> int:
        num_ctx = int(options.get("num_ctx") or DEFAULT_NUM_CTX)
        if self.max_ctx:
            num_ctx = min(num_ctx, self.max_ctx)
        return max(1, min(num_ctx, spec.context_length))

    def _chat(self, handler: _Handler, entry: LoggedRequest) -> None:
        body: dict[str, Any] = entry.body
        result = self._model_work(entry, lambda spec, rules: self._answer(body, spec, rules))
        rules: dict[str, Rule] = result.pop("_rules")
        content: str = result.pop("_content")
        counters = {
            "done": True,
            "done_reason": result.pop("done_reason"),
            "total_duration": result["total_duration"],
            "load_duration": 1_000_000,
            "prompt_eval_count": result["prompt_eval_count"],
            "prompt_eval_duration": result["total_duration"] // 4,
            "eval_count": result["eval_count"],
            "eval_duration": result["total_duration"] // 2,
        }
        model = body["model"]
        if body.get("stream", True) is False:
            if "stream_error" in rules:
                raise _Reply(500, RUNNER_CRASH)
            message = {"role": "assistant", "content": content}
            reply = {"model": model, "created_at": _now(), "message": message, **counters}
            self._send_json(handler, entry, 200, reply)
            return

        if "flood" in rules:
            self._flood(handler, entry, model, rules["flood"].params)
            return

        def lines() -> Iterable[dict[str, Any]]:
            pieces = re.findall(r"\s*\S+\s*", content) or ([content] if content else [])
            for i, piece in enumerate(pieces):
                if i == 1 and "stream_error" in rules:
                    yield {"error": RUNNER_CRASH}
                    return
                message = {"role": "assistant", "content": piece}
                yield {"model": model, "created_at": _now(), "message": message, "done": False}
            message = {"role": "assistant", "content": ""}
            yield {"model": model, "created_at": _now(), "message": message, **counters}

        self._send_stream(handler, entry, lines())

    def _answer(self, body: Mapping[str, Any], spec: ModelSpec, rules: dict[str, Rule]) -> Any:
        messages = [m for m in body.get("messages") or [] if isinstance(m, Mapping)]
        options = body.get("options") or {}
        num_ctx = self._context(spec, options)
        # The prompt as the model sees it: every message, one after the other. Too long for
        # num_ctx, it loses its beginning, as Ollama does (with only a line in the server log).
        parts = [(str(m.get("role", "user")), str(m.get("content") or "")) for m in messages]
        prompt = "\n".join(content for _, content in parts)
        tokens = list(TOKEN.finditer(prompt))
        cut = 0
        if len(tokens) > num_ctx:
            cut = tokens[len(tokens) - num_ctx].start()
            with self._lock:
                self.truncations += 1
        prompt_eval_count = min(len(tokens), num_ctx)
        source_parts, offset = [], 0
        for role, content in parts:
            start, end = offset, offset + len(content)
            offset = end + 1
            if role != "assistant" and end > cut:
                source_parts.append(content[max(0, cut - start) :])
        content = self._compose(body, "\n".join(source_parts), rules)
        done_reason = "stop"
        out = list(TOKEN.finditer(content))
        num_predict = options.get("num_predict")
        if isinstance(num_predict, int) and num_predict >= 0 and len(out) > num_predict:
            content = content[: out[num_predict - 1].end()] if num_predict else ""
            done_reason = "length"
        if "length" in rules:
            out = list(TOKEN.finditer(content))
            keep = len(out) // 2
            content = content[: out[keep - 1].end()] if keep else content[: len(content) // 2]
            done_reason = "length"
        if self.token_delay and body.get("stream", True) is False:
            # Streamed replies pay it line by line as they are sent.
            self._stopping.wait(self.token_delay * count_tokens(content))
        return {
            "_rules": rules,
            "_content": content,
            "done_reason": done_reason,
            "prompt_eval_count": prompt_eval_count,
            "eval_count": count_tokens(content),
        }

    def _compose(self, body: Mapping[str, Any], source: str, rules: dict[str, Rule]) -> str:
        fmt = body.get("format")
        if "reply" in rules:
            given = rules["reply"].params.get("content", "")
            return str(given(dict(body)) if callable(given) else given)
        filler = _Filler(
            fmt if isinstance(fmt, Mapping) else {},
            source,
            invent_quotes="invented_quotes" in rules,
            unknown_segments="unknown_segments" in rules,
            twist=next((t for t in TWISTS if t in rules), None),
            overrides=self.field_values,
        )
        if isinstance(fmt, Mapping):
            value = filler.value(fmt, "", 0)
            if "schema_violation" in rules:
                value = {"note": "a reply that ignores the schema"}
            if "loop" in rules:
                value = _looped(value, rules["loop"].params.get("style", "item"))
            text = json.dumps(value, ensure_ascii=False)
        elif fmt == "json":
            text = json.dumps({"response": filler.anchor(0)[1]}, ensure_ascii=False)
        else:
            first, second = filler.anchor(0)[1], filler.anchor(1)[1]
            text = first if first == second else f"{first} {second}"
        if "invalid_json" in rules:
            # Chatter before the JSON and the JSON cut short: no parser can take it.
            text = "Sure! Here is the JSON you asked for: " + text[: max(1, len(text) // 2)]
        return text

    def _embed(self, handler: _Handler, entry: LoggedRequest) -> None:
        body: dict[str, Any] = entry.body

        def work(spec: ModelSpec, rules: dict[str, Rule]) -> dict[str, Any]:
            given = body.get("input", "")
            inputs = [given] if isinstance(given, str) else list(given or [])
            num_ctx = self._context(spec, body.get("options") or {})
            vectors, used = [], 0
            for text in map(str, inputs):
                tokens = list(TOKEN.finditer(text))
                if len(tokens) > num_ctx:
                    if body.get("truncate") is False:
                        raise _Reply(400, "the input length exceeds the context length")
                    text = text[: tokens[num_ctx - 1].end()]
                used += min(len(tokens), num_ctx)
                vectors.append(embed_vector(text, spec.dim))
            return {"embeddings": vectors, "prompt_eval_count": used}

        result = self._model_work(entry, work)
        reply = {
            "model": body["model"],
            "embeddings": result["embeddings"],
            "total_duration": result["total_duration"],
            "load_duration": 1_000_000,
            "prompt_eval_count": result["prompt_eval_count"],
        }
        self._send_json(handler, entry, 200, reply)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the stand-in Ollama server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (default)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per model request")
    parser.add_argument("--slots", type=int, default=None, help="model requests served at once")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds per output token")
    parser.add_argument("--embed-dim", type=int, default=DEFAULT_EMBED_DIM)
    args = parser.parse_args(argv)
    server = StandinOllama(
        host=args.host,
        port=args.port,
        latency=args.latency,
        slots=args.slots,
        token_delay=args.token_delay,
        embed_dim=args.embed_dim,
    ).start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print(server.url, flush=True)
    done.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
