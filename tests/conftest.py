"""Shared fixtures. Every test gets its own data dir; nothing touches the real home's data."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ollama_fixtures import *  # noqa: F403  (the stand-in Ollama server's fixtures)
from tests.ollama_fixtures import free_port
from tests.postgres_server import database_url, postgres_server  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the data dir at a tmp path and clear settings that could leak in from the shell."""
    home = tmp_path / "data"
    monkeypatch.setenv("SUMMARIZER_HOME", str(home))
    for name in (
        "SUMMARIZER_CHROMA_URL",
        "SUMMARIZER_DATABASE_URL",
        "SUMMARIZER_EMBEDDER",
        "SUMMARIZER_MODEL",
        "SUMMARIZER_NUM_CTX",
        "SUMMARIZER_NO_CACHE",
        "SUMMARIZER_PARALLEL",
        "SUMMARIZER_SUPPORT",
        "SUMMARIZER_SUPPORT_MODEL",
        "OLLAMA_HOST",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    # Every test site is one host on loopback: the politeness interval would only slow the
    # suite (the tests of it set their own).
    monkeypatch.setenv("SUMMARIZER_HOST_INTERVAL", "0.01")
    yield home


CORPUS = Path(__file__).resolve().parent.parent / "corpus"


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A writable copy of the five sample articles."""
    import shutil

    dest = tmp_path / "articles"
    shutil.copytree(CORPUS, dest)
    return dest


@pytest.fixture
def hash_embedder(monkeypatch: pytest.MonkeyPatch) -> str:
    """Use the deterministic hashing embedder (no model download) for this test."""
    monkeypatch.setenv("SUMMARIZER_EMBEDDER", "hash:256")
    return "hash:256"


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `chroma run` server on a free loopback port; yields its URL."""
    with chroma_run(tmp_path_factory.mktemp("chroma-server")) as (url, _):
        yield url


@contextmanager
def chroma_run(path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`chroma run` on `path` and a free loopback port, until the block ends: its URL and
    process (a test may stop it)."""
    import os
    import sys
    import time
    import urllib.request

    exe = Path(sys.executable).parent / "chroma"
    if not exe.exists():
        pytest.skip("the chroma server command is not installed next to this Python")
    port = free_port()
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    proc = subprocess.Popen(
        [str(exe), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("chroma run did not start")
            time.sleep(0.1)
    try:
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class Site:
    """A real HTTP server on 127.0.0.1 serving `pages`: path -> (status, content type, body)."""

    url: str
    pages: dict[str, tuple[int, str, bytes]]
    hits: list[str]


@pytest.fixture
def site() -> Iterator[Site]:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    pages: dict[str, tuple[int, str, bytes]] = {}
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            status, ctype, body = pages.get(self.path, (404, "text/plain", b"not found"))
            self.send_response(status)
            if status in (301, 302):
                self.send_header("Location", body.decode())
                body = b""
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Site(f"http://127.0.0.1:{server.server_address[1]}", pages, hits)
    server.shutdown()
    server.server_close()
