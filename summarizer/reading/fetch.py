"""http(s) -> raw documents and feed responses: every request to the network for a page or a
feed happens here, with timeouts, a size cap, a redirect limit and (for feed jobs) the guard
against private addresses."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urljoin

import httpx

from summarizer import __version__
from summarizer.errors import RefusedAddress, SourceError
from summarizer.reading.sources import RawDocument, sniff_kind

USER_AGENT = f"summarizer/{__version__} (article ingest for a local corpus; python-httpx)"
MAX_REDIRECTS = 5

# Content types we accept from a server, and how the body is treated.
_CONTENT_KINDS: dict[str, Literal["text", "html"]] = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/plain": "text",
    "text/markdown": "text",
}


class NotModified(Exception):
    """The server answered 304 to a conditional GET: the page is the one already stored."""


def validators(response: httpx.Response) -> str | None:
    """The response's ETag and Last-Modified as JSON (None without either): what a later
    conditional GET sends back."""
    found = {k: response.headers[k] for k in ("etag", "last-modified") if k in response.headers}
    return json.dumps(found, sort_keys=True) if found else None


def _conditional(stored: str | None) -> dict[str, str]:
    """The If-None-Match / If-Modified-Since headers for validators() stored earlier."""
    try:
        known = json.loads(stored) if stored else {}
    except ValueError:
        return {}  # a file's fingerprint, or nothing usable
    if not isinstance(known, dict):
        return {}
    headers = {}
    if isinstance(known.get("etag"), str):
        headers["If-None-Match"] = known["etag"]
    if isinstance(known.get("last-modified"), str):
        headers["If-Modified-Since"] = known["last-modified"]
    return headers


def make_http_client(
    *,
    connect_timeout: float = 5.0,
    read_timeout: float = 20.0,
    max_redirects: int = MAX_REDIRECTS,
) -> httpx.Client:
    """An httpx client for fetching pages: timeouts, a redirect limit and our User-Agent."""
    return httpx.Client(
        timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
        follow_redirects=True,
        max_redirects=max_redirects,
        headers={
            "User-Agent": USER_AGENT,
            "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1",
        },
    )


def check_http_url(url: str) -> None:
    """SourceError unless `url` is a well-formed http(s) URL with a host."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as e:
        raise SourceError(f"invalid URL: {e}") from None
    if parsed.scheme not in ("http", "https"):
        raise SourceError(
            f"unsupported URL scheme {parsed.scheme or '(none)'}: only http and https"
        )
    if not parsed.host:
        raise SourceError("invalid URL: no host")


def fetch_url(
    url: str,
    *,
    max_bytes: int,
    client: httpx.Client | None = None,
    connect_timeout: float = 5.0,
    read_timeout: float = 20.0,
    total_timeout: float = 120.0,
    if_changed_since: str | None = None,
) -> RawDocument:
    """GET one http(s) page, following redirects, within the size cap and timeouts.

    The timeouts given here apply to the request whatever `client` was built with; the
    client brings the redirect limit, User-Agent and connection pool. `total_timeout` bounds
    a server that keeps sending a trickle of bytes, which the per-read timeout never stops.
    `if_changed_since`, the validators of an earlier fetch, makes it a conditional GET:
    NotModified is raised when the server answers 304. Without a `client`, one with the guard
    against private addresses.
    """
    check_http_url(url)
    own_client = client is None
    http = client if client is not None else make_guarded_client(allow_private=False)
    timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
    try:
        with _http_errors(http, connect_timeout, read_timeout):
            doc = _fetch(http, url, max_bytes, timeout, total_timeout, if_changed_since)
            # A page that only sends the browser on (<meta http-equiv="refresh" content="0;
            # url=...">) is followed like a redirect, within the same limit and guard.
            for _ in range(http.max_redirects):
                target = _meta_refresh(doc)
                if target is None:
                    break
                check_http_url(target)
                doc = _fetch(http, target, max_bytes, timeout, total_timeout)
            else:
                if _meta_refresh(doc) is not None:
                    raise SourceError(f"too many redirects (more than {http.max_redirects})")
            return doc
    finally:
        if own_client:
            http.close()


_META_REFRESH = re.compile(
    rb"""<meta[^>]*http-equiv\s*=\s*["']?refresh["']?[^>]*>""", re.IGNORECASE
)
_REFRESH_URL = re.compile(
    rb"""content\s*=\s*["']?\s*(\d*)\s*[;,]\s*url\s*=\s*["']?([^"'>\s]+)""", re.I
)
_TAG = re.compile(rb"<(script|style)[^>]*>.*?</\1>|<[^>]+>", re.IGNORECASE | re.DOTALL)


def _meta_refresh(doc: RawDocument) -> str | None:
    """Where a page with a meta refresh (within 10 s) and hardly any text of its own sends the
    reader, or None."""
    if doc.kind != "html" or doc.url is None:
        return None
    tag = _META_REFRESH.search(doc.data[:65536])
    if tag is None:
        return None
    found = _REFRESH_URL.search(tag.group(0))
    if found is None or int(found.group(1) or 0) > 10:
        return None
    if len(_TAG.sub(b" ", doc.data).split()) > 50:
        return None  # a page of its own that also refreshes itself
    target = urljoin(doc.url, html.unescape(found.group(2).decode("utf-8", "replace")))
    return None if target == doc.url else target


@contextmanager
def _http_errors(http: httpx.Client, connect_timeout: float, read_timeout: float) -> Iterator[None]:
    """httpx's exceptions -> one-line SourceErrors (retryable where trying later may work)."""
    try:
        yield
    except httpx.ConnectTimeout:
        raise SourceError(
            f"timed out after {connect_timeout:g}s (connect)", retryable=True
        ) from None
    except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout):
        raise SourceError(f"timed out after {read_timeout:g}s (read)", retryable=True) from None
    except httpx.TooManyRedirects:
        raise SourceError(f"too many redirects (more than {http.max_redirects})") from None
    except httpx.UnsupportedProtocol as e:
        raise SourceError(f"redirected to an unsupported URL: {e}") from None
    except httpx.ConnectError as e:
        raise SourceError(f"cannot connect: {_reason(e)}", retryable=True) from None
    except httpx.TransportError as e:
        raise SourceError(f"connection failed: {_reason(e)}", retryable=True) from None
    except httpx.InvalidURL as e:
        raise SourceError(f"invalid URL: {e}") from None
    except httpx.DecodingError as e:
        raise SourceError(f"cannot decode the response body: {_reason(e)}") from None
    except httpx.HTTPError as e:
        raise SourceError(f"request failed: {_reason(e)}") from None


def _reason(e: Exception) -> str:
    """The reason without errno noise: '[Errno 111] Connection refused' -> 'Connection refused'."""
    text = str(e) or type(e).__name__
    text = re.sub(r"\[Errno -?\d+\]\s*", "", text)
    return " ".join(text.split())


def _read_capped(
    response: httpx.Response, what: str, max_bytes: int, started: float, total_timeout: float
) -> bytes:
    """The body, refused past `max_bytes` (announced or received) or past the total deadline."""
    length = response.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise SourceError(f"{what} is {length} bytes, larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    # No chunk size: each piece as it arrives, so the deadline is checked during a trickle.
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise SourceError(f"{what} is larger than {max_bytes} bytes")
        chunks.append(chunk)
        if time.monotonic() - started > total_timeout:
            raise SourceError(f"timed out after {total_timeout:g}s (download)", retryable=True)
    return b"".join(chunks)


def _raise_for_status(response: httpx.Response) -> None:
    """An HTTP error status as a SourceError; 429 and 5xx may pass when tried later."""
    status = response.status_code
    if status >= 400:
        raise SourceError(
            f"HTTP {status} {response.reason_phrase}".rstrip(),
            retryable=status == 429 or status >= 500,
        )


def _fetch(
    http: httpx.Client,
    url: str,
    max_bytes: int,
    timeout: httpx.Timeout,
    total_timeout: float,
    if_changed_since: str | None = None,
) -> RawDocument:
    started = time.monotonic()
    headers = _conditional(if_changed_since)
    with http.stream("GET", url, timeout=timeout, headers=headers) as response:
        if response.status_code == 304 and headers:
            raise NotModified(url)
        _raise_for_status(response)
        raw_type = response.headers.get("content-type")
        media_type = raw_type.split(";")[0].strip().lower() if raw_type else None
        kind: Literal["text", "html"] | None = None
        if media_type:
            kind = _CONTENT_KINDS.get(media_type)
            if kind is None:
                raise SourceError(
                    f"unsupported content type {media_type}: expected an HTML page or plain text"
                )
        data = _read_capped(response, "page", max_bytes, started, total_timeout)
        final_url = str(response.url)
        return RawDocument(
            source=final_url,
            kind=kind or sniff_kind(data[:1024]),
            data=data,
            url=final_url,
            content_type=media_type,
            charset=response.charset_encoding,
            validators=validators(response),
        )


# --- feeds, and the guard against private addresses -------------------------------------------

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, "
    "text/xml;q=0.9, application/json;q=0.8, */*;q=0.1"
)
# Response headers a feed parser may use: the media type and charset, the base for relative links.
_FEED_HEADERS = ("content-type", "content-location", "content-language", "etag", "last-modified")


@dataclass(frozen=True)
class FeedResponse:
    """One fetch of a feed: 304 (not modified, no body) or 200 with the body within the cap."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes = b""

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def address_problem(address: str) -> str | None:
    """Why connecting to an IP address is refused ("a loopback address", ...), or None."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address inside an IPv6 one reaches that IPv4 host: mapped (::ffff:a.b.c.d),
        # compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
        packed = int(ip)
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif (0xFFFF < packed < 1 << 32) or ip in ipaddress.ip_network("64:ff9b::/96"):
            ip = ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global or ip.is_multicast:
        return "a non-public address"
    return None


def resolve(host: str, port: int, timeout: float) -> list[str]:
    """The addresses `host` resolves to, giving up after `timeout` seconds.

    getaddrinfo has no timeout of its own and a dead resolver stalls it for a long time, so it
    runs in a daemon thread that is left behind if it does not answer in time.
    """
    import socket
    import threading

    outcome: list[list[str] | BaseException] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            outcome.append([str(info[4][0]) for info in infos])
        except BaseException as e:  # handed to the caller's thread
            outcome.append(e)
        finally:
            done.set()

    threading.Thread(target=lookup, name=f"resolve {host}", daemon=True).start()
    if not done.wait(timeout):
        raise SourceError(f"cannot resolve {host}: no answer in {timeout:g} s", retryable=True)
    result = outcome[0]
    if isinstance(result, (socket.gaierror, UnicodeError)):
        raise SourceError(f"cannot resolve {host}: {_reason(result)}", retryable=True)
    if isinstance(result, BaseException):
        raise result
    return result


def check_public(url: str | httpx.URL, *, timeout: float = 5.0) -> None:
    """Refuse a URL whose host is, or resolves to, a loopback, private or link-local address.

    Every address the name resolves to is checked: a name with one public and one private
    address is refused, since the connection may use either. The lookup gives up after
    `timeout` seconds.
    """
    parsed = httpx.URL(str(url)) if not isinstance(url, httpx.URL) else url
    host = parsed.host
    if not host:
        raise SourceError("invalid URL: no host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    for address in resolve(host, port, timeout):
        problem = address_problem(address)
        if problem:
            where = host if host == address else f"{host} ({address})"
            raise RefusedAddress(
                f"refused: {where} is {problem}",
                hint="pass --allow-private to fetch from intranet hosts",
            )


def _check_request(request: httpx.Request) -> None:
    # The lookup is bounded by the request's connect timeout, as a connection would be.
    timeouts = request.extensions.get("timeout") or {}
    check_public(request.url, timeout=timeouts.get("connect") or 5.0)


def _check_peer(response: httpx.Response) -> None:
    """The address actually connected to, which a name resolving differently a moment after
    the check (DNS rebinding) could have changed."""
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    if not peer:
        return
    problem = address_problem(str(peer[0]))
    if problem:
        raise RefusedAddress(
            f"refused: {response.request.url.host} connected to {peer[0]}, {problem}",
            hint="pass --allow-private to fetch from intranet hosts",
        )


def make_guarded_client(
    *, allow_private: bool, connect_timeout: float = 5.0, read_timeout: float = 20.0
) -> httpx.Client:
    """An httpx client (as make_http_client) that, unless `allow_private`, refuses every request,
    redirects included, to a loopback, private or link-local address."""
    import urllib.request

    client = make_http_client(connect_timeout=connect_timeout, read_timeout=read_timeout)
    if not allow_private:
        # Through a proxy the peer is the proxy, often on a private address: the names are still
        # checked before each request, the peer only when connecting directly.
        proxied = any(k in ("http", "https", "all") for k in urllib.request.getproxies())
        client.event_hooks = {
            "request": [_check_request],
            "response": [] if proxied else [_check_peer],
        }
    return client


def fetch_feed(
    url: str,
    *,
    client: httpx.Client,
    max_bytes: int,
    etag: str | None = None,
    last_modified: str | None = None,
    connect_timeout: float = 5.0,
    read_timeout: float = 20.0,
    total_timeout: float = 120.0,
) -> FeedResponse:
    """GET a feed with a conditional request (If-None-Match / If-Modified-Since): 304 means
    nothing new. The body is capped at `max_bytes`; HTTP errors are SourceErrors."""
    check_http_url(url)
    headers = {"Accept": FEED_ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
    started = time.monotonic()
    with (
        _http_errors(client, connect_timeout, read_timeout),
        client.stream("GET", url, headers=headers, timeout=timeout) as response,
    ):
        kept = {k: v for k in _FEED_HEADERS if (v := response.headers.get(k)) is not None}
        final_url = str(response.url)
        if response.status_code == 304:
            return FeedResponse(final_url, 304, kept)
        _raise_for_status(response)
        data = _read_capped(response, "feed", max_bytes, started, total_timeout)
        return FeedResponse(final_url, response.status_code, kept, data)
