"""The words the support check reads meaning from: negations and reversals, verbs of saying, words
of order and degree, of modality (plans, possibilities) and of condition, the frames that deny
what follows them, and the names that are one name written several ways."""

from __future__ import annotations

import re


def wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


NUMBER_NAMES = {
    "zero": "0",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "twenty": "20",
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "hundred": "100",
    "dozen": "12",
}
REVERSALS = wordset(
    """not no never none nobody nothing neither nor without cannot refuse refused refuses
    refusing decline declined declines declining deny denied denies denying reject rejected
    rejects rejecting fail failed fails failing unable unwilling"""
)
# Verbs of saying: "X said Y", "Y, according to X" and "X told reporters Y" say the same.
SPEECH = wordset(
    """say says said saying tell tells told state states stated according added adds noted notes
    explained explains wrote writes announced announces reported reports claimed claims argued
    argues tweeted tweets warned warns insisted insists stressed stresses confirmed confirms
    admitted admits"""
)
# Words of direction, order and degree: one not in the quotes turns what they say around.
ORDER = wordset(
    """before after up down over under off out more less most least above below fewer higher
    lower greater smaller larger bigger earlier later first last rise rose fall fell gain gained
    lose lost only notonly"""
)
# Words of order and degree and their opposites: one whose opposite its source says turns what
# it says around; one its source simply leaves out is a detail it does not give.
_OPPOSITES = [
    "before after", "up down", "over under", "more less", "more fewer", "most least",
    "higher lower", "greater smaller", "larger smaller", "bigger smaller", "earlier later",
    "first last", "rise fall", "rose fell", "gain lose", "gained lost", "above below",
    "on off", "in out",
]  # fmt: skip
OPPOSITE = {a: b for pair in _OPPOSITES for a, b in [pair.split(), pair.split()[::-1]]}
# A statement ending on one of these stops mid-clause: "Binance said that it will" (| not ...).
DANGLING = wordset(
    """will would shall should can could may might must is are was were be been has have had do
    does did to that the a an of"""
)
# What a clause says of how sure its content is, by kind: a statement keeps each kind its source
# gives ("plans to block" is not "has blocked", "may rise" not "will rise"); "would" a few words
# after a verb of saying is what "will" is in reported speech ("said it would").
_MODAL_KINDS = {
    "will": r"will|shall|won['’]t|(?:is|are|was|were)\s+(?:going|set|due)\s+to",
    "may": r"may|might|could|couldn['’]t|can|possibly|perhaps|potentially",
    "would": r"would|wouldn['’]t",
    "should": r"should|shouldn['’]t|must|ought\s+to",
    "likely": r"likely|unlikely|probably",
    "reportedly": r"reportedly|allegedly|apparently|supposedly",
    "plan": r"plans?|planned|planning|intends?|intended|intending|aims?|aimed|aiming|"
    r"(?:is|are|was|were)\s+considering|proposes?|proposed|seeks?|seeking|sought",
    "want": r"hopes?|hoped|hoping|wants?|wanted|wanting|wishe?s?|wished",
    "expect": r"expects?|expected|expecting",
    "promise": r"promises?|promised|pledges?|pledged|vows?|vowed|threatens?|threatened|"
    r"offers?|offered",
}
# Verbs of intent count before "to", and not as nouns ("drew up plans to").
_INTENT = frozenset(["plan", "want", "expect", "promise"])
_NOUN_BEFORE = (
    r"(?<!\bthe\s)(?<!\ba\s)(?<!\bits\s)(?<!\bhis\s)(?<!\bher\s)(?<!\btheir\s)"
    r"(?<!\bour\s)(?<!\bup\s)(?<!\bnew\s)(?<!\bof\s)(?<!\bhas\s)(?<!\bhave\s)"
)
_MODAL = re.compile(
    r"\b(?:"
    + "|".join(
        f"{_NOUN_BEFORE}(?P<{k}>(?:{v})\\s+to)" if k in _INTENT else f"(?P<{k}>{v})"
        for k, v in _MODAL_KINDS.items()
    )
    + r")\b",
    re.IGNORECASE,
)
# A verb of saying (or thinking) a few words before "would": reported speech, "said it would".
_REPORTED = re.compile(
    r"\b(?:said|says|told|announced|added|claimed|insisted|warned|promised|stated|explained|"
    r"wrote|reported|confirmed|revealed|predicted|suggested|argued|agreed|decided|thought|"
    r"believed|expected|hoped|knew|feared)\b(?:\W+\w+){0,6}\W*$",
    re.IGNORECASE,
)


def modality(clause: str, before: str = "") -> dict[str, str]:
    """The kinds of how-sure words of `clause` ("will", "may", "plan"...), each with the word
    written. `before`: the text of its sentence before it (where a verb of saying may be)."""
    found: dict[str, str] = {}
    for m in _MODAL.finditer(clause):
        kind = m.lastgroup or ""
        if kind == "would" and _REPORTED.search(f"{before} {clause[: m.start()]}"):
            kind = "will"
        found.setdefault(kind, m.group())
    return found


# What opens a clause that holds only if something else does: "if", "unless", "should X do"
# (an inversion: "should" or "were" before a name, a pronoun or "the").
CONDITION = re.compile(
    r"\s*(?:(?i:(?:only\s+)?if|unless|provided(?:\s+that)?|providing|assuming|in\s+case|"
    r"in\s+the\s+event|as\s+long\s+as|on\s+condition)\b|(?i:should|were|had)\s+"
    r"(?:(?i:the|a|an|it|they|he|she|we|you|i)\b|[A-Z]\w*))"
)
# What denies the clause it introduces: "it is not true that X", "denied that X", "contrary to
# reports that X", "false claims that X". The clause after it says not-X.
DENYING = re.compile(
    r"\b(?:(?:it\s+is|it['’]s|this\s+is|that\s+is)\s+(?:not\s+true|untrue|false|a\s+lie|a\s+myth"
    r"|wrong|incorrect|not\s+the\s+case)\s+that|(?:denied|denies|deny|denying|rejected|rejects|"
    r"dismissed|dismisses|refuted|refutes|disputed|disputes)\s+(?:(?:the\s+)?(?:claims?|reports?|"
    r"suggestions?|allegations?|accusations?|rumou?rs?)\s+)?that|contrary\s+to\s+(?:\w+\s+){0,3}"
    r"that|(?:false|untrue|baseless|unfounded)\s+(?:claims?|reports?|allegations?|rumou?rs?)\s+"
    r"that|there\s+is\s+no\s+(?:evidence|proof|sign)\s+that|no\s+(?:evidence|proof)\s+that)\b",
    re.IGNORECASE,
)
# One name written several ways: each key stands for the same set of names.
_SAME_NAMES = [
    "us usa united_states america american americans u.s u.s.a",
    "uk britain great_britain united_kingdom british u.k",
    "eu european_union e.u",
    "un united_nations u.n",
    "uae united_arab_emirates",
    "nyc new_york_city",
    "dc washington_d.c d.c",
]
NAME_VARIANTS = {name: frozenset(group.split()) for group in _SAME_NAMES for name in group.split()}
