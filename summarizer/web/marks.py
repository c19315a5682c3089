"""The article's text as HTML with every citation's exact span marked.

The text is written out whole, escaped, in one element whose CSS keeps its white space: its
textContent is the stored text, character for character, so `text[start:end]` of a citation is
exactly the text of the marks that carry its id. Overlapping citations split the text at every
boundary; each piece lists every citation (and statement) that covers it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

from summarizer.models import Citation, ClaimSet, Summary


@dataclass(frozen=True)
class Quote:
    """One citation of a statement: its id (statement id, then its number), span and text."""

    id: str
    start: int
    end: int
    text: str


@dataclass
class Statement:
    """Something shown beside the article (a headline, point, claim) and the quotes it cites."""

    id: str
    kind: str
    text: str
    verdict: str | None
    quotes: list[Quote] = field(default_factory=list)
    note: str | None = None
    # The article's own sentence, shown in place of a statement of the model's it did not back.
    own_words: bool = False

    @property
    def label(self) -> str:
        return f"{self.kind} {self.id[1:]}" if self.id[1:].isdigit() else self.kind


def quotes_of(sid: str, citations: Iterable[Citation], text: str) -> list[Quote]:
    """The citations that are exact slices of `text` (nothing else is shown as a citation)."""
    found = []
    for n, c in enumerate(citations):
        if 0 <= c.start < c.end <= len(text) and text[c.start : c.end] == c.quote:
            found.append(Quote(f"{sid}-{n}", c.start, c.end, c.quote))
    return found


def statements(text: str, summary: Summary | None, claims: ClaimSet | None) -> list[Statement]:
    """What the article page and report show beside the text, each with its exact quotes."""
    out: list[Statement] = []
    if summary is not None:
        for n, p in enumerate(summary.key_points, 1):
            # No verdict (`--support off`): shown as not checked, never as supported.
            verdict = p.support.verdict if p.support else None
            quotes = quotes_of(f"p{n}", p.citations, text)
            own = p.statement_source == "article"
            out.append(Statement(f"p{n}", "point", p.text, verdict, quotes, own_words=own))
    if claims is not None:
        for n, c in enumerate(claims.claims, 1):
            verdict = c.support.verdict if c.support else None
            by = f"asserted by {c.asserted_by}" + (", hedged" if c.hedged else "")
            out.append(
                Statement(
                    f"c{n}",
                    "claim",
                    c.statement,
                    verdict,
                    quotes_of(f"c{n}", c.citations, text),
                    by,
                    own_words=c.statement_source == "article",
                )
            )
    return out


def marked_text(text: str, shown: Sequence[Statement], scope: str) -> Markup:
    """`text`, escaped, with a <mark> around each piece that a quote of `shown` covers, and
    an anchor `q-SCOPE-ID` where each quote begins (SCOPE, the article: a report holds many)."""
    bounds = {0, len(text)}
    for s in shown:
        for q in s.quotes:
            bounds.update((q.start, q.end))
    cuts = sorted(bounds)
    covering: dict[int, list[tuple[Statement, Quote]]] = {}
    for s in shown:
        for q in s.quotes:
            for i in range(_index(cuts, q.start), _index(cuts, q.end)):
                covering.setdefault(i, []).append((s, q))
    first: set[str] = set()
    parts: list[str] = []
    for i in range(len(cuts) - 1):
        piece = str(escape(text[cuts[i] : cuts[i + 1]]))
        cover = covering.get(i)
        if not cover:
            parts.append(piece)
            continue
        qids = " ".join(q.id for _, q in cover)
        sids = " ".join(dict.fromkeys(s.id for s, _ in cover))
        cited_by = "cited by: " + "; ".join(dict.fromkeys(s.label for s, _ in cover))
        anchors = ""  # where each quote begins: #q-SCOPE-ID scrolls there, without script
        for _, q in cover:
            if q.id not in first:
                first.add(q.id)
                anchors += f'<span id="q-{escape(scope)}-{q.id}" class="anchor"></span>'
        parts.append(
            f'{anchors}<mark class="cite" data-q="{qids}" data-s="{sids}"'
            f' title="{escape(cited_by)}">{piece}</mark>'
        )
    return Markup("".join(parts))


def _index(cuts: list[int], offset: int) -> int:
    from bisect import bisect_left

    return bisect_left(cuts, offset)
