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
# At most six words: a run of capitalised words with no verb of saying is read once, not again
# from each of its words to its end.
_NAME = rf"{_WORD}(?:\s+(?:(?:of|de|al|bin|van|von|der|la)\s+)?{_WORD}){{0,5}}"
_SAYS = "|".join(sorted(SPEECH_VERBS - {"according"}))
_SPEAKER_BEFORE = re.compile(rf"\b({_NAME})(?:'s|’s)?\s+(?:\w+ly\s+)?(?:{_SAYS})\b")
# "..., said John Smith." - not "said Rademenes gives hugs", where the name is what is said.
_SAYS_BEFORE = "|".join(
    sorted(SPEECH_VERBS - {"according", "tell", "tells", "told", "asked", "asks"})
)
_SPEAKER_AFTER = re.compile(rf"\b(?:{_SAYS_BEFORE})\s+({_NAME})(?=\s*(?:[,.;:!?)\"”’]|$))")
_ACCORDING = re.compile(rf"\b[Aa]ccording to\s+(?:the\s+)?({_NAME})")
# Someone the text does not name there: a pronoun, or a description ("the crypto giant said",
# "police said", "a spokesperson said", "according to officials").
_PRONOUNS = r"he|she|they|it|we|i"
_UNNAMED = (
    rf"{_PRONOUNS}|(?:the|a|an|its|his|her|their|our)(?:\s+[\w-]+){{1,5}}|police|officials|"
    r"authorities|sources|experts|analysts|critics|residents|witnesses|investigators|prosecutors"
)
_PRONOUN_SPEAKER = re.compile(
    rf"\b(?P<who>{_UNNAMED})\s+(?:\w+ly\s+)?(?:{_SAYS})\b|\baccording\s+to\s+(?P<to>{_UNNAMED})\b",
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


def unnamed_speaker(text: str) -> str | None:
    """Who speaks in the text without being named there ("he", "the crypto giant", "police"),
    as the text says it; None when nobody does."""
    m = _PRONOUN_SPEAKER.search(text)
    return None if m is None else " ".join((m.group("who") or m.group("to")).split())


def pronoun(words: str) -> bool:
    """Whether `words` (a speaker) is a pronoun, whose person is named elsewhere."""
    return re.fullmatch(_PRONOUNS, words, re.IGNORECASE) is not None


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
