"""Pure: what a JSON reply stopped before its end said in full - its text cut after the last value
it completed, its open objects and lists closed. A reply stopped as a loop (the same item again
and again, a string going round in circles) gives the items it wrote before the loop."""

from __future__ import annotations

from collections.abc import Iterator

_CLOSERS = {"{": "}", "[": "]"}


def completed(text: str) -> Iterator[str]:
    """`text` (JSON cut anywhere) cut after a value it completed inside its top-level object,
    its open objects and lists closed: the latest cut first, then earlier ones (a later cut may
    leave an item without a field it needs). Nothing when it completed no value; `text` itself
    when it is whole."""
    stack: list[str] = []
    keyed: list[bool] = []  # per open object: is the next string a key?
    in_string = escaped = is_key = False
    cuts: list[tuple[int, list[str]]] = []
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
                if stack and not is_key:
                    cuts.append((i + 1, list(stack)))  # a string value ends here
            continue
        if ch == '"':
            in_string = True
            is_key = bool(stack) and stack[-1] == "{" and keyed[-1]
            if is_key:
                keyed[-1] = False  # its value comes after the ':'
        elif ch in "{[":
            stack.append(ch)
            keyed.append(ch == "{")
        elif ch in "}]":
            if not stack or _CLOSERS[stack[-1]] != ch:
                return  # not JSON
            stack.pop()
            keyed.pop()
            if not stack:
                yield text[: i + 1]  # whole
                return
            cuts.append((i + 1, list(stack)))
        elif ch == "," and stack:
            if text[:i].rstrip()[-1:] not in ("{", "[", ",", ":"):
                cuts.append((i, list(stack)))  # the value before the comma is complete
            if stack[-1] == "{":
                keyed[-1] = True
    shown = {text[:end].rstrip() + "".join(_CLOSERS[c] for c in reversed(open_))
             for end, open_ in cuts}  # fmt: skip
    for end, open_ in reversed(cuts):
        cut = text[:end].rstrip() + "".join(_CLOSERS[c] for c in reversed(open_))
        if cut in shown:
            shown.discard(cut)
            yield cut


def distinct(value: object) -> object:
    """`value` (parsed JSON) with each list's repeated items dropped, at any depth: a loop's
    item written again and again is one item."""
    if isinstance(value, dict):
        return {k: distinct(v) for k, v in value.items()}
    if isinstance(value, list):
        seen: list[object] = []
        for item in (distinct(v) for v in value):
            if item not in seen:
                seen.append(item)
        return seen
    return value
