"""Extraction quality and speed on the readability-news pages: our extract(), the path before
it (a git revision's extract.py, loaded from history), and plain trafilatura, in one run.

Run from the repository root: python bench/bench_extraction.py [-v] [--before REV] [--pin]

--pin writes the per-page F1 of extract() with the data's hash to tests/extraction_baseline.json:
the gate in tests/test_extract.py fails when the score falls below it by more than noise.

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
from summarizer.reading.extract import extract  # noqa: E402
from summarizer.reading.sources import RawDocument  # noqa: E402

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
BASELINE = ROOT / "tests" / "extraction_baseline.json"
BEFORE = "bd4fa56"  # the last revision of the path before one parse and the fast pass


def cases() -> list[Path]:
    return sorted(p for p in CASES.iterdir() if (p / "source.html").is_file())


def data_hash(pages: list[Path]) -> str:
    """The hash of the evaluation data: each page's name, source and expected text."""
    import hashlib

    h = hashlib.sha256()
    for case in pages:
        h.update(case.name.encode() + b"\0")
        for name in ("source.html", "expected.html"):
            h.update((case / name).read_bytes())
    return h.hexdigest()


def expected_tokens(case: Path) -> Counter[str]:
    from bs4 import BeautifulSoup

    html = (case / "expected.html").read_text(encoding="utf-8")
    return tokens(BeautifulSoup(html, "lxml").get_text(" "))


def page_f1(text: str, want: Counter[str]) -> float:
    got = tokens(text)
    hits = sum((got & want).values())
    p, r = hits / max(sum(got.values()), 1), hits / max(sum(want.values()), 1)
    return 2 * p * r / (p + r) if hits else 0.0


def ours(html: bytes) -> tuple[str, str | None]:
    try:
        result = extract(RawDocument(source="bench", kind="html", data=html))
    except SummarizerError:
        return "", None
    return result.text, result.title


def before(rev: str) -> Pipeline | None:
    """extract() as it was at `rev` (from git history), or None when git cannot show it."""
    import importlib.util
    import subprocess

    try:
        source = subprocess.run(
            ["git", "show", f"{rev}:summarizer/extract.py"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    spec = importlib.util.spec_from_loader("extract_before", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:summarizer/extract.py", "exec"), module.__dict__)

    def run(html: bytes) -> tuple[str, str | None]:
        try:
            result = module.extract(RawDocument(source="bench", kind="html", data=html))
        except SummarizerError:
            return "", None
        return result.text, result.title

    return run


def plain_extract(html: bytes) -> tuple[str, str | None]:
    import trafilatura

    return trafilatura.extract(html) or "", None


def plain_bare(html: bytes) -> tuple[str, str | None]:
    import trafilatura

    doc = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False)
    if doc is None:
        return "", None
    return doc.text or "", doc.title


def pin(pages: list[Path]) -> None:
    per_page = {case.name: round(page_f1(ours(case.joinpath("source.html").read_bytes())[0],
                                         expected_tokens(case)), 4) for case in pages}  # fmt: skip
    baseline = {
        "data_sha256": data_hash(pages),
        "pages": len(pages),
        "macro_f1": round(sum(per_page.values()) / len(per_page), 4),
        "per_page_f1": per_page,
    }
    BASELINE.write_text(json.dumps(baseline, indent=1) + "\n", encoding="utf-8")
    print(f"pinned macro F1 {baseline['macro_f1']} on {len(pages)} pages in {BASELINE}")


def main() -> int:
    import argparse
    import logging

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", action="store_true", help="per-page F1")
    parser.add_argument("--before", default=BEFORE, metavar="REV", help="the path to compare")
    parser.add_argument("--pin", action="store_true", help="write the gate's baseline")
    args = parser.parse_args()
    if not CASES.is_dir():
        print(f"no evaluation pages at {CASES}", file=sys.stderr)
        return 1
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    pages = cases()
    if args.pin:
        pin(pages)
        return 0
    pipelines: dict[str, Pipeline] = {"ours: extract()": ours}
    previous = before(args.before)
    if previous is not None:
        pipelines[f"ours before ({args.before})"] = previous
    pipelines["trafilatura.extract(html)"] = plain_extract
    pipelines["trafilatura.bare_extraction"] = plain_bare
    scores = {name: Score(name) for name in pipelines}
    times: dict[str, list[float]] = {name: [] for name in pipelines}
    per_page: list[tuple[str, list[float]]] = []
    for case in pages:
        html = (case / "source.html").read_bytes()
        want = expected_tokens(case)
        meta = json.loads((case / "expected-metadata.json").read_text(encoding="utf-8"))
        row = []
        for name, pipeline in pipelines.items():
            score = scores[name]
            started = time.perf_counter()
            text, title = pipeline(html)
            took = time.perf_counter() - started
            score.seconds += took
            times[name].append(took)
            if not text:
                score.failed.append(case.name)
            row.append(score.add(tokens(text), want))
            if meta.get("title"):
                score.add_title(title, meta["title"])
        per_page.append((case.name, row))

    if args.v:
        print(f"{'page':<20}" + "".join(f"{n[:26]:>28}" for n in pipelines))
        for name, row in per_page:
            print(f"{name:<20}" + "".join(f"{f:>28.3f}" for f in row))
        print()
    n = len(pages)
    with_titles = sum(
        1
        for c in pages
        if json.loads((c / "expected-metadata.json").read_text(encoding="utf-8")).get("title")
    )
    print(
        f"{n} pages; token-level scores over lowercased word tokens; titles on {with_titles} pages"
    )
    header = (
        f"{'pipeline':<28} {'micro P':>8} {'micro R':>8} {'micro F1':>9} "
        f"{'macro P':>8} {'macro R':>8} {'macro F1':>9} {'title =':>8} {'title~':>7} "
        f"{'median ms':>9} {'p95 ms':>7} {'empty':>6}"
    )
    print(header)
    print("-" * len(header))
    for name, score in scores.items():
        mp, mr, mf = score.micro()
        ap, ar, af = score.macro()
        exact = f"{score.title_exact / with_titles:.3f}" if score.titles else "n/a"
        fuzzy = f"{score.title_fuzzy / with_titles:.3f}" if score.titles else "n/a"
        ms = sorted(1000 * t for t in times[name])
        median, p95 = ms[len(ms) // 2], ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
        print(
            f"{score.name[:28]:<28} {mp:>8.3f} {mr:>8.3f} {mf:>9.3f} {ap:>8.3f} {ar:>8.3f} "
            f"{af:>9.3f} {exact:>8} {fuzzy:>7} {median:>9.1f} {p95:>7.1f} "
            f"{len(score.failed):>6}"
        )
    print("title = : normalised exact match; title~ : similarity ratio >= 0.9 (difflib)")
    for score in scores.values():
        if score.failed:
            print(f"{score.name}: no text for {', '.join(score.failed)}")
    mine = scores["ours: extract()"]
    plain = [s for name, s in scores.items() if not name.startswith("ours")]
    best_f1 = max(s.macro()[2] for s in plain)
    best_micro = max(s.micro()[2] for s in plain)
    best_title = max(s.title_exact for s in plain)
    ok = mine.macro()[2] >= best_f1 and mine.micro()[2] >= best_micro
    ok = ok and mine.title_exact >= best_title
    print(
        f"ours vs best plain trafilatura: macro F1 {mine.macro()[2]:.3f} vs {best_f1:.3f}, "
        f"micro F1 {mine.micro()[2]:.3f} vs {best_micro:.3f}, "
        f"exact titles {mine.title_exact} vs {best_title}: {'ok' if ok else 'WORSE'}"
    )
    median = {name: sorted(t)[len(t) // 2] for name, t in times.items()}
    for name in pipelines:
        if name != "ours: extract()":
            print(
                f"time per page, median: ours {1000 * median['ours: extract()']:.1f} ms = "
                f"{median['ours: extract()'] / median[name]:.2f}x {name}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
