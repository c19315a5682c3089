"""What changed between two versions of an article: whether it changed in substance, a word-level
diff, and what the change did to its summary and claims (quotes it no longer has first)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from summarizer.corpus.catalog import Catalog
    from summarizer.models import Article

_WORD = re.compile(r"\S+")
# A line that only stamps the page ("Updated 10:32 GMT, 3 March 2022", "Last modified: ..."):
# the word, then nothing but a date and a time.
_STAMP = re.compile(r"^\W*(last\s+)?(updated|modified|edited|published|posted)\b(.*)$", re.I)
# fmt: off
_DATE_WORDS = frozenset((
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "january", "february", "march", "april", "june", "july", "august", "september", "october",
    "november", "december", "mon", "tue", "wed", "thu", "fri", "sat", "sun", "monday", "tuesday",
    "wednesday", "thursday", "friday", "saturday", "sunday", "at", "on", "am", "pm", "a.m",
    "p.m", "gmt", "utc", "bst", "cet", "cest", "et", "est", "edt", "pt", "pst", "pdt", "ct",
    "cst", "cdt", "z", "ago", "hour", "hours", "minute", "minutes", "day", "days", "th", "st",
    "nd", "rd", "today", "yesterday", "last",
))
# fmt: on


def _is_stamp(line: str) -> bool:
    m = _STAMP.match(line.strip())
    if m is None or not any(c.isdigit() for c in line):
        return False
    rest = re.findall(r"[a-z.]+|\d+", m.group(3).lower())
    return all(t.isdigit() or t.strip(".") in _DATE_WORDS for t in rest)


CONTEXT = 8  # words shown either side of a change


def _substance(text: str) -> list[str]:
    words: list[str] = []
    for line in text.splitlines():
        if _is_stamp(line):
            continue
        words += line.split()
    return words


def same_substance(old: str, new: str) -> bool:
    """Whether `new` says what `old` says: the same words, whatever the whitespace between
    them, once lines that only stamp the page with a date are left out."""
    return old == new or _substance(old) == _substance(new)


@dataclass(frozen=True)
class Change:
    """One run of words removed, added or replaced: `old[old_start:old_end]` became
    `new[new_start:new_end]` (character offsets into each version's text)."""

    op: str  # "delete", "insert" or "replace"
    old_start: int
    old_end: int
    new_start: int
    new_end: int
    removed: str
    added: str
    before: str  # the words just before, for reading
    after: str
    # Words removed and added: of a piece joined from changes a few words apart, not the
    # unchanged words between them.
    words_removed: int = 0
    words_added: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def diff(old: str, new: str) -> list[Change]:
    """The word-level changes from `old` to `new`."""
    from difflib import SequenceMatcher

    a = [m.span() for m in _WORD.finditer(old)]
    b = [m.span() for m in _WORD.finditer(new)]
    wa = [old[s:e] for s, e in a]
    wb = [new[s:e] for s, e in b]
    changes = []
    opcodes = SequenceMatcher(None, wa, wb, autojunk=False).get_opcodes()
    for op, i1, i2, j1, j2, gone, came in _joined(opcodes):
        if op == "equal":
            continue
        os_, oe = (a[i1][0], a[i2 - 1][1]) if i2 > i1 else _gap(a, i1, len(old))
        ns, ne = (b[j1][0], b[j2 - 1][1]) if j2 > j1 else _gap(b, j1, len(new))
        changes.append(
            Change(
                op=op,
                old_start=os_,
                old_end=oe,
                new_start=ns,
                new_end=ne,
                removed=old[os_:oe],
                added=new[ns:ne],
                before=" ".join(wa[max(0, i1 - CONTEXT) : i1]),
                after=" ".join(wa[i2 : i2 + CONTEXT]),
                words_removed=gone,
                words_added=came,
            )
        )
    return changes


def _joined(
    opcodes: Sequence[tuple[str, int, int, int, int]],
) -> list[tuple[str, int, int, int, int, int, int]]:
    """The opcodes with changes that fewer than CONTEXT unchanged words part joined into one
    (apart, the first would show as its context the old words the second changes), each with
    the words it removed and added."""
    out: list[tuple[str, int, int, int, int, int, int]] = []
    for op, i1, i2, j1, j2 in opcodes:
        gone, came = (0, 0) if op == "equal" else (i2 - i1, j2 - j1)
        if (
            op != "equal"
            and len(out) >= 2
            and out[-1][0] == "equal"
            and out[-1][2] - out[-1][1] < CONTEXT
            and out[-2][0] != "equal"
        ):
            first = out[-2]
            out[-2:] = [("replace", first[1], i2, first[3], j2, first[5] + gone, first[6] + came)]
        else:
            out.append((op, i1, i2, j1, j2, gone, came))
    return out


def _gap(spans: list[tuple[int, int]], i: int, length: int) -> tuple[int, int]:
    """The empty span where word `i` would go."""
    at = spans[i][0] if i < len(spans) else length
    return at, at


def words_changed(changes: list[Change]) -> tuple[int, int]:
    """(words added, words removed)."""
    return sum(c.words_added for c in changes), sum(c.words_removed for c in changes)


def render_diff(changes: list[Change], title_change: tuple[str, str] | None = None) -> str:
    """The changes as text: `… before [-removed-]{+added+} after …`, one per paragraph."""
    lines = []
    if title_change is not None:
        lines.append(f"title: [-{title_change[0]}-]{{+{title_change[1]}+}}")
    for c in changes:
        removed = f"[-{' '.join(c.removed.split())}-]" if c.removed else ""
        added = f"{{+{' '.join(c.added.split())}+}}" if c.added else ""
        lines.append(f"… {c.before} {removed}{added} {c.after} …".replace("  ", " "))
    return "\n\n".join(lines) if lines else "no change in the text"


# --- the versions of a stored article ---------------------------------------------------------


def article_at(catalog: Catalog, id_or_prefix: str, n: int | None) -> Article:
    """The stored article as it was at version `n` (its text, title and hash then); the
    latest with None."""
    from summarizer.errors import NotFoundError

    article = catalog.resolve(id_or_prefix)
    if n is None:
        return article
    versions = catalog.versions(article.id)
    version = next((v for v in versions if v.n == n), None)
    text = catalog.version_text(article.id, n)
    if version is None or text is None:
        raise NotFoundError(
            f"article {article.id} has no version {n}: it has {len(versions)}",
            hint=f"`summarizer history {article.id}` lists them",
        )
    return article.model_copy(
        update={
            "text": text,
            "title": version.title,
            "content_hash": version.content_hash,
            "updated_at": version.fetched_at,
        }
    )


def history(catalog: Catalog, id_or_prefix: str) -> list[dict[str, Any]]:
    """Each version of the article: number, fetch time, hash, size, words added and removed
    against the one before, and whether the title changed."""
    article = catalog.resolve(id_or_prefix)
    rows: list[dict[str, Any]] = []
    previous: tuple[str, str] | None = None
    for v in catalog.versions(article.id):
        text = catalog.version_text(article.id, v.n) or ""
        added, removed = words_changed(diff(previous[0], text)) if previous else (0, 0)
        rows.append(
            {
                "n": v.n,
                "fetched_at": v.fetched_at,
                "content_hash": v.content_hash,
                "title": v.title,
                "chars": v.chars,
                "words": len(text.split()),
                "words_added": added,
                "words_removed": removed,
                "title_changed": previous is not None and previous[1] != v.title,
            }
        )
        previous = (text, v.title)
    return rows


@dataclass
class VersionDiff:
    article_id: str
    a: int
    b: int
    changes: list[Change]
    title_change: tuple[str, str] | None

    def as_dict(self) -> dict[str, Any]:
        added, removed = words_changed(self.changes)
        return {
            "article_id": self.article_id,
            "a": self.a,
            "b": self.b,
            "title": list(self.title_change) if self.title_change else None,
            "words_added": added,
            "words_removed": removed,
            "changes": [c.as_dict() for c in self.changes],
        }


def version_diff(
    catalog: Catalog, id_or_prefix: str, a: int | None = None, b: int | None = None
) -> VersionDiff:
    """The changes from version `a` to version `b` (the latest two by default; with only `a`,
    `a` against the latest)."""
    article = catalog.resolve(id_or_prefix)
    latest = len(catalog.versions(article.id))
    if a is None:
        a, b = max(1, latest - 1), latest
    elif b is None:
        b = latest
    old, new = article_at(catalog, article.id, a), article_at(catalog, article.id, b)
    title = (old.title, new.title) if old.title != new.title else None
    return VersionDiff(article.id, a, b, diff(old.text, new.text), title)


# --- what a new version did to the summary and claims ------------------------------------------


@dataclass
class Statement:
    """A point or claim of an output, with its quotes."""

    kind: str  # "point" or "claim"
    text: str
    quotes: list[str]


@dataclass
class OutputChange:
    """How the statements of a task changed from the old version's output to the new one's."""

    task: str
    vanished: list[tuple[Statement, str]] = field(default_factory=list)  # (statement, quote)
    added: list[Statement] = field(default_factory=list)
    dropped: list[Statement] = field(default_factory=list)
    kept: int = 0
    error: str | None = None  # the new output could not be made

    @property
    def changed(self) -> int:
        return len(self.added) + len(self.dropped)

    def change_lines(self) -> list[str]:
        out = [f"{self.task}: could not be made again: {self.error}"] if self.error else []
        out += [f"{s.kind} added: {s.text}" for s in self.added]
        out += [f"{s.kind} dropped: {s.text}" for s in self.dropped]
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "no_longer_says": [
                {"quote": q, "cited_by": s.text, "kind": s.kind} for s, q in self.vanished
            ],
            "added": [s.text for s in self.added],
            "dropped": [s.text for s in self.dropped],
            "kept": self.kept,
            "error": self.error,
        }


def report_lines(changes: list[OutputChange]) -> list[str]:
    """The report of an article's new version: first the earlier citations whose words the
    new text no longer has (each quote once), then the statements added and dropped."""
    citers: dict[str, list[str]] = {}
    for c in changes:
        for s, quote in c.vanished:
            citers.setdefault(quote, []).append(f"the {s.kind}: {s.text}")
    vanished = [
        f"the article no longer says “{q}” (cited by {'; '.join(dict.fromkeys(who))})"
        for q, who in citers.items()
    ]
    return vanished + [line for c in changes for line in c.change_lines()]


def statements_of(data: dict[str, Any]) -> list[Statement]:
    """The points (of a summary) or claims (of a claim set) of an output's JSON."""
    if "key_points" in data:
        items, kind, key = data.get("key_points") or [], "point", "text"
    else:
        items, kind, key = data.get("claims") or [], "claim", "statement"
    out = []
    for item in items:
        text = str(item.get(key) or "")
        quotes = [str(c.get("quote", "")) for c in item.get("citations") or []]
        out.append(Statement(kind, text, quotes))
    return out


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def compare_outputs(
    task: str, old: dict[str, Any], new: dict[str, Any] | None, new_text: str
) -> OutputChange:
    """What changed between an output of the old version and one of the new: the quotes of
    old statements that the new text no longer has, and the statements added and dropped (an
    old one is kept when a new one says the same words or cites one of its quotes)."""
    change = OutputChange(task)
    before = statements_of(old)
    for s in before:
        for quote in s.quotes:
            if quote and quote not in new_text:
                change.vanished.append((s, quote))
    if new is None:
        return change
    after = statements_of(new)
    matched: set[int] = set()
    for s in before:
        quotes = {_norm(q) for q in s.quotes if q}
        hit = next(
            (
                i
                for i, t in enumerate(after)
                if i not in matched
                and (_norm(t.text) == _norm(s.text) or quotes & {_norm(q) for q in t.quotes})
            ),
            None,
        )
        if hit is None:
            change.dropped.append(s)
        else:
            matched.add(hit)
            change.kept += 1
    change.added = [t for i, t in enumerate(after) if i not in matched]
    return change
