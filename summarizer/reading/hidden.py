"""Pure: what a reader of a page never sees, found and removed from its lxml tree before the
article is extracted. Hidden text is a route for prompt injection: it must not reach the model.

Hidden by markup (`hidden`, `aria-hidden`, <script>, <template>, ...), by inline styles and by
the page's own top-level <style> rules: not displayed, invisible, transparent, off the page, of
no size, its text the colour of its background, or of font size 0.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from lxml.html import HtmlElement

_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_IMPORTANT = re.compile(r"!\s*important", re.IGNORECASE)
_ID = re.compile(r"#(-?[_a-zA-Z][\w-]*)")
_CLASS = re.compile(r"\.(-?[_a-zA-Z][\w-]*)")
_BRACES = re.compile(r"[{};]")

INVISIBLE_TAGS = frozenset({"script", "style", "template", "noscript"})
# Hiding these would hide the whole page; when a page does it, script reveals it again.
_NEVER_REMOVED = frozenset({"html", "head", "body"})


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


@functools.lru_cache(maxsize=4096)  # pages repeat their inline styles thousands of times
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


@functools.lru_cache(maxsize=4096)
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
    for m in _BRACES.finditer(css):  # only the characters that matter: stylesheets are long
        i, ch = m.start(), m.group()
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


def remove_invisible(root: HtmlElement) -> None:
    """Delete what a reader never sees from the tree `root`.

    What is hidden the soft way (transparent, off the page, ...) is kept when it holds most of
    the page's text: that is the article, which the page's script fades or slides in.
    """
    from lxml import etree

    # Every element, held here: lxml keeps one Python object per element while it is referenced,
    # so the ids below stay the elements' own.
    elements = [e for e in root.iter(etree.Element) if isinstance(e.tag, str)]
    rules: dict[Hiding, list[str]] = {"": [], "hard": [], "soft": [], "size": []}
    for style in (e for e in elements if e.tag == "style"):
        for selector, how in _hiding_selectors(style.text_content()):
            rules[how].append(selector)
    keys = _keys(elements)
    doomed, maybe, unsized = (_matching(root, keys, rules[h]) for h in ("hard", "soft", "size"))
    doomed.extend(e for e in elements if e.tag in INVISIBLE_TAGS)
    sized: set[int] = set()  # elements that give their text a font size of their own
    for el in elements:
        style = el.get("style")
        how = _hiding(style) if style else ""
        if (
            el.get("hidden") is not None
            or (el.get("aria-hidden") or "").strip().lower() == "true"
            or how == "hard"
        ):
            doomed.append(el)
        elif how == "soft":
            maybe.append(el)
        elif how == "size":
            unsized.append(el)
        elif style and _sizes_text(style):
            sized.add(id(el))
    gone: set[int] = set()
    _drop(doomed, gone)
    if unsized:
        found = _matching(root, keys, rules[""])
        sized.update(id(e) for e in found if not _removed(e, gone))
    for el in unsized:
        if el.tag in _NEVER_REMOVED or _removed(el, gone) or id(el) in sized:
            continue
        if any(id(e) in sized for e in el.iterdescendants()):
            _drop_unsized_text(el, sized)  # e.g. a row of inline blocks without the gaps
        else:
            maybe.append(el)
    maybe = [e for e in maybe if e.tag not in _NEVER_REMOVED and not _removed(e, gone)]
    if maybe:
        # Judged together: paragraphs that each fade in are, all together, the article.
        total = len(root.text_content())
        ids = {id(e) for e in maybe}
        outer = [e for e in maybe if not any(id(p) in ids for p in e.iterancestors())]
        if sum(len(e.text_content()) for e in outer) <= total / 2:
            _drop(outer, gone)


def _drop(elements: list[HtmlElement], gone: set[int]) -> None:
    """Remove the elements (but the text that follows each, which is its parent's)."""
    for el in elements:
        if el.tag in _NEVER_REMOVED or id(el) in gone or el.getparent() is None:
            continue
        gone.add(id(el))
        el.drop_tree()


def _removed(el: HtmlElement, gone: set[int]) -> bool:
    return id(el) in gone or any(id(a) in gone for a in el.iterancestors())


def _drop_unsized_text(el: HtmlElement, sized: set[int]) -> None:
    """Delete the text of `el` (of font size 0) but what its descendants give a size of their
    own: that is all a reader sees of it."""
    if el.text and el.text.strip():
        el.text = None
    for child in el:
        if isinstance(child.tag, str) and id(child) not in sized:
            _drop_unsized_text(child, sized)
        if child.tail and child.tail.strip():
            child.tail = None


def _keys(elements: list[HtmlElement]) -> dict[str, list[HtmlElement]]:
    """The elements by tag name, '#id' and '.class'."""
    by_key: dict[str, list[HtmlElement]] = {}
    for el in elements:
        by_key.setdefault(el.tag, []).append(el)
        el_id = el.get("id")
        if el_id:
            by_key.setdefault("#" + el_id, []).append(el)
        for name in (el.get("class") or "").split():
            by_key.setdefault("." + name, []).append(el)
    return by_key


def _matching(
    root: HtmlElement, by_key: dict[str, list[HtmlElement]], selectors: list[str]
) -> list[Any]:
    """The elements any of `selectors` matches (`by_key`: the page's elements, see _keys).

    Pages carry hundreds of rules, most of them naming ids and classes the page does not have:
    those are skipped; the common forms are matched from the elements with their rightmost id,
    class or tag name; the rest by lxml (as XPath).
    """
    if not selectors:
        return []
    from cssselect import HTMLTranslator

    translator = HTMLTranslator()
    found: list[HtmlElement] = []
    for selector in dict.fromkeys(selectors):
        bare = re.sub(r"\[[^\]]*\]", "", selector)
        needed = ["#" + m for m in _ID.findall(bare)] + ["." + m for m in _CLASS.findall(bare)]
        if "\\" not in selector and any(name not in by_key for name in needed):
            continue
        chain = _chain(selector)
        if chain is not None:  # the common forms, matched from the rightmost compound out
            key = _compound_key(chain[-1][1])
            candidates = by_key.get(key, ()) if key else [e for v in by_key.values() for e in v]
            memo: dict[tuple[int, int], bool] = {}
            found.extend(e for e in dict.fromkeys(candidates) if _matches(e, chain, memo))
            continue
        try:
            found.extend(root.xpath(translator.css_to_xpath(selector)))
        except Exception:  # CSS that cssselect or lxml does not support: skip the rule
            continue
    return found


# One compound selector: a tag name or *, then ids, classes and [attr] / [attr=value] tests.
_COMPOUND = re.compile(
    r"(?P<tag>\*|[a-zA-Z][\w-]*)?(?P<rest>(?:[#.]-?[_a-zA-Z][\w-]*"
    r"|\[\s*[\w-]+\s*(?:=\s*(?:\"[^\"]*\"|'[^']*'|[\w-]+)\s*)?\])*)$"
)
_PART = re.compile(
    r"([#.])(-?[_a-zA-Z][\w-]*)|\[\s*([\w-]+)\s*(?:=\s*(?:\"([^\"]*)\"|'([^']*)'|([\w-]+))\s*)?\]"
)
Compound = tuple[str | None, tuple[tuple[str, str, str | None], ...]]


def _chain(selector: str) -> list[tuple[str, Compound]] | None:
    """`selector` as (combinator, compound) pairs, left to right, when it only uses descendant
    and child combinators and simple compounds; else None (lxml matches it as XPath)."""
    tokens = re.split(r"\s*(>)\s*|\s+", selector.strip())
    chain: list[tuple[str, Compound]] = []
    combinator = " "
    for token in tokens:
        if token is None or token == "":
            continue
        if token == ">":
            if not chain or combinator == ">":
                return None  # a combinator with nothing on its left: browsers drop the rule
            combinator = ">"
            continue
        m = _COMPOUND.match(token)
        if m is None or not token:
            return None
        tests: list[tuple[str, str, str | None]] = []
        for part in _PART.finditer(m.group("rest") or ""):
            if part.group(1):
                tests.append(("id" if part.group(1) == "#" else "class", part.group(2), None))
            else:
                value = next((g for g in part.group(4, 5, 6) if g is not None), None)
                tests.append(("attr", part.group(3).lower(), value))
        tag = m.group("tag")
        chain.append((combinator, (None if tag in (None, "*") else tag.lower(), tuple(tests))))
        combinator = " "
    if combinator == ">":
        return None  # nothing on its right
    return chain or None


def _compound_key(compound: Compound) -> str | None:
    """The by_key entry every element matching `compound` is in."""
    tag, tests = compound
    for kind, name, _ in tests:
        if kind == "id":
            return "#" + name
        if kind == "class":
            return "." + name
    return tag


def _fits(el: HtmlElement, compound: Compound) -> bool:
    tag, tests = compound
    if tag is not None and el.tag != tag:
        return False
    for kind, name, value in tests:
        if kind == "id" and el.get("id") != name:
            return False
        if kind == "class" and name not in (el.get("class") or "").split():
            return False
        if kind == "attr" and (
            el.get(name) is None or (value is not None and el.get(name) != value)
        ):
            return False
    return True


def _matches(
    el: HtmlElement,
    chain: list[tuple[str, Compound]],
    memo: dict[tuple[int, int], bool],
    k: int | None = None,
) -> bool:
    """Whether `el` matches the selector `chain` (see _chain) up to its compound `k` (the last
    by default). `memo` remembers each (element, compound) answer: with descendant combinators
    the same ancestors are asked again and again, and a hostile page nests deep."""
    k = len(chain) - 1 if k is None else k
    key = (id(el), k)
    known = memo.get(key)
    if known is not None:
        return known
    result = _fits(el, chain[k][1])
    if result and k > 0:
        if chain[k][0] == ">":
            parent = el.getparent()
            result = parent is not None and _matches(parent, chain, memo, k - 1)
        else:
            result = any(_matches(a, chain, memo, k - 1) for a in el.iterancestors())
    memo[key] = result
    return result
