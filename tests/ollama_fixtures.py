"""Pytest fixtures around the stand-in Ollama server; conftest.py star-imports them.

PYTEST_DONT_REWRITE: conftest imports this module before pytest could rewrite its asserts, and
test modules also name it in pytest_plugins; the marker keeps pytest from warning about that.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from summarizer.config import Settings
from tests.standin_ollama import StandinOllama

__all__ = [
    "closed_ollama_url",
    "free_port",
    "ollama_env",
    "ollama_settings",
    "ollama_standin",
    "standin_settings",
]


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def standin_settings(home: Path, *urls: str, **overrides: Any) -> Settings:
    """Settings for tests: the given hosts and timeouts short enough to fail fast."""
    settings = Settings(
        home=home,
        ollama_hosts=list(urls),
        connect_timeout=1.0,
        read_timeout=5.0,
    )
    return replace(settings, **overrides)


@pytest.fixture
def ollama_standin() -> Iterator[StandinOllama]:
    """A stand-in Ollama server on a free port of 127.0.0.1, stopped after the test."""
    with StandinOllama() as server:
        yield server
    assert not server.errors, f"the stand-in failed inside: {server.errors}"


@pytest.fixture
def ollama_env(ollama_standin: StandinOllama, monkeypatch: pytest.MonkeyPatch) -> StandinOllama:
    """The stand-in, with OLLAMA_HOST pointing at it (for code that reads the environment)."""
    monkeypatch.setenv("OLLAMA_HOST", ollama_standin.url)
    return ollama_standin


@pytest.fixture
def ollama_settings(ollama_standin: StandinOllama, tmp_path: Path) -> Settings:
    """Settings pointing at the stand-in, with a fresh data dir and short timeouts."""
    return standin_settings(tmp_path / "data", ollama_standin.url)


@pytest.fixture
def closed_ollama_url() -> str:
    """The URL of a port where nothing listens: connection refused."""
    return f"http://127.0.0.1:{free_port()}"
