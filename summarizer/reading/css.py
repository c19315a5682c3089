"""Pure: the little of CSS that tells whether a reader sees a piece of text - declarations (with
custom properties resolved), lengths, colours and their contrast, and the rules of a stylesheet
that apply on every screen.

Near-invisible counts as invisible: a reader does not see text at 1% opacity, 1px high, white on
the white page, or clipped and moved off the page by any property.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Literal

_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_IMPORTANT = re.compile(r"!\s*important", re.IGNORECASE)
_BRACES = re.compile(r"[{};]")
_VAR = re.compile(r"var\(\s*(--[\w-]+)\s*(?:,\s*([^()]*(?:\([^()]*\)[^()]*)*))?\)")
_NUMBER = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))([a-z%]*)$")

# Under these a reader sees nothing: opacity, a font's size (by unit), a scale.
OPACITY_MIN = 0.1
FONT_MIN = {"px": 4.0, "pt": 3.0, "em": 0.25, "rem": 0.25, "%": 25.0, "vw": 0.3, "vh": 0.3, "": 0.0}
SCALE_MIN = 0.1
# Moved this far (px; em and the like count 16px) a box is off any screen.
FAR = 500.0
# Text whose colour has less contrast than this with its background is not read (WCAG ratio:
# 1 is the same colour, 21 black on white; #eee on white is 1.16, #ccc on white 1.6).
CONTRAST_MIN = 1.3
WHITE = (1.0, 1.0, 1.0, 1.0)
# The longest value a custom property may resolve to.
MAX_VALUE = 1024

Hiding = Literal["", "hard", "soft", "size"]
Variables = tuple[tuple[str, str], ...]


def declarations(style: str, variables: Mapping[str, str] | None = None) -> dict[str, str]:
    """Property -> value (lower case, spaces collapsed) of a declaration block; custom
    properties (`var(--x)`) resolved from the block's own and `variables`."""
    return dict(_declared(style, tuple(sorted((variables or {}).items()))))


@functools.lru_cache(maxsize=8192)  # rule bodies and inline styles repeat
def _declared(style: str, given: Variables) -> tuple[tuple[str, str], ...]:
    variables = dict(given)
    style = _IMPORTANT.sub("", _COMMENT.sub("", style))
    found: dict[str, str] = {}
    for declaration in style.split(";"):
        prop, sep, value = declaration.partition(":")
        if sep:
            name = prop.strip()
            found[name if name.startswith("--") else name.lower()] = " ".join(value.split())
    known = {**variables, **{k: v for k, v in found.items() if k.startswith("--")}}
    return tuple((k, resolve(v, known).lower()) for k, v in found.items() if not k.startswith("--"))


def custom_properties(style: str) -> dict[str, str]:
    """The custom properties (`--x: value`) a declaration block sets."""
    found = {}
    for declaration in _COMMENT.sub("", style).split(";"):
        prop, sep, value = declaration.partition(":")
        if sep and prop.strip().startswith("--"):
            found[prop.strip()] = " ".join(_IMPORTANT.sub("", value).split())
    return found


def resolve(value: str, variables: Mapping[str, str], seen: frozenset[str] = frozenset()) -> str:
    """`value` with each `var(--name, fallback)` replaced (names defined in terms of others
    too). A name that refers back to itself is invalid, as browsers have it, and a value that
    grows past MAX_VALUE is no value: a few bytes of style must not expand to gigabytes."""
    if "var(" not in value:
        return value
    if len(seen) > 8:
        return ""

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in seen:
            return ""
        found = variables.get(name)
        if found is None:
            return (m.group(2) or "").strip()
        return resolve(found, variables, seen | {name})

    out = _VAR.sub(one, value)
    return out if len(out) <= MAX_VALUE else ""


def length(value: str) -> tuple[float, str] | None:
    """A CSS length as (number, unit), or None."""
    m = _NUMBER.match(value.strip())
    return (float(m.group(1)), m.group(2)) if m else None


def _pixels(value: str) -> float | None:
    found = length(value)
    if found is None:
        return None
    number, unit = found
    return number * {"em": 16.0, "rem": 16.0, "pt": 4 / 3, "vw": 16.0, "vh": 16.0}.get(unit, 1.0)


def tiny_font(value: str) -> bool:
    """Whether a font size is too small to read (0, 1px, 0.1em, ...)."""
    found = length(value)
    if found is None:
        return False  # small, medium, calc(...): sizes a reader reads
    number, unit = found
    return number <= 0 or number < FONT_MIN.get(unit, 0.0)


def far_off(value: str, sign: int = -1) -> bool:
    """Whether an offset moves a box off any screen: `sign` -1 for those that move it up or
    left when negative (left: -9999px, margin-left: -10000px), +1 for right and bottom.
    Widths of the viewport and percentages are left alone: they place a box on the screen
    (left: 50vw; translateX(-50%))."""
    found = length(value)
    if found is None or found[1] in ("%", "vw", "vh"):
        return False
    px = _pixels(value)
    return px is not None and px * sign >= FAR


@functools.lru_cache(maxsize=4096)  # pages repeat their inline styles thousands of times
def hiding(style: str, variables: Variables = ()) -> Hiding:
    """How CSS declarations hide the element from a reader: "hard" (not displayed, invisible),
    "soft" (transparent, too small, off the page, clipped away, its text the colour of its own
    background: what scripts also use to fade or slide content in), "size" (only its font is
    too small: what its children give a size of their own shows), or "" (not at all)."""
    d = declarations(style, dict(variables))
    if d.get("display") == "none":
        return "hard"
    if d.get("visibility") in ("hidden", "collapse") or d.get("content-visibility") == "hidden":
        return "hard"
    if _soft_hides(d):
        return "soft"
    return "size" if tiny_font(d.get("font-size", "1")) else ""


@functools.lru_cache(maxsize=4096)
def sizes_text(style: str, variables: Variables = ()) -> bool:
    """Whether declarations give text a font size of its own that can be read."""
    size = declarations(style, dict(variables)).get("font-size")
    return size is not None and length(size) is not None and not tiny_font(size)


def _soft_hides(d: dict[str, str]) -> bool:
    opacity = length(d.get("opacity", "1"))
    if opacity is not None and opacity[0] / (100 if opacity[1] == "%" else 1) < OPACITY_MIN:
        return True
    fg = colour(d["color"]) if "color" in d else None
    if fg is not None and fg[3] < OPACITY_MIN:
        return True
    background = background_colour(d)
    if fg is not None and background is not None and contrast(fg, background) < CONTRAST_MIN:
        return True
    if d.get("position") in ("absolute", "fixed", "relative") and (
        any(far_off(d.get(side, "")) for side in ("left", "top"))
        or any(far_off(d.get(side, ""), +1) for side in ("right", "bottom"))
    ):
        return True
    shorthand = d.get("margin", "").split()
    margins = [d.get("margin-left", ""), d.get("margin-top", ""), *shorthand[:1]]
    margins += shorthand[3:4] or shorthand[1:2]  # the left margin: the 4th value, else the 2nd
    if any(far_off(m) for m in [d.get("text-indent", ""), *margins]):
        return True
    if _transformed_away(d.get("transform", "")) or _clipped_away(d):
        return True
    tiny = _pixels(d.get("width", "1")) == 0 or _pixels(d.get("height", "1")) == 0
    return bool(tiny and d.get("overflow") in ("hidden", "clip"))


_FUNCTION = re.compile(r"([a-z0-9]+)\(([^()]*)\)")


def _transformed_away(transform: str) -> bool:
    """Scaled to (nearly) nothing, or translated off any screen."""
    for name, args in _FUNCTION.findall(transform):
        values = [v for v in re.split(r"[\s,]+", args.strip()) if v]
        if name.startswith("scale") and any(
            (n := length(v)) is not None and abs(n[0]) < SCALE_MIN for v in values
        ):
            return True
        if name.startswith("translate") and any(far_off(v) or far_off(v, +1) for v in values):
            return True
    return False


def _clipped_away(d: dict[str, str]) -> bool:
    """Clipped to half its size or less from each side, to a point, or to nothing."""
    for name, args in _FUNCTION.findall(d.get("clip-path", "")):
        values = [length(v) for v in re.split(r"[\s,]+", args.strip()) if v and v != "round"]
        if name == "inset" and _inset_away(values):
            return True
        if name in ("circle", "ellipse") and values and values[0] is not None and values[0][0] == 0:
            return True
    clip = _FUNCTION.search(d.get("clip", ""))
    if clip and clip.group(1) == "rect" and d.get("position") in ("absolute", "fixed"):
        sides = [_pixels(v) for v in re.split(r"[\s,]+", clip.group(2).strip()) if v]
        if len(sides) == 4 and None not in sides:
            top, right, bottom, left = (s or 0.0 for s in sides)
            return right - left <= 1 or bottom - top <= 1
    return False


def _inset_away(values: list[tuple[float, str] | None]) -> bool:
    """Whether `inset(...)` (1 to 4 percentages, as margins are given) leaves nothing: its top
    and bottom, or its left and right, add up to the whole box."""
    sides = [v[0] if v is not None and v[1] == "%" else 0.0 for v in values[:4]]
    if not sides:
        return False
    # 1 value: all sides; 2: top-bottom, left-right; 3: top, left-right, bottom; 4: each.
    top = sides[0]
    right = sides[1] if len(sides) > 1 else top
    bottom = sides[2] if len(sides) > 2 else top
    left = sides[3] if len(sides) > 3 else right
    return top + bottom >= 100 or left + right >= 100


# Colours

_NAMED = {
    "white": "#ffffff", "black": "#000000", "red": "#ff0000", "green": "#008000",
    "blue": "#0000ff", "yellow": "#ffff00", "gray": "#808080", "grey": "#808080",
    "silver": "#c0c0c0", "whitesmoke": "#f5f5f5", "snow": "#fffafa", "ivory": "#fffff0",
    "ghostwhite": "#f8f8ff", "floralwhite": "#fffaf0", "azure": "#f0ffff",
    "mintcream": "#f5fffa", "honeydew": "#f0fff0", "aliceblue": "#f0f8ff",
    "seashell": "#fff5ee", "linen": "#faf0e6", "oldlace": "#fdf5e6", "beige": "#f5f5dc",
    "lightgray": "#d3d3d3", "lightgrey": "#d3d3d3", "gainsboro": "#dcdcdc",
    "transparent": "#00000000",
}  # fmt: skip
_HEX = re.compile(r"#([0-9a-f]{3,8})")
_RGB = re.compile(r"rgba?\(([^)]*)\)")

Colour = tuple[float, float, float, float]


def colour(value: str) -> Colour | None:
    """A CSS colour as (r, g, b, alpha) from 0 to 1: hex, rgb()/rgba() and common names."""
    value = value.strip().lower()
    value = _NAMED.get(value, value)
    m = _HEX.fullmatch(value)
    if m:
        digits = m.group(1)
        if len(digits) in (3, 4):
            digits = "".join(c * 2 for c in digits)
        if len(digits) not in (6, 8):
            return None
        parts = [int(digits[i : i + 2], 16) / 255 for i in range(0, len(digits), 2)]
        return (parts[0], parts[1], parts[2], parts[3] if len(parts) == 4 else 1.0)
    m = _RGB.fullmatch(value)
    if m:
        raw = [v for v in re.split(r"[\s,/]+", m.group(1).strip()) if v]
        if len(raw) not in (3, 4):
            return None
        try:
            rgb = [float(v[:-1]) / 100 if v.endswith("%") else float(v) / 255 for v in raw[:3]]
            alpha = 1.0
            if len(raw) == 4:
                alpha = float(raw[3][:-1]) / 100 if raw[3].endswith("%") else float(raw[3])
        except ValueError:
            return None
        return (rgb[0], rgb[1], rgb[2], alpha)
    return None


def background_colour(d: Mapping[str, str]) -> Colour | None:
    """The background colour declarations give, when they give one (an image or a gradient is
    no colour: nothing can be said against it)."""
    if "background-color" in d:
        return colour(d["background-color"])
    value = d.get("background")
    if value is None:
        return None
    found = colour(value) or next((colour(w) for w in value.split() if colour(w)), None)
    return None if found is None or "url(" in value or "gradient(" in value else found


def opaque(c: Colour) -> bool:
    return c[3] >= 0.5


def contrast(fg: Colour, bg: Colour) -> float:
    """The WCAG contrast ratio of two colours (1 to 21)."""

    def luminance(c: Colour) -> float:
        def channel(v: float) -> float:
            return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

        r, g, b = (channel(v) for v in c[:3])
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    a, b = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


# Stylesheets

# Properties that can hide (or show again) an element: an at-rule setting one restyles it.
_RESTYLES = re.compile(
    r"\b(display|visibility|opacity|font-size|color|background|position|left|top|right|bottom|"
    r"text-indent|transform|width|height|margin|clip|clip-path)[\w-]*\s*:",
    re.I,
)
# At-rules whose rules apply on every screen, as if written outside them.
_EVERYWHERE = re.compile(
    r"^@(?:media\s+(?:only\s+)?(?:all|screen)(?:\s*,\s*(?:all|screen))*|layer\b.*)$"
)
# Pseudo-classes that depend on where an element is, not on what the reader does.
_STRUCTURAL = re.compile(
    r":(?:first-child|last-child|only-child|first-of-type|last-of-type|only-of-type|root|empty"
    r"|nth-(?:last-)?(?:child|of-type)\([^)]*\))",
    re.I,
)
# Selectors of the rules whose custom properties every element inherits.
_ROOTS = frozenset({":root", "html", "body", "*"})


@functools.lru_cache(maxsize=64)  # one page's stylesheets are read for several things
def sheet_rules(css: str) -> tuple[tuple[str, str, bool], ...]:
    """(selectors, declarations, inside a conditional at-rule) for each style rule of a
    stylesheet, its comments dropped."""
    return tuple(css_rules(_COMMENT.sub("", css)))


def css_rules(css: str, nested: bool = False) -> Iterator[tuple[str, str, bool]]:
    """(selectors, declarations, inside a conditional at-rule) for each style rule in `css`."""
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
                    everywhere = _EVERYWHERE.match(" ".join(prelude.lower().split()))
                    yield from css_rules(body, nested=nested or not everywhere)
                elif "{" not in body:
                    yield prelude, body, nested
                start = i + 1
        elif ch == ";" and depth == 0:
            start = i + 1  # e.g. @import url(...);


def root_variables(css: str) -> dict[str, str]:
    """The custom properties a stylesheet sets for the whole page (on :root, html, body, *)."""
    found: dict[str, str] = {}
    for prelude, body, nested in sheet_rules(css):
        if not nested and any(s.strip().lower() in _ROOTS for s in prelude.split(",")):
            found.update(custom_properties(body))
    return found


def hiding_selectors(css: str, variables: Variables = ()) -> list[tuple[str, Hiding]]:
    """Selectors of the rules in a stylesheet that hide what they match on every screen, and
    how; and those that give text a size (how: ""), which shows it inside a parent of font
    size 0.

    Rules inside conditional at-rules (@media print, a minimum width) are skipped: they hide
    only on some screens; and so are selectors that such an at-rule styles again (hidden on
    phones, shown on desktops), and those that depend on the reader (:hover, ::before).
    """
    found: list[tuple[str, Hiding]] = []
    restyled: set[str] = set()
    for prelude, body, nested in sheet_rules(css):
        selectors = [s.strip() for s in prelude.split(",")]
        how = hiding(body, variables)
        if nested:
            if not how and _RESTYLES.search(body):
                restyled.update(selectors)
        elif how or sizes_text(body, variables):
            found.extend((s, how) for s in selectors)
    return [
        (s, how)
        for s, how in found
        if s and ":" not in _STRUCTURAL.sub("", s) and s not in restyled
    ]


def colour_selectors(css: str, variables: Variables = ()) -> list[tuple[str, str, str]]:
    """(selector, property, value) of the colours and backgrounds a stylesheet's rules set on
    every screen: with them, white text on the page's white is found."""
    found: list[tuple[str, str, str]] = []
    for prelude, body, nested in sheet_rules(css):
        if nested:
            continue
        d = declarations(body, dict(variables))
        for prop in ("color", "background-color", "background"):
            if prop in d:
                for s in prelude.split(","):
                    if s.strip() and ":" not in _STRUCTURAL.sub("", s.strip()):
                        found.append((s.strip(), prop, d[prop]))
    return found
