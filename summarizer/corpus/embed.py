"""Embedders: Chroma's built-in MiniLM (default), Ollama embedding models, and a hashing embedder.

Vectors are computed here and handed to Chroma as precomputed embeddings, so a collection never
depends on an embedding function being registered in the process that reads it.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from summarizer.config import DEFAULT_EMBED_MODEL, DEFAULT_EMBEDDER
from summarizer.errors import ConfigError, EmbedderError, LLMError, one_line

if TYPE_CHECKING:
    from summarizer.config import Settings

Vector = Sequence[float]

MINILM = "chroma:all-MiniLM-L6-v2"
_ALIASES = {"minilm": MINILM, "default": MINILM, "chroma": MINILM, "all-minilm-l6-v2": MINILM}


class Embedder(Protocol):
    """Turns texts into vectors of one fixed dimension."""

    name: str

    def load(self) -> int:
        """Make the model ready (download, check it is pulled); return the dimension."""
        ...

    def embed(self, texts: Sequence[str]) -> list[Vector]: ...

    def close(self) -> None:
        """Release connections (an Ollama embedder's HTTP clients and reply cache)."""
        ...


def canonical_name(spec: str) -> str:
    """`minilm` -> `chroma:all-MiniLM-L6-v2`; validates the other forms."""
    spec = spec.strip()
    if spec.lower() in _ALIASES:
        return _ALIASES[spec.lower()]
    kind, _, arg = spec.partition(":")
    if kind == "chroma" and arg.lower() == "all-minilm-l6-v2":
        return MINILM
    if kind == "ollama" and arg:
        return spec
    if kind == "hash":
        dim = arg or "256"
        if dim.isdigit() and 8 <= int(dim) <= 4096:
            return f"hash:{int(dim)}"
    raise ConfigError(
        f"unknown embedder {spec!r}",
        hint=f"use {DEFAULT_EMBEDDER}, ollama:MODEL (e.g. ollama:{DEFAULT_EMBED_MODEL}) "
        "or hash:DIM",
    )


def make_embedder(settings: Settings) -> Embedder:
    """The embedder named by `settings.embedder`."""
    name = canonical_name(settings.embedder)
    if name == MINILM:
        return MiniLMEmbedder()
    if name.startswith("ollama:"):
        return OllamaEmbedder(settings, name.removeprefix("ollama:"))
    return HashEmbedder(int(name.removeprefix("hash:")))


def minilm_model_dir() -> Path:
    """Where Chroma keeps (or downloads) the all-MiniLM-L6-v2 ONNX model."""
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    return Path(ONNXMiniLM_L6_V2.DOWNLOAD_PATH) / ONNXMiniLM_L6_V2.EXTRACTED_FOLDER_NAME


def minilm_available() -> bool:
    """Whether the MiniLM model is already on disk (no download needed)."""
    d = minilm_model_dir()
    return all((d / f).is_file() for f in ("model.onnx", "tokenizer.json", "vocab.txt"))


class MiniLMEmbedder:
    """Chroma's default embedding model (all-MiniLM-L6-v2, ONNX, 384-d), in-process.

    Chroma's function pads every text to 256 tokens; this one runs the same model on the same
    tokens padded only to the longest text of each batch (texts of similar length batched
    together), which gives the same vectors for less work.
    """

    name = MINILM
    BATCH = 32
    MAX_TOKENS = 256

    def __init__(self) -> None:
        self._model: Any = None
        self._tokenizer: Any = None

    def load(self) -> int:
        if self._model is None:
            from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

            # One instance for the process: Chroma's DefaultEmbeddingFunction builds a new one
            # (and loads the ONNX session again) on every call.
            fn = ONNXMiniLM_L6_V2()
            try:
                fn._download_model_if_not_exists()  # only when it is not in Chroma's cache
                session = fn.model
                tokenizer = fn.Tokenizer.from_file(str(minilm_model_dir() / "tokenizer.json"))
            except Exception as e:
                raise EmbedderError(
                    f"cannot load the embedding model all-MiniLM-L6-v2 "
                    f"({type(e).__name__}: {one_line(e, 200)})",
                    hint="Chroma downloads it on first use into "
                    f"{minilm_model_dir()}: connect to the internet once, or choose "
                    f"another embedder: --embedder ollama:{DEFAULT_EMBED_MODEL} (an Ollama "
                    "embedding model), or --embedder hash:256 (no model at all: words only)",
                ) from None
            tokenizer.enable_truncation(max_length=self.MAX_TOKENS)
            tokenizer.no_padding()  # the tokenizer file may carry a fixed padding of its own
            self._tokenizer = tokenizer
            self._model = session
        return 384

    def close(self) -> None:
        pass  # the ONNX session is freed with the object

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        import numpy as np

        self.load()
        out = np.zeros((len(texts), 384), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for b in range(0, len(order), self.BATCH):
            rows = order[b : b + self.BATCH]
            encoded = self._tokenizer.encode_batch([texts[i] for i in rows])
            width = max(len(e.ids) for e in encoded)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, e in enumerate(encoded):
                ids[r, : len(e.ids)] = e.ids
                mask[r, : len(e.ids)] = 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self._model.run(None, feed)[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[rows] = pooled / np.clip(norms, 1e-12, None)
        return list(out)


class OllamaEmbedder:
    """An Ollama embedding model (e.g. nomic-embed-text) through /api/embed."""

    def __init__(self, settings: Settings, model: str) -> None:
        self.name = f"ollama:{model}"
        self.model = model
        self._settings = settings
        self._client: Any = None
        self._dim = 0

    def load(self) -> int:
        if not self._dim:
            self._dim = len(self.embed(["dimension probe"])[0])
        return self._dim

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        if self._client is None:
            from summarizer.llm import Ollama

            self._client = Ollama(self._settings)
        try:
            vectors: list[Vector] = self._client.embed(self.model, list(texts))
        except LLMError as e:
            raise EmbedderError(f"embedder {self.name}: {e.message}", hint=e.hint) from None
        return vectors


_WORD = re.compile(r"\w+", re.UNICODE)


class HashEmbedder:
    """Feature hashing of words: deterministic, instant, offline; lexical similarity only.

    Meant for tests and machines without any model; `hash:DIM` picks the dimension.
    """

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.name = f"hash:{dim}"

    def load(self) -> int:
        return self.dim

    def close(self) -> None:
        pass

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        return [self._one(t) for t in texts]

    def _one(self, text: str) -> list[float]:
        vec = [0.0] * self.dim
        for word in _WORD.findall(text.lower()):
            h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
            vec[h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in vec))
        if not norm:  # no words at all: a fixed unit vector rather than zeros (no cosine of 0)
            vec[0], norm = 1.0, 1.0
        return [v / norm for v in vec]
