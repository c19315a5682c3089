"""sources: expanding specs, reading files and fetching pages from a real local HTTP server."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from summarizer.errors import SourceError
from summarizer.reading.fetch import (
    USER_AGENT,
    fetch_url,
    make_guarded_client,
    make_http_client,
)
from summarizer.reading.sources import SpecError, expand, read_file

ARTICLE = b"<html><head><title>Hello</title></head><body><p>Some words.</p></body></html>"


def _paths(items: list[str | SourceError]) -> list[str]:
    return [i for i in items if isinstance(i, str)]


def _errors(items: list[str | SourceError]) -> list[str]:
    return [str(i) for i in items if isinstance(i, SourceError)]


# expand


def test_expand_file_dir_url_and_duplicates(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.html").write_text("b")
    (tmp_path / "sub" / "c.pdf").write_text("c")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "d.txt").write_text("d")
    (tmp_path / ".e.md").write_text("e")
    url = "https://example.org/news/1"

    items = list(expand([str(tmp_path), str(tmp_path / "a.txt"), url, url]))

    assert items == [str(tmp_path / "a.txt"), str(tmp_path / "sub" / "b.html"), url]


def test_expand_yields_resolved_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "x.md").write_text("x")
    monkeypatch.chdir(tmp_path)
    assert list(expand(["x.md", "./x.md", "../" + tmp_path.name + "/x.md"])) == [
        str((tmp_path / "x.md").resolve())
    ]


def test_expand_missing_and_unsupported_are_errors_naming_the_spec(tmp_path: Path) -> None:
    (tmp_path / "paper.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "ok.txt").write_text("ok")
    specs = [
        str(tmp_path / "nope.txt"),
        str(tmp_path / "paper.pdf"),
        str(tmp_path / "*.docx"),
        "ftp://example.org/x",
        str(tmp_path / "ok.txt"),
    ]

    items = list(expand(specs))

    assert _paths(items) == [str(tmp_path / "ok.txt")]
    errors = [i for i in items if isinstance(i, SpecError)]
    assert [e.item for e in errors] == specs[:4]
    assert [str(e) for e in errors] == [
        "no such file or directory",
        "unsupported file type .pdf: supported .txt .md .html .htm",
        "glob matched no files",
        "unsupported URL scheme ftp: only http and https",
    ]


def test_expand_globs_sorted_and_recursive(tmp_path: Path) -> None:
    for name in ("b.txt", "a.txt", "c.pdf", "deep/er/z.txt", "deep/y.htm"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)

    flat = list(expand([str(tmp_path / "*.txt")]))
    assert flat == [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]
    deep = list(expand([str(tmp_path / "**" / "*")]))
    assert deep == sorted(
        str(tmp_path / n) for n in ("a.txt", "b.txt", "deep/er/z.txt", "deep/y.htm")
    )
    only_pdf = list(expand([str(tmp_path / "*.pdf")]))
    assert "glob matched no supported files" in _errors(only_pdf)[0]


def test_expand_thousands_of_files_is_quick(tmp_path: Path) -> None:
    for d in range(20):
        sub = tmp_path / f"d{d:02}"
        sub.mkdir()
        for i in range(100):
            (sub / f"{i:04}.txt").touch()
    started = time.perf_counter()
    items = list(expand([str(tmp_path)]))
    assert len(items) == 2000
    assert items == sorted(items)
    assert time.perf_counter() - started < 2.0


def test_expand_max_files_stops_with_an_error(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"{i}.txt").write_text("x")
    items = list(expand([str(tmp_path)], max_files=3))
    assert len(_paths(items)) == 3
    assert "more than 3 files" in _errors(items)[0]


def test_expand_survives_a_symlink_loop(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    assert list(expand([str(tmp_path)])) == [str(tmp_path / "a.txt")]


# read_file


def test_read_file_kinds(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_bytes(b"# T\n")
    (tmp_path / "b.HTM").write_bytes(ARTICLE)
    md = read_file(tmp_path / "a.md", max_bytes=100)
    assert (md.kind, md.data, md.path, md.url) == ("text", b"# T\n", tmp_path / "a.md", None)
    assert md.source == str((tmp_path / "a.md").resolve())
    assert read_file(tmp_path / "b.HTM", max_bytes=1000).kind == "html"


def test_read_file_over_the_limit_names_both_sizes(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    with big.open("wb") as f:
        f.truncate(50 * 1024 * 1024)  # sparse: instant, and never read
    with pytest.raises(SourceError) as info:
        read_file(big, max_bytes=10 * 1024 * 1024)
    assert str(info.value) == "file is 52428800 bytes, over the limit of 10485760 bytes"


def test_read_file_os_errors_are_source_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot read: No such file or directory"):
        read_file(tmp_path / "gone.txt", max_bytes=100)
    with pytest.raises(SourceError, match=r"unsupported file type \.pdf"):
        read_file(tmp_path / "x.pdf", max_bytes=100)
    locked = tmp_path / "locked.txt"
    locked.write_text("secret")
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as root: permissions are not enforced")
        with pytest.raises(SourceError, match="cannot read: Permission denied"):
            read_file(locked, max_bytes=100)
    finally:
        locked.chmod(0o600)


# fetch_url against a real server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen_agents: list[str] = []  # noqa: RUF012 — shared on purpose: the test reads what arrived

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean

    def _send(self, status: int, body: bytes, ctype: str = "text/html; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, to: str) -> None:
        self.send_response(302)
        self.send_header("Location", to)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.seen_agents.append(self.headers.get("User-Agent", ""))
        path = self.path
        if path == "/article":
            self._send(200, ARTICLE)
        elif path == "/latin1":
            self._send(200, "café".encode("latin-1"), "text/plain; charset=ISO-8859-1")
        elif path == "/no-type":
            self.send_response(200)
            self.send_header("Content-Length", str(len(ARTICLE)))
            self.end_headers()
            self.wfile.write(ARTICLE)
        elif path.startswith("/hop/"):
            n = int(path.rsplit("/", 1)[1])
            self._redirect(f"/hop/{n - 1}" if n > 0 else "/article")
        elif path == "/loop":
            self._redirect("/loop")
        elif path == "/to-ftp":
            self._redirect("ftp://127.0.0.1/x")
        elif path == "/missing":
            self._send(404, b"not here")
        elif path == "/broken":
            self._send(500, b"oops")
        elif path == "/pdf":
            self._send(200, b"%PDF-1.4 ...", "application/pdf")
        elif path == "/big":
            self._send(200, b"x" * 5000)
        elif path == "/big-no-length":
            # HTTP/1.0-style body: no Content-Length, ends when the connection closes.
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Connection", "close")
            self.end_headers()
            for _ in range(50):
                self.wfile.write(b"y" * 1000)
            self.close_connection = True
        elif path == "/bad-gzip":
            body = b"this is not gzip at all"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "30")
            self.end_headers()
            with contextlib.suppress(OSError):
                for _ in range(30):
                    self.wfile.write(b"t")
                    self.wfile.flush()
                    time.sleep(0.05)
        elif path == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.flush()
            time.sleep(1.0)
            with contextlib.suppress(OSError):  # the client gave up, as it should
                self.wfile.write(b"z" * 100)
        else:
            self._send(404, b"?")


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that hang up early (size cap, timeouts) are what the tests do


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = _QuietServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def local_fetch(url: str, **kwargs: Any) -> Any:
    """fetch_url with leave to reach the test's server on loopback (--allow-private)."""
    with make_guarded_client(allow_private=True) as client:
        return fetch_url(url, client=client, **kwargs)


def test_fetch_without_a_client_refuses_private_addresses(server: str) -> None:
    with pytest.raises(SourceError, match=r"refused: 127\.0\.0\.1 is a loopback address"):
        fetch_url(f"{server}/article", max_bytes=10_000)


def test_fetch_html(server: str) -> None:
    raw = local_fetch(f"{server}/article", max_bytes=10_000)
    assert raw.kind == "html"
    assert raw.data == ARTICLE
    assert raw.url == raw.source == f"{server}/article"
    assert (raw.content_type, raw.charset, raw.path) == ("text/html", "utf-8", None)
    assert _Handler.seen_agents[-1] == USER_AGENT


def test_fetch_plain_text_keeps_the_header_charset(server: str) -> None:
    raw = local_fetch(f"{server}/latin1", max_bytes=10_000)
    assert (raw.kind, raw.charset, raw.data) == ("text", "iso-8859-1", "café".encode("latin-1"))


def test_fetch_without_content_type_sniffs_html(server: str) -> None:
    assert local_fetch(f"{server}/no-type", max_bytes=10_000).kind == "html"


def test_fetch_follows_redirects_to_the_final_url(server: str) -> None:
    with make_http_client() as client:
        raw = fetch_url(f"{server}/hop/3", max_bytes=10_000, client=client)
    assert raw.url == raw.source == f"{server}/article"
    assert raw.data == ARTICLE


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/loop", "too many redirects (more than 5)"),
        ("/hop/9", "too many redirects (more than 5)"),
        ("/to-ftp", "redirected to an unsupported URL"),
        ("/missing", "HTTP 404 Not Found"),
        ("/broken", "HTTP 500 Internal Server Error"),
        ("/pdf", "unsupported content type application/pdf: expected an HTML page or plain text"),
        ("/big", "page is 5000 bytes, larger than 1000 bytes"),
        ("/big-no-length", "page is larger than 1000 bytes"),
        ("/bad-gzip", "cannot decode the response body"),
    ],
)
def test_fetch_failures_are_one_line_source_errors(server: str, path: str, message: str) -> None:
    with pytest.raises(SourceError) as info:
        local_fetch(f"{server}{path}", max_bytes=1000)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_server_errors_are_retryable_client_errors_not(server: str) -> None:
    with pytest.raises(SourceError) as info:
        local_fetch(f"{server}/broken", max_bytes=1000)
    assert info.value.retryable
    with pytest.raises(SourceError) as info:
        local_fetch(f"{server}/missing", max_bytes=1000)
    assert not info.value.retryable


def test_fetch_read_timeout(server: str) -> None:
    started = time.perf_counter()
    with pytest.raises(SourceError, match=r"^timed out after 0.2s \(read\)$"):
        local_fetch(f"{server}/slow", max_bytes=1000, read_timeout=0.2)
    assert time.perf_counter() - started < 1.0


def test_fetch_total_timeout_stops_a_trickle(server: str) -> None:
    started = time.perf_counter()
    with pytest.raises(SourceError, match=r"^timed out after 0.3s \(download\)$"):
        local_fetch(f"{server}/trickle", max_bytes=1000, read_timeout=1.0, total_timeout=0.3)
    assert time.perf_counter() - started < 1.0


def test_fetch_unreachable_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens on the port once the socket is closed: the connection is refused.
    with pytest.raises(SourceError, match=r"^cannot connect: .*refused"):
        local_fetch(f"http://127.0.0.1:{port}/", max_bytes=1000, connect_timeout=1.0)


def test_fetch_dns_failure_names_the_reason() -> None:
    def unknown_host(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=request)

    client = httpx.Client(transport=httpx.MockTransport(unknown_host))
    with pytest.raises(SourceError, match=r"^cannot connect: Name or service not known$"):
        fetch_url("http://no-such-host.invalid/", max_bytes=10, client=client)


def test_fetch_connect_timeout_is_reported_as_such() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    client = httpx.Client(transport=httpx.MockTransport(refuse))
    with pytest.raises(SourceError, match=r"^timed out after 0.5s \(connect\)$"):
        fetch_url("http://example.invalid/", max_bytes=10, client=client, connect_timeout=0.5)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.org/x", "unsupported URL scheme ftp: only http and https"),
        ("file:///etc/passwd", "unsupported URL scheme file: only http and https"),
        ("http://", "invalid URL"),
    ],
)
def test_fetch_only_http_and_https(url: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        fetch_url(url, max_bytes=10)
