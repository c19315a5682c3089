"""Shared fixtures. Every test gets its own data dir; nothing touches the real home's data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the data dir at a tmp path and clear settings that could leak in from the shell."""
    home = tmp_path / "data"
    monkeypatch.setenv("SUMMARIZER_HOME", str(home))
    for name in (
        "SUMMARIZER_CHROMA_URL",
        "SUMMARIZER_EMBEDDER",
        "SUMMARIZER_MODEL",
        "SUMMARIZER_NUM_CTX",
        "SUMMARIZER_NO_CACHE",
        "SUMMARIZER_PARALLEL",
        "OLLAMA_HOST",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    yield home
