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


# Words after which a full stop ends no sentence: titles, initials, months, "No." and the like.
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "jr",
        "sr",
        "gen",
        "gov",
        "sen",
        "rep",
        "lt",
        "col",
        "capt",
        "sgt",
        "maj",
        "cmdr",
        "adm",
        "mt",
        "ft",
        "rev",
        "hon",
        "pres",
        "supt",
        "insp",
        "det",
        "vs",
        "v",
        "etc",
        "approx",
        "inc",
        "corp",
        "ltd",
        "co",
        "bros",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "fig",
        "vol",
        "pp",
        "ch",
        "dept",
        "univ",
        "est",
        "mx",
        "messrs",
    ]
)
# A sentence may begin after a dotted acronym ("in the U.S. The...") only with one of these.
_STARTERS = frozenset(
    [
        "the",
        "a",
        "an",
        "in",
        "it",
        "he",
        "she",
        "they",
        "we",
        "i",
        "but",
        "and",
        "this",
        "that",
        "these",
        "those",
        "there",
        "his",
        "her",
        "their",
        "its",
        "on",
        "at",
        "as",
        "for",
        "after",
        "before",
        "when",
        "while",
        "if",
        "however",
        "meanwhile",
        "since",
        "yet",
        "so",
        "some",
        "many",
        "most",
        "one",
        "officials",
        "police",
    ]
)
# The end of a sentence: . ! ? or an ellipsis, closing quotes or brackets, then white space
# before what may start one (a capital, a digit, an opening quote or bracket) - or, in text that
# lost its spaces ("in 2015.The driver"), a capitalised word right after the full stop.
_SENTENCE_END = re.compile(
    r"(?:[.!?]|…)[\"'”’)\]]*(?:\s+(?=[\"'“‘(\[]?[A-Z0-9])|(?<=[a-z0-9][.!?])(?=[A-Z][a-z]))"
)
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)[.!?…][\"'”’)\]]*\s*$")
_FIRST_WORD = re.compile(r"[\"'“‘(\[]?([A-Za-z]+)")
# The mark of an item of a list, before its text: not part of the sentence.
_BULLET = re.compile(r"[•▪●◦‣*·–—-]\s+")
# A sentence longer than this (a list without full stops) is cut at white space.
MAX_SENTENCE_CHARS = 800


def _ends_sentence(text: str, cut: int, lo: int) -> bool:
    """Whether the full stop before `cut` ends a sentence (not "Mr.", "J.", "U.S. officials")."""
    before = _WORD_BEFORE.search(text, max(lo, cut - 40), cut)
    if before is None:
        return True
    word = before.group(1)
    if text[before.end(1)] != ".":
        return True  # "!" or "?"
    bare = word.rstrip(".").lower()
    if "." in word.rstrip("."):  # a dotted acronym: U.S., a.m.
        after = _FIRST_WORD.match(text, cut)
        return after is not None and after.group(1).lower() in _STARTERS
    if bare in _NUMBER_SIGNS:  # "No. 5", but "he said no. Then"
        return not text[cut : cut + 1].isdigit()
    return not (len(word) == 1 and word.isupper()) and bare not in _ABBREVIATIONS


_NUMBER_SIGNS = frozenset(["no", "nos"])


def sentence_spans(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[tuple[int, int]]:
    """The sentences of `text` as spans, in order: each line cut at the ends of its sentences.

    Every span is stripped of white space and never empty; a heading or a caption on a line of
    its own is a span of its own, and so is what is left of a sentence too long to be one.
    """
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        start, end = strip_span(text, line.start(), line.end())
        bullet = _BULLET.match(text, start, end)
        piece = start = bullet.end() if bullet else start
        for m in _SENTENCE_END.finditer(text, start, end):
            if m.end() < end and _ends_sentence(text, m.end(), piece):
                spans.extend(_cut_long(text, *strip_span(text, piece, m.end()), max_chars))
                piece = m.end()
        spans.extend(_cut_long(text, *strip_span(text, piece, end), max_chars))
    return [s for s in spans if s[0] < s[1]]


def _cut_long(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    out = []
    while end - start > max_chars:
        cut = text.rfind(" ", start + max_chars // 2, start + max_chars)
        cut = cut if cut > start else start + max_chars
        out.append(strip_span(text, start, cut))
        start = strip_span(text, cut, end)[0]
    out.append((start, end))
    return out


_SINGULARS = {"entries": "entry", "stories": "story", "copies": "copy"}


def counted(n: int, noun: str) -> str:
    """`n` and its noun, given in the plural: "3 key points", and for one "1 key point",
    "1 model call", "1 entry" (the last word made singular)."""
    if n == 1:
        *head, last = noun.split(" ")
        if last in _SINGULARS:
            last = _SINGULARS[last]
        elif last.endswith("s") and not last.endswith("ss"):
            last = last[:-1]
        noun = " ".join([*head, last])
    return f"{n} {noun}"
