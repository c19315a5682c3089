"""Pure: what kind of sentence a span of an article is - a statement that stands on its own (not a
fragment, a question or a caption), whether it hedges, and who it says says what."""

from __future__ import annotations

import re
from collections.abc import Sequence

from summarizer.grounding.lexicon import SPEECH, wordset

# Verbs of saying: "X said Y", "said X", "X asked whether Y".
SPEECH_VERBS = SPEECH | wordset("asked asks")
# Words that qualify what a sentence states: it is not told as a plain fact.
HEDGES = re.compile(
    r"\b(?:may|might|could|would|reportedly|allegedly|apparently|possibly|probably|likely|"
    r"unlikely|expected to|plans? to|planned to|planning to|intends? to|aims? to|appears? to|"
    r"seems? to|believed to|thought to|estimated|suggests?|suggested|according to)\b",
    re.IGNORECASE,
)
# A caption, a credit or a page's own furniture, not a statement of the article.
_FURNITURE = re.compile(
    r"^(?:photo|picture|image|video|watch|listen|read more|related|see also|click|scroll down|"
    r"follow|share|subscribe|sign up|copyright|advertisement|getty|reuters|ap photo)\b",
    re.IGNORECASE,
)
_ENDS = re.compile(r"[.!][\"'”’)\]]*$")
_STARTS = re.compile(r"^[\"'“‘(]?[A-Z0-9]")
_CLOSING_SINGLE = re.compile(r"[.!?,]’")
_WORD = r"(?:(?:[A-Z]\.)+|[A-Z][\w’'-]*)"
_NAME = rf"{_WORD}(?:\s+(?:(?:of|de|al|bin|van|von|der|la)\s+)?{_WORD})*"
_SAYS = "|".join(sorted(SPEECH_VERBS - {"according"}))
_SPEAKER_BEFORE = re.compile(rf"\b({_NAME})(?:'s|’s)?\s+(?:\w+ly\s+)?(?:{_SAYS})\b")
# "..., said John Smith." - not "said Rademenes gives hugs", where the name is what is said.
_SAYS_BEFORE = "|".join(
    sorted(SPEECH_VERBS - {"according", "tell", "tells", "told", "asked", "asks"})
)
_SPEAKER_AFTER = re.compile(rf"\b(?:{_SAYS_BEFORE})\s+({_NAME})(?=\s*(?:[,.;:!?)\"”’]|$))")
_ACCORDING = re.compile(rf"\b[Aa]ccording to\s+(?:the\s+)?({_NAME})")
_PRONOUN_SPEAKER = re.compile(
    rf"\b(?:he|she|they|it|we|i|the(?:\s+\w+){{1,3}})\s+(?:\w+ly\s+)?(?:{_SAYS})\b",
    re.IGNORECASE,
)
# Capitalised words that start sentences or name no one.
_NOT_NAMES = frozenset(
    [
        "The",
        "A",
        "An",
        "In",
        "On",
        "At",
        "It",
        "He",
        "She",
        "They",
        "We",
        "I",
        "But",
        "And",
        "This",
        "That",
        "These",
        "Those",
        "There",
        "His",
        "Her",
        "Their",
        "Its",
        "If",
        "When",
        "While",
        "After",
        "Before",
        "As",
        "For",
        "Mr",
        "Mrs",
        "Ms",
        "Dr",
        "Prof",
        "Sir",
        "President",
        "Minister",
        "Chief",
        "Deputy",
        "Vice",
        "Prime",
        "Secretary",
        "Spokesman",
        "Spokeswoman",
        "Spokesperson",
        "Officials",
        "Police",
    ]
)


def standalone(sentence: str) -> bool:
    """Whether a sentence is a statement a reader can take on its own: a whole declarative
    sentence of 6 to 70 words, not a question, a caption, a heading or a piece of a quotation
    that goes on in another sentence."""
    s = sentence.strip()
    words = s.split()
    if not 6 <= len(words) <= 70 or not _ENDS.search(s) or not _STARTS.match(s):
        return False
    if _FURNITURE.match(s.lstrip("\"'“‘(")) or not re.search(r"\b[a-z]{3,}\b", s):
        return False
    # A quotation begun or ended in another sentence: its marks do not pair up. (’ is also an
    # apostrophe: a single quotation ends where it follows punctuation.)
    if s.count('"') % 2 or s.count("“") != s.count("”"):
        return False
    last_open = s.rfind("‘")
    if last_open >= 0 and "’" not in s[last_open:]:
        return False
    return "‘" in s or _CLOSING_SINGLE.search(s) is None


def hedged(sentence: str) -> bool:
    """Whether the sentence qualifies what it says ("may", "reportedly", "plans to")."""
    return HEDGES.search(sentence) is not None


def named_speakers(text: str) -> list[str]:
    """The names the text gives as saying something ("X said", "said X", "according to X"), in
    order."""
    found: list[tuple[int, str]] = []
    for pattern in (_SPEAKER_BEFORE, _SPEAKER_AFTER, _ACCORDING):
        for m in pattern.finditer(text):
            name = _trim(m.group(1))
            if name:
                found.append((m.start(1), name))
    return list(dict.fromkeys(name for _, name in sorted(found)))


# Capitalised words that name a time, not someone.
_TIMES = wordset(
    """January February March April May June July August September October November December
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday"""
)


def names_in(text: str) -> list[str]:
    """The names a text gives (capitalised words not opening it, nor naming a time), in order:
    "The reply from Binance came on Monday" gives ["Binance"]."""
    found = []
    for m in re.finditer(_NAME, text):
        start = text[: m.start()].rstrip()
        if not start or start[-1] in '.!?"“‘:':
            continue  # a sentence's first word
        name = " ".join(w for w in _trim(m.group()).split() if w not in _TIMES)
        # A people's adjective before its noun ("Russian users") names no one.
        if _ADJECTIVE.search(name) and re.match(r"\s+[a-z]", text[m.end() :]):
            continue
        if name:
            found.append(name)
    return list(dict.fromkeys(found))


_ADJECTIVE = re.compile(r"(?:ian|ean|an|ese|ish|i)$")


def unnamed_speaker(text: str) -> bool:
    """Whether someone the text does not name there speaks in it ("he said", "the firm says")."""
    return _PRONOUN_SPEAKER.search(text) is not None


def _trim(name: str) -> str:
    """A name without the capitalised words around it that name no one ("The", "Mr") nor what
    it belongs to ("Ukraine's Vice Prime Minister Mykhailo Fedorov": "Mykhailo Fedorov")."""
    name = re.split(r"[’']s\s+", name)[-1]
    words = [w.rstrip(",") for w in name.split()]
    while words and (words[0] in _NOT_NAMES or words[0].islower()):
        words.pop(0)
    while words and (words[-1] in _NOT_NAMES or words[-1].islower()):
        words.pop()
    return " ".join(words)


# Capitalised words that say what someone is, not who: not a name to tell speakers apart by.
_TITLES = wordset(
    """director minister president chancellor secretary chief executive officer chairman
    chairwoman spokesman spokeswoman spokesperson head judge justice governor senator mayor
    professor captain general prime vice deputy lord lady sir the mr mrs ms dr"""
)


def capitalised(text: str) -> set[str]:
    """The capitalised words of a text, and each two in a row as one ("Tech Crunch")."""
    words = [w.lower() for w in re.findall(r"[A-Z][\w’'-]{2,}", text)]
    pairs = {a + b for a, b in re.findall(r"\b([A-Z][\w’'-]+)\s+([A-Z][\w’'-]+)", text)}
    return (set(words) | {p.lower() for p in pairs}) - _TITLES


def names_one_of(who: str, names: Sequence[str]) -> bool:
    """Whether `who` ("Ukraine's minister Mykhailo Fedorov", "Fedorov") is one of `names`."""
    return bool(capitalised(who) & capitalised(" ".join(names)))


# Quotation marks: a sentence holding them gives someone's words.
_QUOTED = re.compile(r"[\"“”]|(?:^|\s)‘")


def quotes_someone(sentence: str) -> bool:
    """Whether the sentence holds someone's words in quotation marks."""
    return _QUOTED.search(sentence) is not None
