"""Pure: the bytes of a file or page -> the article's text and metadata."""

from __future__ import annotations

import codecs
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from summarizer.errors import ExtractionError
from summarizer.words import SPACED_WORD, UNSPACED_CHAR

if TYPE_CHECKING:
    from bs4 import BeautifulSoup, Tag

    from summarizer.sources import RawDocument

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
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_IMPORTANT = re.compile(r"!\s*important", re.IGNORECASE)
_COMBINATOR = re.compile(r"\s*[>+~]\s*|\s+")
_ID = re.compile(r"#(-?[_a-zA-Z][\w-]*)")
_CLASS = re.compile(r"\.(-?[_a-zA-Z][\w-]*)")
_TAG = re.compile(r"([a-zA-Z][\w-]*)")

_INVISIBLE_TAGS = ("script", "style", "template", "noscript")
# Hiding these would hide the whole page; when a page does it, script reveals it again.
_NEVER_REMOVED = frozenset({"html", "head", "body"})
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
    doc = _extract_html(raw) if raw.kind == "html" else _extract_text(raw)
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


# Lengths that are nothing (font-size: 0) and offsets that put a box off the page (left: -9999px).
_ZERO = re.compile(r"^[+]?0*\.?0+(px|em|rem|pt|%|vw|vh)?$")
_FAR_OFF = re.compile(r"^-\s*\d{3,}(\.\d+)?(px|em|rem|pt|vw|vh|%)?$")


def _declarations(style: str) -> dict[str, str]:
    style = _IMPORTANT.sub("", _CSS_COMMENT.sub("", style))
    found: dict[str, str] = {}
    for declaration in style.split(";"):
        prop, sep, value = declaration.partition(":")
        if sep:
            found[prop.strip().lower()] = " ".join(value.strip().lower().split())
    return found


Hiding = Literal["", "hard", "soft", "size"]


def _hiding(style: str) -> Hiding:
    """How CSS declarations hide the element from a reader: "hard" (not displayed, invisible),
    "soft" (transparent, of no size, off the page, its text the colour of its own background:
    what scripts also use to fade or slide content in), "size" (only its font size is 0: what
    its children give a size of their own shows), or "" (not at all)."""
    d = _declarations(style)
    if d.get("display") == "none":
        return "hard"
    if d.get("visibility") in ("hidden", "collapse") or d.get("content-visibility") == "hidden":
        return "hard"
    if _soft_hides(d):
        return "soft"
    return "size" if _ZERO.match(d.get("font-size", "1")) else ""


def _sizes_text(style: str) -> bool:
    """Whether declarations give text a font size of its own, other than 0."""
    size = _declarations(style).get("font-size")
    return size is not None and not _ZERO.match(size)


def _soft_hides(d: dict[str, str]) -> bool:
    if _ZERO.match(d.get("opacity", "1")):
        return True
    if d.get("color") in ("transparent", "rgba(0,0,0,0)", "rgba(0, 0, 0, 0)"):
        return True
    background = d.get("background-color") or d.get("background")
    if "color" in d and background is not None and _same_colour(d["color"], background):
        return True
    if d.get("position") in ("absolute", "fixed") and any(
        _FAR_OFF.match(d.get(side, "")) for side in ("left", "top", "right", "bottom")
    ):
        return True
    if _FAR_OFF.match(d.get("text-indent", "")):
        return True
    if d.get("transform", "").replace(" ", "") in ("scale(0)", "scale(0,0)", "scalex(0)"):
        return True
    tiny = _ZERO.match(d.get("width", "1")) or _ZERO.match(d.get("height", "1"))
    return bool(tiny and d.get("overflow") == "hidden")


_NAMED_COLOURS = {"white": "#ffffff", "black": "#000000", "red": "#ff0000"}


def _same_colour(a: str, b: str) -> bool:
    """Whether two CSS colours are the same (hex, rgb() and a few names; else as written)."""

    def norm(c: str) -> str:
        c = c.split()[0] if c.startswith("#") else c.replace(" ", "")
        c = _NAMED_COLOURS.get(c, c)
        m = re.fullmatch(r"#([0-9a-f])([0-9a-f])([0-9a-f])", c)
        if m:
            c = "#" + "".join(x * 2 for x in m.groups())
        m = re.fullmatch(r"rgba?\((\d+),(\d+),(\d+)(?:,1(?:\.0*)?)?\)", c)
        if m:
            c = "#" + "".join(f"{int(x):02x}" for x in m.groups())
        return c

    return norm(a) == norm(b)


# Properties that can hide (or show again) an element: an at-rule setting one restyles it.
_RESTYLES = re.compile(
    r"\b(display|visibility|opacity|font-size|color|background|position|left|top|right|bottom|"
    r"text-indent|transform|width|height)\s*:",
    re.I,
)


def _hiding_selectors(css: str) -> list[tuple[str, Hiding]]:
    """Selectors of top-level rules in a stylesheet that hide what they match, and how; and
    those that give text a size (how: ""), which shows it inside a parent of font size 0.

    Rules inside @media and other at-rules are skipped (they hide only on some screens), and so
    are selectors that any at-rule styles again: hidden on phones, shown on desktops.
    """
    css = _CSS_COMMENT.sub("", css)
    found: list[tuple[str, Hiding]] = []
    restyled: set[str] = set()
    for prelude, body, nested in _css_rules(css):
        selectors = [s.strip() for s in prelude.split(",")]
        how = _hiding(body)
        if nested:
            if not how and _RESTYLES.search(body):
                restyled.update(selectors)
        elif how or _sizes_text(body):
            found.extend((s, how) for s in selectors)
    # Pseudo-classes and pseudo-elements (:hover, ::before) hide only in some states.
    return [(s, how) for s, how in found if s and ":" not in s and s not in restyled]


def _css_rules(css: str, nested: bool = False) -> Iterator[tuple[str, str, bool]]:
    """(selectors, declarations, inside an at-rule) for each style rule in `css`."""
    depth, start, prelude = 0, 0, ""
    for i, ch in enumerate(css):
        if ch == "{":
            if depth == 0:
                prelude, start = css[start:i].strip(), i + 1
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                body = css[start:i]
                if prelude.startswith("@"):
                    yield from _css_rules(body, nested=True)
                elif "{" not in body:
                    yield prelude, body, nested
                start = i + 1
        elif ch == ";" and depth == 0:
            start = i + 1  # e.g. @import url(...);


def _remove_invisible(soup: BeautifulSoup) -> None:
    """Delete what a reader never sees: hidden text is a route for prompt injection.

    What is hidden the soft way (transparent, off the page, ...) is kept when it holds most of
    the page's text: that is the article, which the page's script fades or slides in.
    """
    from bs4 import Comment

    tags = soup.find_all(True)
    rules: dict[Hiding, list[str]] = {"": [], "hard": [], "soft": [], "size": []}
    for style in (t for t in tags if t.name == "style"):
        for selector, how in _hiding_selectors(style.get_text()):
            rules[how].append(selector)
    doomed, maybe, unsized = (_matching(soup, tags, rules[h]) for h in ("hard", "soft", "size"))
    doomed.extend(t for t in tags if t.name in _INVISIBLE_TAGS)
    sized: set[int] = set()  # tags that give their text a font size of its own
    for tag in tags:
        style = tag.get("style")
        aria_hidden = tag.get("aria-hidden")
        how = _hiding(style) if isinstance(style, str) else ""
        if (
            tag.has_attr("hidden")
            or (isinstance(aria_hidden, str) and aria_hidden.strip().lower() == "true")
            or how == "hard"
        ):
            doomed.append(tag)
        elif how == "soft":
            maybe.append(tag)
        elif how == "size":
            unsized.append(tag)
        elif isinstance(style, str) and _sizes_text(style):
            sized.add(id(tag))
    for tag in doomed:
        if tag.name not in _NEVER_REMOVED and not tag.decomposed:
            tag.decompose()
    if unsized:
        alive = [t for t in tags if not t.decomposed]
        sized.update(id(t) for t in _matching(soup, alive, rules[""]))
    for tag in unsized:
        if tag.name in _NEVER_REMOVED or tag.decomposed or id(tag) in sized:
            continue
        if any(id(t) in sized for t in tag.find_all(True)):
            _drop_unsized_text(tag, sized)  # e.g. a row of inline blocks without the gaps
        else:
            maybe.append(tag)
    maybe = [t for t in maybe if t.name not in _NEVER_REMOVED and not t.decomposed]
    if maybe:
        # Judged together: paragraphs that each fade in are, all together, the article.
        total = len(soup.get_text())
        ids = {id(t) for t in maybe}
        outer = [t for t in maybe if not any(id(p) in ids for p in t.parents)]
        if sum(len(t.get_text()) for t in outer) <= total / 2:
            for tag in outer:
                tag.decompose()
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()


def _drop_unsized_text(tag: Tag, sized: set[int]) -> None:
    """Delete the text of `tag` (of font size 0) but what its descendants give a size of their
    own: that is all a reader sees of it."""
    from bs4 import NavigableString, Tag

    for child in list(tag.children):
        if isinstance(child, Tag):
            if id(child) not in sized:
                _drop_unsized_text(child, sized)
        elif isinstance(child, NavigableString) and child.strip():
            child.extract()


def _matching(soup: BeautifulSoup, tags: list[Tag], selectors: list[str]) -> list[Tag]:
    """The tags any of `selectors` matches.

    Pages carry hundreds of rules; matching each against every element is slow, so each rule is
    only tried on the elements that have its rightmost id, class or tag name.
    """
    import soupsieve

    if not selectors:
        return []
    by_key: dict[str, list[Tag]] = {}
    for tag in tags:
        by_key.setdefault(tag.name, []).append(tag)
        tag_id = tag.get("id")
        if isinstance(tag_id, str):
            by_key.setdefault("#" + tag_id, []).append(tag)
        for name in tag.get_attribute_list("class"):
            if name:
                by_key.setdefault("." + name, []).append(tag)
    found: list[Tag] = []
    for selector in dict.fromkeys(selectors):
        try:
            compiled = soupsieve.compile(selector)
        except Exception:  # CSS soupsieve does not support: skip the rule
            continue
        # Site-wide stylesheets mostly name ids and classes this page does not have.
        bare = re.sub(r"\[[^\]]*\]", "", selector)
        needed = ["#" + m for m in _ID.findall(bare)] + ["." + m for m in _CLASS.findall(bare)]
        if "\\" not in selector and any(name not in by_key for name in needed):
            continue
        key = _rightmost_key(selector)
        if key is None:
            found.extend(compiled.select(soup))
        elif key == selector:
            found.extend(by_key.get(key, ()))
        else:
            found.extend(tag for tag in by_key.get(key, ()) if compiled.match(tag))
    return found


def _rightmost_key(selector: str) -> str | None:
    """'#id', '.class' or the tag name that an element must have to match `selector`."""
    compound = _COMBINATOR.split(selector.strip())[-1]
    compound = re.sub(r"\[[^\]]*\]", "", compound)
    if "\\" in compound:
        return None  # escaped characters: leave it to soupsieve
    if match := _ID.search(compound):
        return "#" + match.group(1)
    if match := _CLASS.search(compound):
        return "." + match.group(1)
    if match := _TAG.match(compound):
        return match.group(1).lower()
    return None


def _visible_text(soup: BeautifulSoup) -> str:
    """The cleaned page's text, one line per block element, whitespace tidied."""
    root: Tag | BeautifulSoup = soup.body or soup
    for tag in root.find_all(_BLOCK_TAGS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    lines = (" ".join(line.split()) for line in root.get_text().split("\n"))
    return "\n".join(line for line in lines if line)


def _tidy(text: str) -> str:
    lines = (line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _meta_content(soup: BeautifulSoup, *keys: str) -> str | None:
    from bs4 import Tag

    for key in keys:
        tag = soup.find("meta", attrs={"property": key}) or soup.find("meta", attrs={"name": key})
        content = tag.get("content") if isinstance(tag, Tag) else None
        if isinstance(content, str) and content.strip():
            return content.strip()
    return None


def _page_title(soup: BeautifulSoup) -> str | None:
    # The <title> in <head>: an inline SVG's <title> in the body is not the page's.
    tag = soup.head.find("title") if soup.head is not None else soup.find("title")
    text = tag.get_text(" ", strip=True) if tag is not None else ""
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


def _extract_html(raw: RawDocument) -> Extracted:
    from warnings import filterwarnings

    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

    html, warnings = _decode(raw)
    html = _XML_INVALID.sub("", html)
    # XHTML is parsed as HTML on purpose: browsers do, and malformed pages survive it.
    filterwarnings("ignore", category=XMLParsedAsHTMLWarning)
    try:
        soup = BeautifulSoup(html, "lxml")
    except Exception as e:  # a parser failure is a malformed page, not a crash
        raise ExtractionError(f"malformed page: {e}") from None
    _remove_invisible(soup)
    document = _trafilatura(str(soup), raw.url)
    text = _tidy(document.text) if document is not None and document.text else ""
    method: Literal["trafilatura", "fallback"] = "trafilatura"
    if not text:
        text = _visible_text(soup)
        method = "fallback"
        warnings.append("no article found; stored the page's text")
    site = _clean_field(getattr(document, "sitename", None))
    title = _choose_title(
        _clean_field(getattr(document, "title", None)),
        _clean_field(_meta_content(soup, "og:title", "twitter:title")),
        _clean_field(_page_title(soup)),
    ) or next((line.strip() for line in text.split("\n") if line.strip()), "")
    return Extracted(
        title=_clip_title(title),
        text=text,
        author=_clean_field(getattr(document, "author", None)),
        date=_iso_date(getattr(document, "date", None)),
        site=site,
        url=_canonical_url(_clean_field(getattr(document, "url", None)), raw.url),
        method=method,
        warnings=tuple(warnings),
    )


def _trafilatura(html: str, url: str | None) -> Any:
    """trafilatura's Document for the page, or None when it finds no article."""
    import trafilatura

    try:
        return trafilatura.bare_extraction(
            html, url=url, with_metadata=True, include_comments=False
        )
    except Exception:  # a library failure on one odd page means "no article"
        return None
