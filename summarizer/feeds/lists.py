"""Feed lists and feed names: what `summarizer feeds add` and `feeds import` accept.

A feed list is an OPML file (every outline with an xmlUrl) or plain text with one URL per line,
optionally followed by a name; lines starting with # are comments.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from summarizer.errors import FeedError
from summarizer.feeds.parse import clean_text, drop_entity_declarations

MAX_NAME_CHARS = 100
_BARE_AMPERSAND = re.compile(rb"&(?!#[0-9]+;|#x[0-9a-fA-F]+;|[A-Za-z_][\w.-]*;)")


def check_feed_url(url: str) -> str:
    """The URL as given, stripped; FeedError unless it is an absolute http(s) URL."""
    from urllib.parse import urlsplit

    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise FeedError(f"not an http(s) URL: {url!r}")
    return url


def default_name(url: str) -> str:
    """A short name for a feed: its host without www."""
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "feed").lower()
    return host.removeprefix("www.")


def check_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise FeedError("a feed name cannot be empty")
    if len(name) > MAX_NAME_CHARS:
        raise FeedError(f"a feed name has at most {MAX_NAME_CHARS} characters")
    if not name.isprintable():
        raise FeedError(f"a feed name cannot contain control characters: {name!r}")
    return name


@dataclass(frozen=True)
class ListedFeed:
    url: str
    name: str | None
    where: str  # "FILE:LINE" or "FILE: outline N", for messages
    # A name written by the user (in a plain list, as with --name) is never changed: taken, it
    # is refused. One taken from elsewhere (an OPML title, the host) is numbered: -2, -3...
    chosen: bool = False


def read_feed_list(data: bytes, source: str) -> Iterator[ListedFeed | FeedError]:
    """Feeds of an OPML file or of a list with one URL per line (optionally followed by a
    name; # starts a comment). Yields a FeedError, naming the place, for each unusable entry."""
    text = data.decode("utf-8-sig", errors="replace")
    if text.lstrip().startswith("<"):
        yield from _read_opml(data, source)
        return
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        url, _, name = line.partition(" ")
        where = f"{source}:{n}"
        try:
            yield ListedFeed(check_feed_url(url), name.strip() or None, where, chosen=bool(name))
        except FeedError as e:
            # The whole line: "not a url" is not a URL "not" followed by a name.
            said = e.message if not name.strip() else f"not an http(s) URL: {line!r}"
            yield FeedError(f"{where}: {said}")


def _read_opml(data: bytes, source: str) -> Iterator[ListedFeed | FeedError]:
    import xml.etree.ElementTree as ET

    data, dropped = drop_entity_declarations(data)
    # The commonest slip by far, a bare & (in "News & Politics", in a URL's query), means just
    # that: read as &amp;.
    data = _BARE_AMPERSAND.sub(b"&amp;", data)
    lines = False
    root: Any
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        # Hand-edited OPML is often not well-formed (a bare & in a title): a recovering parser
        # reads what it can, and each place it had to skip or mend is reported by its line.
        # Not a file that declared entities, though: those are refused, not worked around.
        from lxml import etree

        parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True)
        try:
            root = None if dropped else etree.fromstring(data, parser)
        except etree.XMLSyntaxError:
            root = None
        if root is None:
            why = " (its entity declarations are refused)" if dropped else ""
            yield FeedError(f"{source}: not well-formed OPML: {e}{why}")
            return
        for error in parser.error_log:
            yield FeedError(f"{source}:{error.line}: not well-formed OPML: {error.message}")
        lines = True
    outlines = [
        o for o in root.iter() if isinstance(o.tag, str) and o.tag.rsplit("}", 1)[-1] == "outline"
    ]
    found = False
    for n, outline in enumerate(outlines, 1):
        url = outline.get("xmlUrl") or outline.get("xmlurl")
        if not url:
            continue
        found = True
        where = f"{source}:{outline.sourceline}" if lines else f"{source}: outline {n}"
        name = outline.get("title") or outline.get("text")
        try:
            yield ListedFeed(check_feed_url(url), clean_text(name), where)
        except FeedError as e:
            yield FeedError(f"{where}: {e.message}")
    if not found:
        yield FeedError(f"{source}: no outline with an xmlUrl: not a feed list")
