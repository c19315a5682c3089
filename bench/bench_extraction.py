"""Extraction quality on the readability-news pages: our extract() against plain trafilatura.

Run from the repository root: python bench/bench_extraction.py

For each of the pages in ../shared/eval/extraction/readability-news/<case>/ the expected text is
expected.html with its tags stripped and the expected title is expected-metadata.json's "title".
Scores are over bags of lowercased word tokens (Chinese and Japanese characters count one token
each): micro = summed over all pages, macro = the mean of the per-page scores. A page where a
pipeline fails or finds nothing scores 0.
"""

from __future__ import annotations

import json
import re
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from summarizer.errors import SummarizerError  # noqa: E402 — after the path set-up above
from summarizer.extract import extract  # noqa: E402
from summarizer.sources import RawDocument  # noqa: E402

CASES = ROOT / ".." / "shared" / "eval" / "extraction" / "readability-news"
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(f"[{_CJK}]|[^\\W{_CJK}]+")


def tokens(text: str) -> Counter[str]:
    return Counter(_TOKEN.findall(text.lower()))


def norm_title(title: str) -> str:
    title = unicodedata.normalize("NFKC", title).lower()
    return " ".join(re.sub(r"[^\w\s]", " ", title).split())


@dataclass
class Score:
    name: str
    hits: int = 0
    got: int = 0
    want: int = 0
    precision: list[float] = field(default_factory=list)
    recall: list[float] = field(default_factory=list)
    f1: list[float] = field(default_factory=list)
    title_exact: int = 0
    title_fuzzy: int = 0
    titles: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, got: Counter[str], want: Counter[str]) -> float:
        hits = sum((got & want).values())
        n_got, n_want = sum(got.values()), sum(want.values())
        self.hits, self.got, self.want = self.hits + hits, self.got + n_got, self.want + n_want
        p = hits / n_got if n_got else 0.0
        r = hits / n_want if n_want else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        self.precision.append(p)
        self.recall.append(r)
        self.f1.append(f)
        return f

    def add_title(self, got: str | None, want: str) -> None:
        if got is None:
            return
        self.titles += 1
        a, b = norm_title(got), norm_title(want)
        self.title_exact += a == b
        self.title_fuzzy += SequenceMatcher(None, a, b).ratio() >= 0.9

    def micro(self) -> tuple[float, float, float]:
        p = self.hits / self.got if self.got else 0.0
        r = self.hits / self.want if self.want else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    def macro(self) -> tuple[float, float, float]:
        n = len(self.f1) or 1
        return sum(self.precision) / n, sum(self.recall) / n, sum(self.f1) / n


Pipeline = Callable[[bytes], tuple[str, str | None]]


def ours(html: bytes) -> tuple[str, str | None]:
    try:
        result = extract(RawDocument(source="bench", kind="html", data=html))
    except SummarizerError:
        return "", None
    return result.text, result.title


def plain_extract(html: bytes) -> tuple[str, str | None]:
    import trafilatura

    return trafilatura.extract(html) or "", None


def plain_bare(html: bytes) -> tuple[str, str | None]:
    import trafilatura

    doc = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False)
    if doc is None:
        return "", None
    return doc.text or "", doc.title


PIPELINES: dict[str, Pipeline] = {
    "ours: extract()": ours,
    "trafilatura.extract(html)": plain_extract,
    "trafilatura.bare_extraction": plain_bare,
}


def main() -> int:
    from bs4 import BeautifulSoup

    if not CASES.is_dir():
        print(f"no evaluation pages at {CASES}", file=sys.stderr)
        return 1
    import logging

    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    cases = sorted(p for p in CASES.iterdir() if (p / "source.html").is_file())
    scores = {name: Score(name) for name in PIPELINES}
    per_page: list[tuple[str, list[float]]] = []
    for case in cases:
        html = (case / "source.html").read_bytes()
        expected_html = (case / "expected.html").read_text(encoding="utf-8")
        want = tokens(BeautifulSoup(expected_html, "lxml").get_text(" "))
        meta = json.loads((case / "expected-metadata.json").read_text(encoding="utf-8"))
        row = []
        for name, pipeline in PIPELINES.items():
            score = scores[name]
            started = time.perf_counter()
            text, title = pipeline(html)
            score.seconds += time.perf_counter() - started
            if not text:
                score.failed.append(case.name)
            row.append(score.add(tokens(text), want))
            if meta.get("title"):
                score.add_title(title, meta["title"])
        per_page.append((case.name, row))

    if "-v" in sys.argv[1:]:  # per-page F1
        print(f"{'page':<20}" + "".join(f"{n[:26]:>28}" for n in PIPELINES))
        for name, row in per_page:
            print(f"{name:<20}" + "".join(f"{f:>28.3f}" for f in row))
        print()
    n = len(cases)
    with_titles = sum(
        1
        for c in cases
        if json.loads((c / "expected-metadata.json").read_text(encoding="utf-8")).get("title")
    )
    print(
        f"{n} pages; token-level scores over lowercased word tokens; titles on {with_titles} pages"
    )
    header = (
        f"{'pipeline':<28} {'micro P':>8} {'micro R':>8} {'micro F1':>9} "
        f"{'macro P':>8} {'macro R':>8} {'macro F1':>9} {'title =':>8} {'title~':>7} "
        f"{'ms/page':>8} {'empty':>6}"
    )
    print(header)
    print("-" * len(header))
    for score in scores.values():
        mp, mr, mf = score.micro()
        ap, ar, af = score.macro()
        exact = f"{score.title_exact / with_titles:.3f}" if score.titles else "n/a"
        fuzzy = f"{score.title_fuzzy / with_titles:.3f}" if score.titles else "n/a"
        print(
            f"{score.name:<28} {mp:>8.3f} {mr:>8.3f} {mf:>9.3f} {ap:>8.3f} {ar:>8.3f} {af:>9.3f} "
            f"{exact:>8} {fuzzy:>7} {1000 * score.seconds / n:>8.1f} {len(score.failed):>6}"
        )
    print("title = : normalised exact match; title~ : similarity ratio >= 0.9 (difflib)")
    for score in scores.values():
        if score.failed:
            print(f"{score.name}: no text for {', '.join(score.failed)}")
    ours = scores["ours: extract()"]
    plain = [s for name, s in scores.items() if not name.startswith("ours")]
    best_f1 = max(s.macro()[2] for s in plain)
    best_micro = max(s.micro()[2] for s in plain)
    best_title = max(s.title_exact for s in plain)
    ok = ours.macro()[2] >= best_f1 and ours.micro()[2] >= best_micro
    ok = ok and ours.title_exact >= best_title
    print(
        f"ours vs best plain trafilatura: macro F1 {ours.macro()[2]:.3f} vs {best_f1:.3f}, "
        f"micro F1 {ours.micro()[2]:.3f} vs {best_micro:.3f}, "
        f"exact titles {ours.title_exact} vs {best_title}: {'ok' if ok else 'WORSE'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
