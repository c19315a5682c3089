"""Pure: the details a statement must find in the sources it cites - every number, amount and date
(a year or a month may come from the sentences around, or the source's date), and every name,
written there the same way or another ("US" and "United States", "Ukraine" and "Ukrainian")."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise

from summarizer.grounding.guard import (
    _DATE_WORDS,
    _NUMBER,
    _UNITS,
    FUNCTION_WORDS,
    WORD,
    _key,
    _names,
    _partner,
    soft,
)
from summarizer.grounding.lexicon import NAME_VARIANTS, NUMBER_NAMES


@dataclass(frozen=True)
class Evidence:
    """A verified quote, the sentence of the source it stands in, the source's title, the
    sentences just before it (where a quote's speaker is usually named; the sentence too) and
    after it, and the source's date (where a year the sentence leaves out is given)."""

    quote: str
    sentence: str
    title: str = ""
    before: str = ""
    after: str = ""
    dateline: str = ""


@dataclass
class Found:
    """What its sources do not back of a statement, and why: what they contradict (a figure or
    a name in place of theirs, the opposite, words given to another speaker: unsupported), and
    what they only do not say (a detail added, a plan told as a fact: at most partial)."""

    unbacked: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    doubts: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)

    def fail(self, words: str, reason: str) -> None:
        self.unbacked.append(words)
        self.reasons.append(reason)

    def doubt(self, words: str, reason: str) -> None:
        self.added.append(words)
        self.doubts.append(reason)


_LEADING_POINT = re.compile(r"(?<![\w.,])\.(?=\d)")
_ACRONYM = re.compile(r"\b[A-Z](?:\.[A-Z])+\b\.?")


def acronyms(text: str) -> str:
    """Dotted acronyms as one word: "U.S." is "US", "U.K." is "UK"."""
    return _ACRONYM.sub(lambda m: m.group().replace(".", ""), text)


def figures(text: str) -> list[tuple[str, str]]:
    """Numbers, amounts, percentages and dates, normalised -> as written."""
    text = _LEADING_POINT.sub("0.", soft(text))  # ".25 calibre" is 0.25
    found: list[tuple[str, str]] = []
    for m in _NUMBER.finditer(text):
        digits = re.sub(r",(?=\d{3}(?!\d))", "", m.group(2))
        unit = (m.group(3) or m.group(4) or "").lower()
        unit = _UNITS.get(re.sub(r"\s+", " ", unit), unit)
        found.append((f"{m.group(1)}{digits}{unit}", m.group().strip()))
    rest = _NUMBER.sub(lambda m: " " * len(m.group()), text)
    for m in WORD.finditer(rest):
        low = m.group().lower()
        if low in _DATE_WORDS and low != "today" and (low != "may" or _month_may(rest, m)):
            found.append((low[:3], m.group()))
        elif low in NUMBER_NAMES:
            found.append((NUMBER_NAMES[low], m.group()))
    return found


def _month_may(text: str, m: re.Match[str]) -> bool:
    """Whether "May" is the month: capitalised inside a sentence, or beside a day or year."""
    word = m.group()
    if not word[0].isupper():
        return False
    head = text[: m.start()].rstrip()
    if head and head[-1] not in '.!?"“':
        return True
    return bool(re.match(r"\s+\d", text[m.end() :]))


def check_figures(statement: str, evidence: Sequence[Evidence], found: Found) -> None:
    """Every number, amount and date of the statement is in its quotes (what a reader sees
    cited); a year, month or weekday may also come from the source's title or date. One the
    quotes do not give is a figure in place of theirs when they have one of its kind the
    statement does not say (unsupported), else a detail they leave out: a year or a month (at
    most partial, even when a sentence nearby has it: "founded in 2017" is not "froze in
    2017"), or a number they would have to give (unsupported)."""
    have = Counter(norm for norm, _ in figures(" \n".join(e.quote for e in evidence)))
    given = " \n".join(x for e in evidence for x in (e.title, _dateline(e.dateline)))
    dated = {norm for norm, _ in figures(given) if _datelike(norm)}
    said = figures(statement)
    for norm, _ in said:
        have[norm] -= 1
    unsaid = {_kind(norm) for norm, n in have.items() if n > 0}
    for norm, written in said:
        if have[norm] < 0 and norm not in dated:
            have[norm] += 1
            replaces = _kind(norm) in unsaid
            (found.doubt if _datelike(norm) and not replaces else found.fail)(
                written, f"{written!r} is not in its quotes"
            )


def _kind(norm: str) -> str:
    """What a figure is: a year, a month or weekday, or another number."""
    if norm.isalpha():
        return "day" if norm in ("mon", "tue", "wed", "thu", "fri", "sat", "sun") else "month"
    return "year" if _datelike(norm) else "number"


def _dateline(value: str) -> str:
    """A source's date as words: "2018-03-23T20:02Z" is "23 March 2018, a Friday"."""
    try:
        d = date.fromisoformat(value.strip()[:10])
    except ValueError:
        return value
    return f"{d.day} {d:%B} {d.year}, a {d:%A}"


def _datelike(norm: str) -> bool:
    return (norm.isdigit() and len(norm) == 4 and 1800 <= int(norm) <= 2100) or norm.isalpha()


def check_names(
    statement: str, evidence: Sequence[Evidence], found: Found
) -> tuple[set[str], frozenset[str]]:
    """Every name of the statement is in its quotes, their sentences, the sentences around them
    or the title - written there the same way or another ("US", "United States"; "TechCrunch",
    "Tech Crunch"; "Ukraine", "Ukrainian"). The statement's names, and the names around."""
    around = acronyms(
        soft(
            "\n".join(
                dict.fromkeys(
                    x
                    for e in evidence
                    for x in (e.sentence or e.quote, e.before, e.after, e.title)
                    if x
                )
            )
        )
    )
    tokens = WORD.findall(around)
    cited = WORD.findall(acronyms(soft(" ".join(e.sentence or e.quote for e in evidence))))
    keys = {_key(t) for t in tokens if not t[0].islower()}
    # Two capitalised words in a row, written as one: "Tech Crunch" is "techcrunch".
    keys |= {_key(a) + _key(b) for a, b in pairwise(tokens)
             if a[:1].isupper() and b[:1].isupper()}  # fmt: skip
    flat = " ".join(_key(t) for t in tokens)
    lower = frozenset(
        _key(t) for t in WORD.findall(f"{around} {soft(statement)}") if t[0].islower()
    )
    said = acronyms(soft(statement))
    named = list(dict.fromkeys(_names(said, lower)))
    frozen = frozenset(keys)
    # A capitalised word its sources write as a common word ("Best Actress": "the youngest
    # actress") is that word, not a name; the first or last name of one they give ("Dave
    # Filoni": "Filoni") is that person.
    common = {_stem(w) for w in lower}
    parts = [_key(t) for t in WORD.findall(said)]
    for name in named:
        if len(name) < 2 or _known(name, frozen, flat):
            continue
        beside = _known_beside(name, parts, named, frozen, flat)
        if not _displaces(name, beside, cited, parts) and (beside or _stem(name) in common):
            continue
        # A capitalised small word ("The" of a title, "Meanwhile" out of place) is no name its
        # sources must give, but no word they give either.
        (found.doubt if name in FUNCTION_WORDS else found.fail)(
            name, f"the name {name!r} is not in its quotes"
        )
    return set(named), frozen


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) - len(suffix) >= 4 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _known_beside(
    name: str, parts: list[str], named: list[str], keys: frozenset[str], flat: str
) -> list[tuple[str, int]]:
    """The names its sources give that stand right before (-1) or after (+1) `name` in the
    statement: "Filoni" of "Dave Filoni", +1."""
    return [
        (parts[i + side], side)
        for i, w in enumerate(parts)
        if w == name
        for side in (-1, 1)
        if 0 <= i + side < len(parts)
        and parts[i + side] in named
        and parts[i + side] != name
        and _known(parts[i + side], keys, flat)
    ]


def _displaces(
    name: str, beside: list[tuple[str, int]], tokens: list[str], parts: list[str]
) -> bool:
    """Whether the cited sentences (`tokens`) give, next to a name `name` stands beside, another
    capitalised word
    on `name`'s side, which the statement does not say right after it: "David Major" where they
    say "David Hanson" (no first or last name of someone they give), not "CBS Evening News"
    where they say "CBS News" (a word put in) nor "Sackler Galleries" for "Sackler Gallery"."""
    theirs = [(_key(t), t[:1].isupper()) for t in tokens]
    after = {parts[i + side] for known, side in beside for i, w in enumerate(parts)
             if w == name and 0 <= i + side < len(parts)}  # fmt: skip
    for known, side in beside:
        for k, (key, _) in enumerate(theirs):
            j = k - side
            if key != known or not 0 <= j < len(theirs) or not theirs[j][1]:
                continue
            other = theirs[j][0]
            if _singular(other) != _singular(name) and other not in after:
                return True
    return False


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def _known(name: str, keys: frozenset[str], flat: str) -> bool:
    """Whether `name` is among `keys` (the names around), as written or another way."""
    if _partner(name, keys) is not None:
        return True
    for variant in NAME_VARIANTS.get(name, ()):
        if variant in keys or f" {variant.replace('_', ' ')} " in f" {flat} ":
            return True
    return any(_demonym(name, k) or _demonym(k, name) for k in keys if k[:1] == name[:1])


def _demonym(place: str, people: str) -> bool:
    """Whether `people` is the people or adjective of `place`: Ukraine, Ukrainian; China,
    Chinese; Russia, Russian; Japan, Japanese."""
    stem = place[:-1] if place[-1:] in "aey" else place
    return len(stem) >= 4 and people.startswith(stem) and people[len(stem) :] in _DEMONYM_ENDS


_DEMONYM_ENDS = frozenset(["n", "an", "ian", "ians", "ns", "ese", "ish", "i", "is", "ic"])
