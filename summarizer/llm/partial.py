"""Pure: a reply read in its schema, and what a JSON reply stopped before its end said in full -
its text cut after the last value it completed, its open objects and lists closed. A reply stopped
as a loop (the same item again and again, a string going round in circles) gives the items it
wrote before the loop."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TypeVar

from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)

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


def parse_reply(reply_model: type[T], content: str) -> T:
    """The reply validated: JSON whose strings may hold raw line breaks (a small model writes
    them, and a grammar may let it), then the model's schema; ValidationError if not."""
    try:
        data = json.loads(content, strict=False)
    except json.JSONDecodeError:
        return reply_model.model_validate_json(content)  # raises, saying where the JSON breaks
    return reply_model.model_validate(data)


# Cuts of a looping reply tried, at most (the latest first).
SALVAGE_TRIES = 64


def salvaged(reply_model: type[T], content: str) -> tuple[T, str] | None:
    """What a reply stopped as a loop said in full before the loop, valid in the schema (the
    items written before an item said again and again), or None."""
    for n, cut in enumerate(completed(content)):
        if n >= SALVAGE_TRIES:
            break
        try:
            reply = parse_reply(reply_model, cut)
            # An item said again before the loop was caught is said once.
            return reply_model.model_validate(distinct(reply.model_dump())), cut
        except ValidationError:
            continue
    return None
