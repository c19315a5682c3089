"""`doctor`'s Ollama checks against the stand-in: hosts, versions, models, context, fixes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from summarizer.config import Settings
from summarizer.doctor import Check, check_ollama, fixes, parse_version
from summarizer.llm import START_HINT, pull_command
from tests.standin_ollama import StandinOllama


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def test_everything_in_place(ollama_settings: Settings, ollama_standin: StandinOllama) -> None:
    settings = replace(ollama_settings, embedder="ollama:nomic-embed-text")
    checks = by_name(check_ollama(settings))
    assert list(checks) == [
        f"ollama at {ollama_standin.url}",
        "chat model llama3.2",
        "embedding model nomic-embed-text",
    ]
    assert all(c.ok for c in checks.values())
    assert checks[f"ollama at {ollama_standin.url}"].detail == "version 0.12.6"
    chat = checks["chat model llama3.2"].detail
    assert "context 131072 tokens, requests use num_ctx 8192" in chat
    spec = ollama_standin.model("llama3.2")
    assert spec is not None
    assert f"digest {spec.digest[:12]}" in chat
    assert "context 2048 tokens" in checks["embedding model nomic-embed-text"].detail
    assert fixes(checks.values()) == []


def test_the_default_embedder_needs_no_ollama_model(ollama_settings: Settings) -> None:
    names = [c.name for c in check_ollama(ollama_settings)]
    assert names == [names[0], "chat model llama3.2"]


def test_num_ctx_cap_shows_in_the_detail(ollama_settings: Settings) -> None:
    checks = by_name(check_ollama(replace(ollama_settings, num_ctx_cap=4096)))
    assert "requests use num_ctx 4096" in checks["chat model llama3.2"].detail


def test_a_host_that_is_down(closed_ollama_url: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, ollama_hosts=[closed_ollama_url], connect_timeout=1)
    host, model = check_ollama(settings)
    assert not host.ok
    assert host.detail == "not reachable (connection refused)"
    assert host.fix is not None
    assert "ollama serve" in host.fix
    assert (model.ok, model.detail, model.fix) == (
        False,
        "not checked: no Ollama host is reachable",
        None,
    )
    assert fixes([host, model]) == [START_HINT]


def test_models_not_pulled_say_how_to_pull_them(
    ollama_settings: Settings, ollama_standin: StandinOllama
) -> None:
    ollama_standin.remove_model("llama3.2")
    settings = replace(ollama_settings, embedder="ollama:mxbai-embed-large")
    checks = by_name(check_ollama(settings))
    url = ollama_standin.url
    chat = checks["chat model llama3.2"]
    embed = checks["embedding model mxbai-embed-large"]
    assert (chat.ok, chat.detail) == (False, f"not pulled on {url}")
    assert chat.fix == f"OLLAMA_HOST={url} ollama pull llama3.2"
    assert embed.fix == f"OLLAMA_HOST={url} ollama pull mxbai-embed-large"
    assert fixes(checks.values()) == [chat.fix, embed.fix]


def test_pull_commands_for_the_default_host() -> None:
    assert pull_command("llama3.2", "http://127.0.0.1:11434") == "ollama pull llama3.2"
    assert pull_command("llama3.2", "http://localhost:11434") == "ollama pull llama3.2"
    remote = pull_command("llama3.2", "http://gpu-box:11434")
    assert remote == "OLLAMA_HOST=http://gpu-box:11434 ollama pull llama3.2"


def test_two_hosts_one_down(
    ollama_standin: StandinOllama, closed_ollama_url: str, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path, ollama_hosts=[closed_ollama_url, ollama_standin.url])
    checks = check_ollama(settings)
    assert [(c.name, c.ok) for c in checks] == [
        (f"ollama at {closed_ollama_url}", False),
        (f"ollama at {ollama_standin.url}", True),
        (f"chat model llama3.2 on {ollama_standin.url}", True),
    ]


def test_an_old_server_cannot_do_structured_output(tmp_path: Path) -> None:
    with StandinOllama(version="0.4.2") as server:
        host, model = check_ollama(Settings(home=tmp_path, ollama_hosts=[server.url]))
    assert not host.ok
    assert host.detail == "version 0.4.2: structured output needs 0.5.0 or newer"
    assert host.fix is not None
    assert "upgrade Ollama" in host.fix
    assert model.ok  # still reachable, so its models are checked


def test_models_of_the_wrong_kind(ollama_settings: Settings) -> None:
    settings = replace(ollama_settings, model="nomic-embed-text", embedder="ollama:llama3.2")
    checks = by_name(check_ollama(settings))
    chat = checks["chat model nomic-embed-text"]
    embed = checks["embedding model llama3.2"]
    assert not chat.ok
    assert chat.detail == "cannot generate text (it can: embedding)"
    assert not embed.ok
    assert embed.detail == "is not an embedding model (it can: completion, tools)"
    assert embed.fix is not None
    assert "--embedder ollama:nomic-embed-text" in embed.fix


class _NotOllama(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html>a web server</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def not_ollama_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotOllama)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_something_else_on_the_port(not_ollama_url: str, tmp_path: Path) -> None:
    host, model = check_ollama(Settings(home=tmp_path, ollama_hosts=[not_ollama_url]))
    assert (host.ok, host.detail) == (False, "answered, but not like an Ollama server")
    assert not model.ok


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("0.12.6", (0, 12, 6)), ("0.5.0-rc1", (0, 5, 0)), ("v1.2", (1, 2, 0)), ("dev", None)],
)
def test_parse_version(text: str, parsed: tuple[int, ...] | None) -> None:
    assert parse_version(text) == parsed
