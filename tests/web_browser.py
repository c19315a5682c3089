"""A real headless Chromium (Debian's `chromium` and `chromium-driver`), driven by Selenium,
with every request off this machine refused: the pages must work offline."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Screenshots for a person to look at; not part of the repository.
ARTIFACTS = Path(os.environ.get("SUMMARIZER_TEST_ARTIFACTS", ROOT / "test-artifacts"))


def find_browser() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    found = find_browser()
    if found is None:
        pytest.skip(
            "no chromium and chromedriver on PATH (apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = found[0]
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        # The network is off: anything not on loopback goes to a proxy that is not there.
        "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=127.0.0.1;localhost",
        "--disable-background-networking",
        "--no-first-run",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(found[1]))
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


# For each quote id: its marks' text joined in document order, and where each mark starts in
# the text element (the length of the text before it).
MARKS_JS = """
const out = {};
for (const box of document.querySelectorAll('.text')) {
  const aid = box.closest('[data-article]').getAttribute('data-article');
  for (const m of box.querySelectorAll('mark.cite')) {
    const r = document.createRange();
    r.setStart(box, 0);
    r.setEndBefore(m);
    const at = r.toString().length;
    for (const q of m.getAttribute('data-q').split(' ')) {
      const key = aid + ' ' + q;
      (out[key] = out[key] || []).push([at, m.textContent]);
    }
  }
}
return out;
"""


def check_marks(driver: Any, texts: dict[str, str], spans: dict[str, tuple[int, int]]) -> int:
    """Every mark is its quotes' own words at their offsets: the text of the marks of each
    quote, joined, is text[start:end], and each mark sits inside that span. Returns how many
    quotes were checked."""
    found = driver.execute_script(MARKS_JS)
    boxes = driver.execute_script(
        "return Array.from(document.querySelectorAll('.text')).map(b => "
        "[b.closest('[data-article]').getAttribute('data-article'), b.textContent]);"
    )
    for aid, shown in boxes:
        assert shown == texts[aid], "the text element must hold the stored text exactly"
    assert set(found) == set(spans), set(found) ^ set(spans)
    for key, marks in found.items():
        aid, _ = key.split(" ")
        start, end = spans[key]
        assert "".join(t for _, t in marks) == texts[aid][start:end]
        for at, piece in marks:
            assert start <= at and at + len(piece) <= end
            assert texts[aid][at : at + len(piece)] == piece
    return len(found)


def off_box_requests(driver: Any, origin: str) -> list[str]:
    names = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name);"
    )
    return [n for n in names if not n.startswith(origin)]
