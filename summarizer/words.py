"""Words, for counting and comparing text: Chinese and Japanese, written without spaces, are
taken a character at a time."""

from __future__ import annotations

import re

# Kana and the CJK ideographs: scripts written without spaces between words.
UNSPACED = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
UNSPACED_CHAR = re.compile(f"[{UNSPACED}]")
# A run of letters and digits of the spaced scripts.
SPACED_WORD = re.compile(f"[^\\W{UNSPACED}]+")
# A word of a spaced script, or one character of an unspaced one.
TOKEN = re.compile(f"[{UNSPACED}]|[^\\W{UNSPACED}]+")


def strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The span `text[start:end]` without white space at either end."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
