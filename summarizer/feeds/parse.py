"""Pure: feed bytes -> entries with a stable identity; feed lists (OPML or one URL per line).

RSS 0.9x/1.0/2.0 and Atom are read by feedparser, which never raises: ill-formed XML sets `bozo`
and usually still yields entries. Around it, this module
- drops a DOCTYPE that declares entities before anything parses it, so no entity is ever
  expanded ("billion laughs" and quadratic blow-up cost nothing);
- tells feedparser the charset it would otherwise guess wrong (a feed in Big5 or KOI8-R that
  declares nothing), found by charset-normalizer;
- reads JSON Feed 1.0/1.1 itself (feedparser 6 does not);
- retries a feed that yields nothing because its root element carries an undeclared prefix
  (`<rss:channel>`), without the prefix.
"""

from __future__ import annotations

import codecs
import html
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from summarizer.corpus import content_hash
from summarizer.errors import FeedError

# Feeds often declare nothing and lie about the rest: a guess needs a long enough sample.
_CHARSET_SAMPLE = 256 * 1024
_XML_ENCODING_DECL = re.compile(rb"^\s*<\?xml[^>]*\bencoding\s*=", re.IGNORECASE)
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE,
         codecs.BOM_UTF16_BE)  # fmt: skip
# Longest first: the UTF-32 LE BOM starts with the UTF-16 LE one.
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# "<?" or "<" in UTF-16/32 without a BOM (XML 1.0, appendix F).
_WIDE_STARTS = (
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
)
_ROOT_PREFIX = re.compile(rb"<([A-Za-z_][\w.-]*):(?:rss|RDF|feed|channel)\b")
_TAG = re.compile(r"<[^>]{0,2000}>")
_SPACES = re.compile(r"\s+")
_HTML_TYPES = ("text/html", "application/xhtml+xml", "html", "xhtml")


@dataclass(frozen=True)
class FeedEntry:
    """One item of a feed, with the key that identifies it within its feed."""

    key: str
    guid: str | None
    link: str | None
    title: str
    published: str | None
    author: str | None
    content: str
    content_type: str  # "html" or "text"
    content_hash: str | None
    text_length: int = 0  # of the content without its markup
    updated: str | None = None  # when the feed says the item last changed


@dataclass
class ParsedFeed:
    title: str | None
    version: str
    entries: list[FeedEntry]
    warnings: list[str] = field(default_factory=list)


# --- identity --------------------------------------------------------------------------------


def normalize_text(text: str) -> str:
    """Markup and runs of white space removed: the text two copies of an entry share."""
    return _SPACES.sub(" ", html.unescape(_TAG.sub(" ", text))).strip()


def entry_key(guid: str | None, link: str | None, title: str, content: str) -> str | None:
    """What identifies an entry within its feed: its id (guid), else its link, else a hash of
    its title and content; None for an entry with none of them."""
    from summarizer.corpus import canonical_url

    if guid:
        return f"id:{guid}"
    if link:
        return f"link:{canonical_url(link)}"
    body = normalize_text(f"{title}\n{content}")
    return f"hash:{content_hash(body)}" if body else None


# --- parsing ---------------------------------------------------------------------------------


def parse_feed(body: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """Entries of an RSS, Atom or JSON feed. Raises FeedError when `body` is no feed at all."""
    if not body.strip():
        raise FeedError("empty response, not a feed")
    if _looks_like_json(body):
        return _parse_json_feed(body, url)
    warnings: list[str] = []
    body, dropped = drop_entity_declarations(body)
    if dropped:
        warnings.append("its DOCTYPE declares XML entities: ignored, nothing was expanded")
    result = _feedparser(body, url, content_type)
    if not result.entries and result.bozo:
        repaired = _without_undeclared_prefix(body)
        if repaired is not None:
            again = _feedparser(repaired, url, content_type)
            if again.entries:
                result = again
                warnings.append("undeclared namespace prefix on its elements: read without it")
    if not result.entries and not result.get("version"):
        # Nothing recognisable as a feed; an empty feed of a known kind is fine.
        if result.bozo:
            raise FeedError(f"not a feed: {_bozo_reason(result.get('bozo_exception'))}")
        raise FeedError("not an RSS, Atom or JSON feed")
    if result.bozo:
        reason = _bozo_reason(result.get("bozo_exception"))
        n = len(result.entries)
        warnings.append(f"ill-formed feed ({reason}); read {n} entr{'y' if n == 1 else 'ies'}")
    feed_author = clean_text(result.feed.get("author"))
    entries, skipped = _entries(result.entries, feed_author)
    if skipped:
        warnings.append(f"{skipped} entries without id, link, title or content skipped")
    return ParsedFeed(
        title=clean_text(result.feed.get("title")),
        version=str(result.get("version") or ""),
        entries=entries,
        warnings=warnings,
    )


def _feedparser(body: bytes, url: str, content_type: str | None) -> Any:
    import feedparser

    media = content_type or "application/xml"
    charset = _charset_hint(body, media)
    if charset:
        media = f"{media.split(';')[0].strip()}; charset={charset}"
    headers = {"content-type": media, "content-location": url}
    return feedparser.parse(body, response_headers=headers)


def _bozo_reason(error: object) -> str:
    if error is None:
        return "unknown reason"
    get_message = getattr(error, "getMessage", None)
    line = getattr(error, "getLineNumber", None)
    if callable(get_message) and callable(line):
        return f"{get_message()} at line {line()}"
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:200]


def _charset_hint(body: bytes, content_type: str) -> str | None:
    """The charset of a feed that declares none and is not UTF-8, as charset-normalizer guesses
    it; None when the feed, its BOM or its Content-Type says, or when it is UTF-8."""
    if "charset=" in content_type.lower() or body.startswith(_BOMS):
        return None
    if any(body.startswith(start) for start, _ in _WIDE_STARTS):
        return None
    if _XML_ENCODING_DECL.match(body[:1024]):
        return None
    try:
        body.decode("utf-8")
        return None
    except UnicodeDecodeError:
        pass
    import charset_normalizer

    results = list(charset_normalizer.from_bytes(body[:_CHARSET_SAMPLE]))
    if not results:
        return None
    # On short Western text the single-byte code pages all decode with next to no chaos and
    # the first listed wins ("à" became "ą"): among those about as clean as the cleanest, the
    # one whose letters fit the language best, windows-1252 (the web's default) on a tie.
    least = min(m.chaos for m in results)
    clean = [m for m in results if m.chaos <= least + 0.02]
    best = max(clean, key=lambda m: (m.coherence, "cp1252" in m.could_be_from_charset))
    return "cp1252" if "cp1252" in best.could_be_from_charset else str(best.encoding)


def _without_undeclared_prefix(body: bytes) -> bytes | None:
    match = _ROOT_PREFIX.search(body[:8192])
    if match is None:
        return None
    prefix = match.group(1)
    if re.search(rb"xmlns:" + re.escape(prefix) + rb"\s*=", body):
        return None
    return re.sub(rb"(</?|\s)" + re.escape(prefix) + rb":", rb"\1", body)


def _entries(raw_entries: list[Any], feed_author: str | None) -> tuple[list[FeedEntry], int]:
    entries: list[FeedEntry] = []
    skipped = 0
    seen: set[str] = set()
    for e in raw_entries:
        content, content_type = _content(e)
        guid = clean_text(e.get("id"))
        link = _http_link(e)
        title = _title(e)
        key = entry_key(guid, link, title, content)
        if key is None:
            skipped += 1
            continue
        if key in seen:  # the same item twice in one document: the first one counts
            continue
        seen.add(key)
        body = normalize_text(content)
        entries.append(
            FeedEntry(
                key=key,
                guid=guid,
                link=link,
                title=title or (link or "(untitled)"),
                # dict.get: feedparser's own get warns when it maps one key to the other
                published=_iso(dict.get(e, "published_parsed") or dict.get(e, "updated_parsed")),
                author=clean_text(e.get("author")) or feed_author,
                content=content,
                content_type=content_type,
                content_hash=content_hash(body) if body else None,
                text_length=len(body),
                updated=_iso(dict.get(e, "updated_parsed")),
            )
        )
    return entries, skipped


def _content(e: Any) -> tuple[str, str]:
    """content[0].value, else the summary; and whether it is HTML or text."""
    for item in e.get("content") or []:
        value = item.get("value") or ""
        if value.strip():
            return value, _kind(item.get("type"))
    summary = e.get("summary") or ""
    detail = e.get("summary_detail") or {}
    return summary, _kind(detail.get("type"))


def _kind(mime: str | None) -> str:
    return "html" if (mime or "text/html").lower() in _HTML_TYPES else "text"


def _title(e: Any) -> str:
    title = e.get("title") or ""
    detail = e.get("title_detail") or {}
    if _kind(detail.get("type", "text/plain")) == "html":
        title = normalize_text(title)
    return " ".join(title.split())


def usable_link(link: str | None) -> str | None:
    """`link` when it is an http(s) URL that can be fetched and named (a valid port), else None."""
    if not link or not re.match(r"^https?://[^/\s]", link.strip(), re.IGNORECASE):
        return None
    try:
        urlsplit(link.strip()).port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return None
    return link.strip()


def _http_link(e: Any) -> str | None:
    candidates = [e.get("link")]
    candidates += [
        link.get("href") for link in e.get("links") or [] if link.get("rel") == "alternate"
    ]
    for candidate in candidates:
        link = usable_link(candidate) if isinstance(candidate, str) else None
        if link:
            return link
    return None


def clean_text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    return text or None


def _iso(parsed: Any) -> str | None:
    """A feedparser time tuple (UTC) -> ISO 8601."""
    if not parsed:
        return None
    try:
        year, month, day, hour, minute, second = parsed[:6]
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC).isoformat()
    except (TypeError, ValueError):
        return None


# --- JSON Feed -------------------------------------------------------------------------------


def _looks_like_json(body: bytes) -> bool:
    start = body.lstrip(b" \t\r\n\xef\xbb\xbf")[:1]
    return start == b"{"


def _parse_json_feed(body: bytes, url: str) -> ParsedFeed:
    from urllib.parse import urljoin

    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise FeedError(f"not a feed: invalid JSON ({' '.join(str(e).split())[:120]})") from None
    if not isinstance(data, dict) or "jsonfeed.org" not in str(data.get("version", "")):
        raise FeedError("not a feed: JSON without a jsonfeed.org version")
    items = data.get("items")
    if not isinstance(items, list):
        raise FeedError("not a feed: JSON Feed without items")
    feed_author = _json_author(data)
    entries: list[FeedEntry] = []
    skipped = 0
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict):
            skipped += 1
            continue
        guid = clean_text(str(item["id"])) if item.get("id") is not None else None
        link = item.get("url") or item.get("external_url")
        link = usable_link(urljoin(url, link)) if isinstance(link, str) and link.strip() else None
        html_content = item.get("content_html")
        text_content = item.get("content_text") or item.get("summary") or ""
        content, kind = (
            (html_content, "html") if isinstance(html_content, str) and html_content.strip()
            else (str(text_content), "text")
        )  # fmt: skip
        title = clean_text(item.get("title")) or ""
        key = entry_key(guid, link, title, content)
        if key is None:
            skipped += 1
            continue
        if key in seen:
            continue
        seen.add(key)
        plain = normalize_text(content)
        entries.append(
            FeedEntry(
                key=key,
                guid=guid,
                link=link,
                title=title or (link or "(untitled)"),
                published=_json_date(item.get("date_published") or item.get("date_modified")),
                author=_json_author(item) or feed_author,
                content=content,
                content_type=kind,
                content_hash=content_hash(plain) if plain else None,
                text_length=len(plain),
            )
        )
    warnings = [f"{skipped} entries without id, link, title or content skipped"] if skipped else []
    version = str(data.get("version", "")).rstrip("/").rsplit("/", 1)[-1]
    return ParsedFeed(clean_text(data.get("title")), f"json{version}", entries, warnings)


def _json_author(obj: dict[str, Any]) -> str | None:
    authors = obj.get("authors")
    if isinstance(authors, list) and authors and isinstance(authors[0], dict):
        return clean_text(authors[0].get("name"))
    author = obj.get("author")
    return clean_text(author.get("name")) if isinstance(author, dict) else None


def _json_date(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat()


# --- entity declarations ---------------------------------------------------------------------


def drop_entity_declarations(data: bytes) -> tuple[bytes, bool]:
    """`data` without its DOCTYPE if the DOCTYPE declares entities (and whether it did).

    Feeds have no use for entity declarations; an attacker has: a few nested ones expand to
    gigabytes. Encodings other than UTF-16/32 share ASCII's bytes for the prolog, so the DOCTYPE
    is found in the bytes themselves; UTF-16/32 documents are decoded, cut and encoded back.
    """
    codec, bom = _wide_codec(data)
    if codec is None:
        text = data.decode("latin-1")  # one character per byte: offsets are byte offsets
        span = _entity_doctype(text)
        if span is None:
            return data, False
        return data[: span[0]] + data[span[1] :], True
    body = data[len(bom) :]
    span = _entity_doctype(body.decode(codec, errors="replace"))
    if span is None:
        return data, False
    try:
        text = body.decode(codec)
    except UnicodeDecodeError:
        raise FeedError(f"declares XML entities and is not valid {codec}") from None
    return bom + (text[: span[0]] + text[span[1] :]).encode(codec), True


def _wide_codec(data: bytes) -> tuple[str | None, bytes]:
    for bom, codec in _WIDE_BOMS:
        if data.startswith(bom):
            return codec, bom
    for start, codec in _WIDE_STARTS:
        if data.startswith(start):
            return codec, b""
    return None, b""


def _entity_doctype(text: str) -> tuple[int, int] | None:
    """The span of a prolog DOCTYPE that declares entities, or None."""
    start = _prolog_doctype(text)
    if start is None:
        return None
    end = _doctype_end(text, start)
    if "<!ENTITY" not in text[start:end]:
        return None
    return start, end


def _prolog_doctype(text: str) -> int | None:
    """Where the DOCTYPE starts, if it comes before the root element (after a BOM, the XML
    declaration, processing instructions and comments)."""
    i = 0
    n = len(text)
    for bom in ("\ufeff", "\xef\xbb\xbf"):
        if text.startswith(bom):
            i = len(bom)
    while i < n:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if text.startswith("<?", i):
            end = text.find("?>", i + 2)
        elif text.startswith("<!--", i):
            end = text.find("-->", i + 4)
        elif text.startswith("<!DOCTYPE", i):
            return i
        else:
            return None
        if end < 0:
            return None
        i = end + (2 if text.startswith("<?", i) else 3)
    return None


def _doctype_end(text: str, start: int) -> int:
    """The end of the DOCTYPE that starts at `start`: its closing `>` outside quotes, comments
    and the internal subset (the end of the text when it never closes)."""
    i = start + len("<!DOCTYPE")
    n = len(text)
    quote = ""
    in_subset = False
    while i < n:
        c = text[i]
        if quote:
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif in_subset and text.startswith("<!--", i):
            close = text.find("-->", i + 4)
            if close < 0:
                return n
            i = close + 3
            continue
        elif c == "[":
            in_subset = True
        elif c == "]":
            in_subset = False
        elif c == ">" and not in_subset:
            return i + 1
        i += 1
    return n
