"""Pure: the bytes of a file or page -> the article's text and metadata."""

from __future__ import annotations

import codecs
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from summarizer.errors import ExtractionError
from summarizer.words import SPACED_WORD, UNSPACED_CHAR

if TYPE_CHECKING:
    from lxml.html import HtmlElement

    from summarizer.reading.sources import RawDocument

TITLE_MAX_CHARS = 300

# Longest first: the UTF-32 LE BOM starts with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# C0 controls that do not occur in text; tab, newlines, form feed and ESC (ISO-2022-JP) do.
_CONTROL_BYTES = bytes(sorted(set(range(0x20)) - {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1B}))
# Browsers read these labels as windows-1252 (WHATWG Encoding), and so do servers' authors.
_LATIN1_LABELS = frozenset(
    {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1", "ascii", "us-ascii"}
)
# Characters XML (and so lxml) refuses; they never carry meaning in an article.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ISO_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})")

_BLOCK_TAGS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "br", "caption", "dd", "details"),
        *("dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form"),
        *("h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p"),
        *("pre", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr"),
        "ul",
    }
)


@dataclass(frozen=True)
class Extracted:
    """An article's text exactly as it will be stored, and what is known about it."""

    title: str
    text: str
    author: str | None
    date: str | None
    site: str | None
    url: str | None
    method: Literal["text", "trafilatura", "fallback"]
    warnings: tuple[str, ...] = ()


def word_count(text: str) -> int:
    """Words in `text`; Chinese and Japanese, written without spaces, count 2 characters a word."""
    cjk = len(UNSPACED_CHAR.findall(text))
    return len(SPACED_WORD.findall(text)) + math.ceil(cjk / 2)


MIN_WORDS = 40


def extract(raw: RawDocument, *, min_words: int = MIN_WORDS) -> Extracted:
    """The article in `raw`: a text file as it is, an HTML page's main text and metadata.

    Raises ExtractionError for binary or empty data, undecodable text, and articles of fewer
    than `min_words` words: one rule for pages (paywalls, cookie walls, pages without an
    article), feed texts and files (a headline alone is not an article).
    """
    try:
        doc = _extract_html(raw) if raw.kind == "html" else _extract_text(raw)
    except RecursionError:
        # Thousands of nested elements (or a CSS rule over them) outrun the parsers' recursion.
        raise ExtractionError(
            "the page's elements are nested too deeply to read (thousands of levels)"
        ) from None
    words = word_count(doc.text)
    if words < min_words:
        why = (
            "a paywall, cookie wall or a page without an article?"
            if raw.kind == "html"
            else "a headline without its article? (SUMMARIZER_MIN_WORDS sets the bar)"
        )
        raise ExtractionError(f"implausibly short: {words} words, under {min_words} — {why}")
    return doc


# Decoding


def _looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if b"\x00" in sample:
        return True
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return controls > len(sample) * 0.05


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 text saved without a byte order mark: in text that is mostly ASCII, every other
    byte is NUL (odd ones for little-endian, even ones for big-endian)."""
    sample = data[:4096]
    if len(sample) < 16 or len(sample) % 2:
        sample = sample[: len(sample) - len(sample) % 2]
    if len(sample) < 16:
        return None
    odd, even = sample[1::2], sample[0::2]
    for zeros, encoding in ((odd, "utf-16-le"), (even, "utf-16-be")):
        if zeros.count(0) >= 0.9 * len(zeros):
            text = _try_decode(data[: len(data) - len(data) % 2], encoding)
            if text is not None and "\x00" not in text:
                return text
    return None


def _try_decode(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _decode(raw: RawDocument) -> tuple[str, list[str]]:
    """Bytes -> text with \\n newlines: BOM, then UTF-8, then the declared charset, then a guess."""
    data = raw.data
    warnings: list[str] = []
    text: str | None = None
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            text = _try_decode(data, encoding)
            if text is None:
                text = data.decode(encoding, errors="replace")
                warnings.append(f"invalid {encoding} bytes replaced")
            break
    if text is None:
        text = _utf16_without_bom(data)
        if text is not None:
            warnings.append("text encoding guessed as UTF-16 (no byte order mark)")
    if text is None:
        if _looks_binary(data):
            raise ExtractionError("binary file, not text")
        if not data.strip():
            raise ExtractionError("empty")
        text = _try_decode(data, "utf-8")
    if text is None and raw.charset:
        charset = raw.charset.strip().lower()
        text = _try_decode(data, "cp1252" if charset in _LATIN1_LABELS else charset)
    if text is None:
        text, guess_warnings = _guess_decode(data, html=raw.kind == "html")
        warnings.extend(guess_warnings)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if not text.strip():
        raise ExtractionError("empty")
    return text, warnings


def _guess_decode(data: bytes, *, html: bool) -> tuple[str, list[str]]:
    if html:
        from bs4.dammit import UnicodeDammit

        # Honours <meta charset> and the XML declaration before guessing.
        dammit = UnicodeDammit(data, is_html=True)
        if dammit.unicode_markup is not None:
            warnings = []
            if dammit.contains_replacement_characters:
                warnings.append(f"undecodable bytes replaced ({dammit.original_encoding})")
            return dammit.unicode_markup, warnings
    import charset_normalizer

    results = charset_normalizer.from_bytes(data)
    best = results.best()
    if best is None:
        raise ExtractionError("cannot detect the text encoding")
    # On short Western text cp1250 and cp1252 tie and the first listed wins ("à" became "ŕ");
    # windows-1252 is the web's default for undeclared single-byte text, so it breaks the tie.
    for match in results:
        same_score = (match.chaos, match.coherence) == (best.chaos, best.coherence)
        if same_score and "cp1252" in match.could_be_from_charset:
            best = match
            break
    return str(best), [f"text encoding guessed as {best.encoding}"]


# Text files


def _is_markdown(raw: RawDocument) -> bool:
    name = str(raw.path or raw.url or "").lower()
    return name.endswith(".md") or raw.content_type == "text/markdown"


_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)


def _front_matter_title(text: str) -> str | None:
    """The `title:` of a Markdown file's YAML front matter, if it has one."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return None
    for line in match.group(1).split("\n"):
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == "title" and not line[:1].isspace():
            return value.strip().strip("'\"").strip() or None
    # Front matter without a title: the first line after it.
    rest = text[match.end() :]
    line = next((x.strip() for x in rest.split("\n") if x.strip()), "")
    return line.lstrip("#").strip() or None


def _clip_title(title: str) -> str:
    title = " ".join(title.split())
    if len(title) <= TITLE_MAX_CHARS:
        return title
    return title[: TITLE_MAX_CHARS - 1].rsplit(" ", 1)[0] + "…"


def _extract_text(raw: RawDocument) -> Extracted:
    text, warnings = _decode(raw)
    text = text.rstrip()
    first = next((line.strip() for line in text.split("\n") if line.strip()), "")
    if _is_markdown(raw):
        first = _front_matter_title(text) or first.lstrip("#").strip() or first
    return Extracted(
        title=_clip_title(first),
        text=text,
        author=None,
        date=None,
        site=None,
        url=raw.url,
        method="text",
        warnings=tuple(warnings),
    )


# HTML


def _visible_text(root: HtmlElement) -> str:
    """The cleaned page's text, one line per block element, whitespace tidied."""
    body = root.find("body")
    parts: list[str] = []

    def walk(el: HtmlElement) -> None:
        block = el.tag in _BLOCK_TAGS
        if block:
            parts.append("\n")
        if el.text:
            parts.append(el.text)
        for child in el:
            if isinstance(child.tag, str):
                walk(child)
            if child.tail:
                parts.append(child.tail)
        if block:
            parts.append("\n")

    walk(body if body is not None else root)
    lines = (" ".join(line.split()) for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


def _tidy(text: str) -> str:
    lines = (line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _meta_content(root: HtmlElement, *keys: str) -> str | None:
    for key in keys:
        for attr in ("property", "name"):
            for content in root.xpath(f"//meta[@{attr}=$key]/@content", key=key):
                if str(content).strip():
                    return str(content).strip()
    return None


def _page_title(root: HtmlElement) -> str | None:
    # The <title> in <head>: an inline SVG's <title> in the body is not the page's.
    found = root.find("head/title")
    if found is None:
        found = root.find(".//title")
    text = " ".join(found.text_content().split()) if found is not None else ""
    return text or None


def _title_words(title: str) -> set[str]:
    return {w for w in SPACED_WORD.findall(title.lower()) if len(w) > 3} | set(
        UNSPACED_CHAR.findall(title)
    )


def _choose_title(found: str | None, meta: str | None, page: str | None) -> str | None:
    """trafilatura's title unless it shares no word with the page's declared titles.

    trafilatura prefers a page's only <h1>, which on some sites is a section name
    ("Allergies Health Center") rather than the headline that <title> and og:title give.
    """
    declared = [t for t in (meta, page) if t]
    if found and declared:
        words = _title_words(found)
        if words and not any(words & _title_words(t) for t in declared):
            found = None
    return found or meta or page


def _canonical_url(found: str | None, base: str | None) -> str | None:
    from urllib.parse import urljoin

    if found and base:
        found = urljoin(base, found)
    if found and found.lower().startswith(("http://", "https://")):
        return found
    return base


def _iso_date(value: str | None) -> str | None:
    match = _ISO_DATE.match(value or "")
    return match.group(1) if match else None


def _clean_field(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None


def _parse(html: str) -> HtmlElement | None:
    """The page's lxml tree (one parse, shared by every step), or None for an empty page."""
    import lxml.html
    from lxml import etree

    # The text is decoded already: parsed as UTF-8 whatever its <meta charset> says.
    # huge_tree: without it libxml2 stops at depth 256 (or at a 10 MB text), silently dropping
    # the rest of the page — and with it a <style> whose rules hide text above.
    parser = lxml.html.HTMLParser(
        encoding="utf-8", remove_comments=True, remove_pis=True, huge_tree=True
    )
    try:
        root = lxml.html.document_fromstring(html.encode("utf-8"), parser=parser)
    except etree.ParserError:
        return None  # nothing in it
    except Exception as e:  # a parser failure is a malformed page, not a crash
        raise ExtractionError(f"malformed page: {e}") from None
    return root


def _extract_html(raw: RawDocument) -> Extracted:
    from summarizer.reading.hidden import remove_invisible

    html, warnings = _decode(raw)
    root = _parse(_XML_INVALID.sub("", html))
    if root is None:
        return Extracted("", "", None, None, None, raw.url, "fallback", tuple(warnings))
    remove_invisible(root)
    meta_title = _clean_field(_meta_content(root, "og:title", "twitter:title"))
    page_title = _clean_field(_page_title(root))
    meta = _metadata(root, raw.url)
    url = meta.url or raw.url
    document = _trafilatura(root, url)
    paragraphs = sum(len(p.text_content().split()) for p in root.iter("p"))
    if _words(document) < SHORT_SHARE * paragraphs:
        # Suspiciously short: trafilatura's whole sequence (its readability and jusText
        # fallbacks too) is asked as well, and the longer text kept.
        second = _trafilatura(root, url, fast=False)
        if _words(second) > _words(document):
            document = second
    text = _tidy(document.text) if document is not None and document.text else ""
    if text and len(text.split()) < SPLIT_SHARE * paragraphs:
        text = _whole(root, text)
    method: Literal["trafilatura", "fallback"] = "trafilatura"
    if not text:
        text = _visible_text(root)
        method = "fallback"
        warnings.append("no article found; stored the page's text")
    title = _choose_title(_clean_field(meta.title), meta_title, page_title) or next(
        (line.strip() for line in text.split("\n") if line.strip()), ""
    )
    return Extracted(
        title=_clip_title(title),
        text=text,
        author=_clean_field(meta.author),
        date=_iso_date(meta.date),
        site=_clean_field(meta.sitename),
        url=_canonical_url(_clean_field(meta.url), raw.url),
        method=method,
        warnings=tuple(warnings),
    )


# A main text with fewer words than this share of the words in the page's paragraphs is a
# partial extraction (on the evaluation pages: 4% where the whole sequence finds the article;
# 30% and more where the article is all there is).
SHORT_SHARE = 0.25


# Under this share, the text may be the first block of a body that ads or embeds split in
# several: readability (which joins a body's sibling blocks) is asked for a second opinion.
SPLIT_SHARE = 0.5
# Its text is kept when it holds this much of the first one's words and this many times as many.
SPLIT_HOLDS, SPLIT_MORE = 0.9, 1.3


def _whole(root: HtmlElement, text: str) -> str:
    """`text`, or readability's text of the page when it holds `text`'s words and a good deal
    more: the whole article where trafilatura kept the first block of a split body."""
    import copy
    from collections import Counter

    from readability import Document

    try:
        summary = Document(copy.deepcopy(root)).summary(html_partial=True)
        other = _parse(summary) if summary.strip() else None
    except Exception:  # readability failing on an odd page: the first opinion stands
        return text
    if other is None:
        return text
    second = _visible_text(other)
    mine, theirs = Counter(text.lower().split()), Counter(second.lower().split())
    held = sum((mine & theirs).values()) / max(1, sum(mine.values()))
    if held >= SPLIT_HOLDS and sum(theirs.values()) >= SPLIT_MORE * sum(mine.values()):
        return second
    return text


def _words(document: Any) -> int:
    return len(document.text.split()) if document is not None and document.text else 0


def _trafilatura(root: HtmlElement, url: str | None, *, fast: bool = True) -> Any:
    """trafilatura's Document for the page's text (its tree, which it copies), or None when it
    finds no article. `fast`: without trafilatura's fallback extractors (they cost as much again
    and lost on the evaluation pages but where the first pass is short)."""
    import trafilatura

    try:
        return trafilatura.bare_extraction(
            root, url=url, with_metadata=False, include_comments=False, fast=fast
        )
    except Exception:  # a library failure on one odd page means "no article"
        return None


def _metadata(root: HtmlElement, url: str | None) -> Any:
    """The page's title, author, canonical URL, site name and date, found as trafilatura's
    extract_metadata finds them, less what ingest does not keep (categories, tags, licence:
    a third of its cost). The date search is the cheap one only: the extensive one parsed
    dates in free text for seconds on some pages. Computed once, whatever passes follow."""
    from htmldate import find_date
    from trafilatura import metadata as tm

    try:
        meta = tm.examine_meta(root)
        if meta.author and " " not in meta.author:
            meta.author = None  # a handle, not a name (as trafilatura rules)
        meta = tm.extract_meta_json(root, meta)
        meta.title = meta.title or tm.extract_title(root)
        meta.author = meta.author or tm.extract_author(root)
        meta.url = meta.url or tm.extract_url(root, url)
        meta.date = find_date(root, url=meta.url, extensive_search=False, original_date=True)
        site = (meta.sitename or tm.extract_sitename(root) or "").lstrip("@")
        if site and "." not in site and not site[0].isupper():
            site = site.title()
        if not site and meta.url:
            found = tm.META_URL.match(meta.url)
            site = found[1] if found else ""
        meta.sitename = site or None
    except Exception:  # a library failure on one odd page: no metadata, the text stands
        meta = tm.Document()
    return meta
