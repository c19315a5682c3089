"""Pure: what a reader of a page never sees, found and removed from its lxml tree before the
article is extracted. Hidden text is a route for prompt injection: it must not reach the model.

Hidden by markup (`hidden`, `aria-hidden`, <script>, <template>, ...), by inline styles and by
the page's own <style> rules that apply on every screen (custom properties resolved): not
displayed, invisible, nearly transparent, off the page, clipped away, too small to read, or its
text of nearly the colour of the background it is on (the page's white unless something sets
another). How CSS says so is read in `css`.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

from summarizer.reading.css import (
    CONTRAST_MIN,
    WHITE,
    Colour,
    Hiding,
    Variables,
    background_colour,
    colour,
    colour_selectors,
    contrast,
    custom_properties,
    declarations,
    hiding,
    hiding_selectors,
    opaque,
    root_variables,
    sizes_text,
)

if TYPE_CHECKING:
    from lxml.html import HtmlElement

_ID = re.compile(r"#(-?[_a-zA-Z][\w-]*)")
_CLASS = re.compile(r"\.(-?[_a-zA-Z][\w-]*)")

INVISIBLE_TAGS = frozenset({"script", "style", "template", "noscript"})
# Hiding these would hide the whole page; when a page does it, script reveals it again.
_NEVER_REMOVED = frozenset({"html", "head", "body"})


def remove_invisible(root: HtmlElement) -> None:
    """Delete what a reader never sees from the tree `root`.

    What is hidden the soft way (transparent, off the page, ...) is kept when it holds most of
    the page's text: that is the article, which the page's script fades or slides in.
    """
    from lxml import etree

    # Every element, held here: lxml keeps one Python object per element while it is referenced,
    # so the ids below stay the elements' own.
    elements = [e for e in root.iter(etree.Element) if isinstance(e.tag, str)]
    sheets = [e.text_content() for e in elements if e.tag == "style"]
    variables = _page_variables(sheets, elements)
    rules: dict[Hiding, list[str]] = {"": [], "hard": [], "soft": [], "size": []}
    for css in sheets:
        for selector, how in hiding_selectors(css, variables):
            rules[how].append(selector)
    keys = _keys(elements)
    doomed, maybe, unsized = (_matching(root, keys, rules[h]) for h in ("hard", "soft", "size"))
    doomed.extend(e for e in elements if e.tag in INVISIBLE_TAGS)
    maybe.extend(_unreadable_colours(root, keys, sheets, elements, variables))
    sized: set[int] = set()  # elements that give their text a font size of their own
    for el in elements:
        style = el.get("style")
        how = hiding(style, variables) if style else ""
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
        elif style and sizes_text(style, variables):
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


def _page_variables(sheets: list[str], elements: list[HtmlElement]) -> Variables:
    """The custom properties set for the whole page: by its stylesheets' rules for :root, html,
    body or *, and by the inline styles of <html> and <body>."""
    found: dict[str, str] = {}
    for css in sheets:
        found.update(root_variables(css))
    for el in elements:
        if el.tag in ("html", "body") and el.get("style"):
            found.update(custom_properties(el.get("style") or ""))
    return tuple(sorted(found.items()))


def _unreadable_colours(
    root: HtmlElement,
    keys: dict[str, list[HtmlElement]],
    sheets: list[str],
    elements: list[HtmlElement],
    variables: Variables,
) -> list[HtmlElement]:
    """The elements whose text has nearly the colour of the background it is shown on - the
    nearest background an ancestor (or the element) sets, else the page's white: white text on
    the white page, <font color=white>, a rule's #fefefe."""
    rules = [
        (selector, prop, colour(value) if prop == "color" else background_colour({prop: value}))
        for css in sheets
        for selector, prop, value in colour_selectors(css, variables)
    ]
    inline = _inline_colours(elements, dict(variables))
    # Only a colour a reader could not read on some background the page has can hide text:
    # the elements it is set on are the candidates, and only they (and their ancestors, for
    # the background) are matched against the page's colour rules (pages carry hundreds).
    grounds = {WHITE, *(c for _, prop, c in rules + inline if prop != "color" and c is not None)}

    @functools.cache
    def faint(c: Colour | None) -> bool:
        return c is not None and any(contrast(c, bg) < CONTRAST_MIN for bg in grounds)

    candidates = {id(el): el for el, prop, c in inline if prop == "color" and faint(c)}
    faint_rules = [sel for sel, prop, c in rules if prop == "color" and faint(c)]
    candidates.update((id(el), el) for el in _matching(root, keys, faint_rules))
    if not candidates:
        return []
    known: dict[tuple[int, str], tuple[bool, Colour | None]] = {}
    for el, prop, c in inline:
        known[(id(el), "color" if prop == "color" else "background")] = (True, c)
    applies = _Applies(root, keys)
    # The rules by the key an element must have to match them (None: any element may).
    by_key: dict[tuple[str, str | None], list[int]] = {}
    for i, (selector, prop, _) in enumerate(rules):
        chain = _chain(selector)
        key = _compound_key(chain[-1][1]) if chain else None
        by_key.setdefault(("color" if prop == "color" else "background", key), []).append(i)

    def set_on(el: HtmlElement, kind: str) -> tuple[bool, Colour | None]:
        """Whether `el` sets its colour (or background), and which: its own style, else the
        last rule that matches it."""
        if (id(el), kind) not in known:
            names = [None, el.tag, *(f"#{el.get('id')}" for _ in [0] if el.get("id"))]
            names += [f".{c}" for c in (el.get("class") or "").split()]
            tried = sorted({i for n in names for i in by_key.get((kind, n), ())}, reverse=True)
            found = next(((True, rules[i][2]) for i in tried if applies(el, rules[i][0])), None)
            known[(id(el), kind)] = found or (False, None)
        return known[(id(el), kind)]

    unreadable = []
    for el in candidates.values():
        if el.tag in _NEVER_REMOVED:
            continue
        fg = set_on(el, "color")[1]
        bg: Colour | None = WHITE
        for node in [el, *el.iterancestors()]:
            given, found = set_on(node, "background")
            if given and (found is None or opaque(found)):
                bg = found  # None: an image or a gradient, against which nothing is said
                break
        if fg is not None and bg is not None and contrast(fg, bg) < CONTRAST_MIN:
            unreadable.append(el)
    return unreadable


class _Applies:
    """Whether a selector matches an element, asked one element at a time: from the element's
    own keys and the selector's chain where it has one, else from lxml's answer for the page."""

    def __init__(self, root: HtmlElement, keys: dict[str, list[HtmlElement]]) -> None:
        self._root, self._keys = root, keys
        self._memo: dict[str, dict[tuple[int, int], bool]] = {}
        self._xpath: dict[str, set[int]] = {}

    def __call__(self, el: HtmlElement, selector: str) -> bool:
        chain = _chain(selector)
        if chain is None:
            if selector not in self._xpath:
                found = _matching(self._root, self._keys, [selector])
                self._xpath[selector] = {id(e) for e in found}
            return id(el) in self._xpath[selector]
        return _matches(el, chain, self._memo.setdefault(selector, {}))


def _inline_colours(
    elements: list[HtmlElement], variables: dict[str, str]
) -> list[tuple[HtmlElement, str, Colour | None]]:
    """(element, "color" or "background", colour) set by an element's own markup: its style,
    <font color>, bgcolor."""
    found: list[tuple[HtmlElement, str, Colour | None]] = []
    for el in elements:
        if el.tag == "font" and el.get("color"):
            found.append((el, "color", colour(el.get("color") or "")))
        if el.get("bgcolor"):
            found.append((el, "background", colour(el.get("bgcolor") or "")))
        style = el.get("style")
        if style and ("color" in style or "background" in style):
            d = declarations(style, variables)
            if "color" in d:
                found.append((el, "color", colour(d["color"])))
            if "background" in d or "background-color" in d:
                found.append((el, "background", background_colour(d)))
    return found


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


@functools.lru_cache(maxsize=8192)
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
