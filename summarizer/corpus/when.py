"""Pure: the time a question asks about ("this week", "recently", "in March 2022"), if any."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

_MONTHS = {
    name.lower(): n
    for n in range(1, 13)
    for name in (calendar.month_name[n], calendar.month_abbr[n])
}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_YEAR = r"(?:19|20)\d\d"
_ISO = re.compile(rf"\b({_YEAR})-(\d\d)-(\d\d)\b")
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_DAY_MONTH_YEAR = re.compile(rf"\b{_DAY}\s+({_MONTH})\.?,?\s+({_YEAR})\b", re.I)
_MONTH_DAY_YEAR = re.compile(rf"\b({_MONTH})\.?\s+{_DAY},?\s+({_YEAR})\b", re.I)
_MONTH_YEAR = re.compile(rf"\b({_MONTH})\.?,?\s+(?:of\s+)?({_YEAR})\b", re.I)
_IN_YEAR = re.compile(rf"\b(in|during|of|since|from|by)\s+({_YEAR})\b", re.I)
# Words that ask for the newest articles, and how far back the period they name begins.
_RELATIVE = (
    (re.compile(r"\btoday\b|\bthis (?:morning|afternoon|evening)\b", re.I), 0),
    (re.compile(r"\byesterday\b|\blast night\b", re.I), 1),
    (re.compile(r"\bthis week\b|\bpast (?:few )?days\b|\bthese days\b", re.I), 7),
    (re.compile(r"\blast week\b", re.I), 14),
    (re.compile(r"\bthis month\b|\bpast (?:few )?weeks\b", re.I), 31),
    (re.compile(r"\blast month\b", re.I), 62),
    (re.compile(r"\b(?:recent(?:ly)?|lately|latest|newest)\b", re.I), 31),
    (re.compile(r"\bthis year\b|\bso far\b", re.I), 366),
)


@dataclass(frozen=True)
class Period:
    """The dates a question asks about, first to last (inclusive), and whether it asks for the
    newest articles ("this week") rather than a named date."""

    first: date
    last: date
    recent: bool

    def distance(self, day: date) -> int:
        """Days between `day` and the period; 0 inside it."""
        if day < self.first:
            return (self.first - day).days
        if day > self.last:
            return (day - self.last).days
        return 0


def period(question: str, today: date | None = None) -> Period | None:
    """The period `question` names, or None when it names none.

    A named date wins over a relative word: "what happened recently, in March 2022" asks about
    March 2022. A relative word is counted back from `today`.
    """
    today = today or date.today()
    named = _named(question, today)
    if named is not None:
        return named
    for pattern, days in _RELATIVE:
        if pattern.search(question):
            return Period(today - timedelta(days=days), today, recent=True)
    return None


def _named(question: str, today: date) -> Period | None:
    found = _ISO.search(question)
    if found:
        day = _day(int(found[1]), int(found[2]), int(found[3]))
        if day is not None:
            return Period(day, day, recent=False)
    found = _DAY_MONTH_YEAR.search(question)
    if found:
        day = _day(int(found[3]), _MONTHS[found[2].lower()], int(found[1]))
        if day is not None:
            return Period(day, day, recent=False)
    found = _MONTH_DAY_YEAR.search(question)
    if found:
        day = _day(int(found[3]), _MONTHS[found[1].lower()], int(found[2]))
        if day is not None:
            return Period(day, day, recent=False)
    found = _MONTH_YEAR.search(question)
    if found:
        year, month = int(found[2]), _MONTHS[found[1].lower()]
        last = calendar.monthrange(year, month)[1]
        return Period(date(year, month, 1), date(year, month, last), recent=False)
    found = _IN_YEAR.search(question)
    if found:
        year = int(found[2])
        if found[1].lower() in ("since", "from"):  # that year to now
            return Period(date(year, 1, 1), max(today, date(year, 12, 31)), recent=False)
        return Period(date(year, 1, 1), date(year, 12, 31), recent=False)
    return None


def _day(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_date(value: str | None) -> date | None:
    """An article's ISO date (its first 10 characters), or None."""
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None
