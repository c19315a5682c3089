"""The editor's view in a real browser: `serve` on a free port and `report` files, with every
highlight checked against the stored text, clicks and hovers, a hostile article, the network
off; and the server's guards (Host header, CSRF, error pages) over real HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from summarizer import pipeline
from summarizer.config import Settings
from summarizer.models import ClaimSet, Summary
from tests.standin_ollama import StandinOllama
from tests.web_browser import ROOT, browser, check_marks, off_box_requests, screenshot

__all__ = ["browser"]  # the fixture, for the tests below

HOSTILE = (
    '<img src=x onerror="window.pwned=1"> Exchange news <script>window.pwned=2</script>\n\n'
    "The exchange said on Monday that it would keep serving its users in Russia. "
    "<script>window.pwned=3</script> A spokesperson wrote that sanctions apply to listed people "
    'only. <a href="javascript:window.pwned=4">Read more</a> and " onmouseover="window.pwned=5" '
    "were in the page as text. Regulators in Kyiv asked exchanges to freeze the accounts of all "
    "Russian users, which the company declined, saying it would follow the law of each country.\n"
)


@dataclass
class Served:
    url: str
    settings: Settings
    ids: list[str]
    hostile: str


def _spans(
    settings: Settings, aids: list[str]
) -> tuple[dict[str, str], dict[str, tuple[int, int]]]:
    """Stored texts, and the span of every exact citation of the kept outputs, by page id."""
    from summarizer.corpus.sqlite import SqliteCatalog as Catalog

    texts: dict[str, str] = {}
    spans: dict[str, tuple[int, int]] = {}
    catalog = Catalog(settings.catalog_path)
    try:
        for aid in aids:
            text = texts[aid] = catalog.resolve(aid).text
            kept = catalog.output(aid, "summarize")
            groups: list[tuple[str, list[Any]]] = []
            if kept:
                summary = Summary.model_validate_json(kept[2])
                groups += [(f"p{n}", p.citations) for n, p in enumerate(summary.key_points, 1)]
            kept = catalog.output(aid, "claims")
            if kept:
                claims = ClaimSet.model_validate_json(kept[2])
                groups += [(f"c{n}", c.citations) for n, c in enumerate(claims.claims, 1)]
            for sid, citations in groups:
                for i, c in enumerate(citations):
                    assert text[c.start : c.end] == c.quote  # what is kept is verified
                    spans[f"{aid} {sid}-{i}"] = (c.start, c.end)
    finally:
        catalog.close()
    return texts, spans


def _free_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
def served(
    hash_embedder: str, ollama_env: StandinOllama, corpus_copy: Path, tmp_path: Path
) -> Iterator[Served]:
    import uvicorn

    from summarizer.web.app import create_app

    hostile = tmp_path / "hostile.txt"
    hostile.write_text(HOSTILE, encoding="utf-8")
    settings = Settings.from_env()
    report = pipeline.ingest(settings, [str(corpus_copy), str(hostile)])
    ids = [r.article_id for r in report.results if r.article_id]
    hostile_id = next(r.article_id for r in report.results if r.item.endswith("hostile.txt"))
    assert hostile_id
    sock = _free_socket()
    port = sock.getsockname()[1]
    app = create_app(settings, host="127.0.0.1", port=port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", settings, ids, hostile_id)
    finally:
        server.should_exit = True
        thread.join(10)


def _token(http: httpx.Client, path: str = "/ask") -> str:
    """The CSRF token of the page at `path`."""
    import re

    found = re.search(r'name="csrf" value="([^"]+)"', http.get(path).text)
    assert found is not None
    return found.group(1)


def _settled(http: httpx.Client, location: str) -> httpx.Response:
    """The page a job redirects to, once the job is neither queued nor working."""
    page = http.get(location)
    for _ in range(200):
        if "working" not in page.text and "queued" not in page.text:
            break
        time.sleep(0.1)
        page = http.get(location)
    return page


def _analyze(settings: Settings, aids: list[str]) -> None:
    for task in ("summarize", "claims"):
        for r in pipeline.analyze(settings, aids, task):
            assert r.error is None, r.error


def _wait_for(driver: Any, css: str, timeout: float = 20) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def _follow(driver: Any, element: Any, timeout: float = 20) -> None:
    """Click what leads to another page and wait until the old page is gone."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, timeout).until(ec.staleness_of(old))


def _wait_for_text(driver: Any, css: str, text: str, timeout: float = 60) -> None:
    """Wait until the element shows the text, across the reloads a job makes."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text)
    )


def _in_view(driver: Any, element: Any) -> bool:
    return bool(
        driver.execute_script(
            "const r = arguments[0].getBoundingClientRect();"
            "return r.top >= 0 && r.bottom <= window.innerHeight;",
            element,
        )
    )


def test_every_highlight_of_the_article_page_is_its_quote(browser: Any, served: Served) -> None:
    _analyze(served.settings, served.ids)
    for aid in served.ids:
        browser.get(f"{served.url}/article/{aid}")
        texts, spans = _spans(served.settings, [aid])
        assert check_marks(browser, texts, spans) == len(spans) > 0
        assert off_box_requests(browser, served.url) == []
    browser.get(f"{served.url}/article/{served.ids[0]}")
    screenshot(browser, "article-page")


def test_clicking_a_claim_scrolls_its_quote_into_view_and_hover_names_who_cites(
    browser: Any, served: Served
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    _analyze(served.settings, served.ids)
    # The longest article, and its quote farthest down the page.
    texts, spans = _spans(served.settings, served.ids)
    longest = max(texts, key=lambda a: len(texts[a]))
    key = max((k for k in spans if k.startswith(longest)), key=lambda k: spans[k][0])
    aid, quote = key.split(" ")
    sid = quote.split("-")[0]
    browser.get(f"{served.url}/article/{aid}")
    marks = browser.find_elements(By.CSS_SELECTOR, f"mark.cite[data-q~='{quote}']")
    # Read on to the end of the article: the quote is out of sight, the statements are not.
    browser.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    assert marks and not _in_view(browser, marks[0])
    browser.find_element(By.CSS_SELECTOR, f"li.statement[data-s='{sid}'] p").click()
    time.sleep(0.3)
    assert "active" in (marks[0].get_attribute("class") or "")
    assert _in_view(browser, marks[0])
    lit = browser.find_elements(By.CSS_SELECTOR, "mark.cite.active")
    assert all(sid in (m.get_attribute("data-s") or "").split() for m in lit)
    # Hovering a highlight: the statements that cite it are marked, and its title names them.
    ActionChains(browser).move_to_element(marks[0]).perform()
    time.sleep(0.2)
    cited = set((marks[0].get_attribute("data-s") or "").split())
    active = {
        li.get_attribute("data-s")
        for li in browser.find_elements(By.CSS_SELECTOR, "li.statement.active")
    }
    assert active == cited
    assert (marks[0].get_attribute("title") or "").startswith("cited by: ")


def test_a_hostile_article_shows_as_text_and_runs_nothing(browser: Any, served: Served) -> None:
    from selenium.webdriver.common.by import By

    _analyze(served.settings, [served.hostile])
    for page in (f"{served.url}/article/{served.hostile}", f"{served.url}/?q=exchange"):
        browser.get(page)
        assert browser.execute_script("return window.pwned === undefined")
        scripts = browser.find_elements(By.TAG_NAME, "script")
        assert [s.get_attribute("src") for s in scripts] == [f"{served.url}/static/app.js"]
        assert browser.find_elements(By.TAG_NAME, "img") == []
        assert browser.find_elements(By.CSS_SELECTOR, "[onerror], [onmouseover]") == []
        hrefs = [a.get_attribute("href") or "" for a in browser.find_elements(By.TAG_NAME, "a")]
        assert not [h for h in hrefs if h.lower().startswith("javascript:")]
    browser.get(f"{served.url}/article/{served.hostile}")
    text = browser.find_element(By.CSS_SELECTOR, ".text").text
    assert "<script>window.pwned=3</script>" in text
    assert '<img src=x onerror="window.pwned=1">' in browser.find_element(By.TAG_NAME, "h1").text


def test_the_summarise_button_runs_the_model_and_shows_the_result(
    browser: Any, served: Served
) -> None:
    from selenium.webdriver.common.by import By

    aid = served.ids[1]
    browser.get(f"{served.url}/article/{aid}")
    assert browser.find_elements(By.CSS_SELECTOR, "mark.cite") == []
    _follow(
        browser,
        browser.find_element(By.XPATH, "//button[starts-with(normalize-space(.), 'Summarise')]"),
    )
    _wait_for(browser, ".card.summary")
    _wait_for(browser, "mark.cite")
    texts, spans = _spans(served.settings, [aid])
    assert check_marks(browser, texts, spans) == len(spans) > 0
    # Asked again, the cached reply is there at once.
    _follow(browser, browser.find_element(By.XPATH, "//button[contains(., 'Summarise again')]"))
    _wait_for_text(browser, "#job", "done in", timeout=20)
    _wait_for(browser, ".card.summary")
    # That job's note belongs to its article's page, not to another's.
    job = browser.current_url.split("job=")[1]
    browser.get(f"{served.url}/article/{served.ids[0]}?job={job}")
    assert browser.find_elements(By.ID, "job") == []


def test_ask_links_each_citation_to_its_highlighted_span(browser: Any, served: Served) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{served.url}/ask")
    box = browser.find_element(By.NAME, "q")
    box.send_keys("Which exchanges refused to freeze Russian accounts?")
    box.submit()
    _wait_for(browser, "section.answer")
    screenshot(browser, "ask-page")
    links = browser.find_elements(By.CSS_SELECTOR, "a.cited")
    assert links, browser.find_element(By.TAG_NAME, "main").text
    href = links[0].get_attribute("href") or ""
    aid = href.split("/article/")[1].split("?")[0]
    start, end = map(int, href.split("hl=")[1].split("#")[0].split(":"))
    _follow(browser, links[0])
    mark = _wait_for(browser, "mark.cite[data-q~='hl-0']")
    time.sleep(0.3)
    text = pipeline.get_article(served.settings, aid).text
    shown = "".join(
        m.get_attribute("textContent")
        for m in browser.find_elements(By.CSS_SELECTOR, "mark.cite[data-q~='hl-0']")
    )
    assert shown == text[start:end]
    assert "active" in (mark.get_attribute("class") or "") and _in_view(browser, mark)


def test_the_corpus_page_lists_filters_and_searches(browser: Any, served: Served) -> None:
    from selenium.webdriver.common.by import By

    browser.get(served.url + "/")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.list tbody tr")
    assert len(rows) == len(served.ids)
    browser.get(served.url + "/?q=Binance+Russian+users")
    hits = browser.find_elements(By.CSS_SELECTOR, "ol.hits li a")
    assert hits
    _follow(browser, hits[0])
    mark = _wait_for(browser, "mark.cite[data-q~='hl-0']")
    assert mark.get_attribute("textContent")
    browser.get(served.url + "/?since=2030-01-01")
    assert "pass these filters" in browser.find_element(By.TAG_NAME, "main").text


def test_the_corpus_page_says_what_each_kept_output_shows(
    served: Served, ollama_env: StandinOllama
) -> None:
    """Not "yes" for a summary that is only "Nothing to show": how many statements it shows."""
    import re

    good, bad = served.ids[0], served.ids[1]
    _analyze(served.settings, [good])
    ollama_env.misbehave("unknown_segments", times=None)
    ollama_env.misbehave("invented_quotes", times=None)
    for task in ("summarize", "claims"):
        (result,) = pipeline.analyze(served.settings, [bad], task)
        assert result.output is not None and result.output.outcome != "ok"
    ollama_env.behave()
    with httpx.Client(base_url=served.url) as http:
        page = http.get("/").text
    cells = {
        aid: re.findall(r"<td>([^<]*)</td>", row)[-2:]
        for aid, row in re.findall(r'<tr><td><a href="/article/([0-9a-f]+)">(.*?)</tr>', page, re.S)
    }
    assert all(re.fullmatch(r"[1-9]\d* supported", c) for c in cells[good]), cells[good]
    assert cells[bad] == ["none supported", "none supported"]
    assert "yes" not in page


def test_a_report_of_articles_with_nothing_to_show_fails_and_marks_nothing(
    served: Served, ollama_env: StandinOllama, tmp_path: Path
) -> None:
    """Outputs kept from an earlier run with nothing to show: the report says so and exits 1,
    without an empty "unsupported" headline or summary."""
    from click.testing import CliRunner

    from summarizer.cli import cli

    aid = served.ids[1]
    ollama_env.misbehave("unknown_segments", times=None)
    ollama_env.misbehave("invented_quotes", times=None)
    for task in ("summarize", "claims"):
        pipeline.analyze(served.settings, [aid], task)
    ollama_env.behave()
    out = tmp_path / "empty.html"
    result = CliRunner().invoke(cli, ["report", aid, "--html", str(out)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {aid}: nothing to show: the model gave no ")
    html = out.read_text(encoding="utf-8")
    summary = html.split('class="card summary"')[1].split("</div>")[0]
    assert "Nothing to show: the model gave no" in summary
    assert "badge" not in summary and "<strong>" not in summary


def test_a_report_file_is_self_contained_exact_and_safe(
    browser: Any, served: Served, tmp_path: Path
) -> None:
    from click.testing import CliRunner
    from selenium.webdriver.common.by import By

    from summarizer.cli import cli

    out = tmp_path / "report.html"
    sources = [*served.ids[:2], served.hostile]
    result = CliRunner().invoke(cli, ["report", *sources, "--html", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "<link" not in html and 'src="' not in html  # nothing to fetch
    browser.get(out.as_uri())
    texts, spans = _spans(served.settings, sources)
    assert check_marks(browser, texts, spans) == len(spans) > 0
    assert browser.execute_script("return window.pwned === undefined")
    assert off_box_requests(browser, out.as_uri()) == []
    toc = browser.find_elements(By.CSS_SELECTOR, "nav.toc li a")
    assert len(toc) == 3
    ids = [e.get_attribute("id") for e in browser.find_elements(By.CSS_SELECTOR, "[id]")]
    assert len(ids) == len(set(ids))  # a quote link of the second article goes to its own span
    for link in browser.find_elements(By.CSS_SELECTOR, "a.quote"):
        target = (link.get_attribute("href") or "").split("#")[1]
        owner = link.find_element(By.XPATH, "ancestor::section[@data-article]")
        assert owner.find_elements(By.ID, target), target
    screenshot(browser, "report")


def test_the_server_refuses_other_hosts_forms_without_its_token_and_shows_no_tracebacks(
    served: Served,
) -> None:
    aid = served.ids[0]
    with httpx.Client(base_url=served.url) as http:
        page = http.get("/")
        assert page.status_code == 200
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        # DNS rebinding: a page of evil.example whose name now points at 127.0.0.1.
        rebound = http.get("/", headers={"Host": f"evil.example:{served.url.rsplit(':', 1)[1]}"})
        assert rebound.status_code == 400
        assert "answers only for 127.0.0.1" in rebound.text
        for form in ({"x": "1"}, {"csrf": "guessed"}):
            refused = http.post(f"/article/{aid}/summarize", data=form)
            assert refused.status_code == 403 and "token" in refused.text
        assert http.post("/ask", data={"q": "anything"}).status_code == 403
        missing = http.get("/article/nope")
        assert missing.status_code == 404 and "no article &#39;nope&#39;" in missing.text
        bad_date = http.get("/?since=yesterday")
        assert bad_date.status_code == 400
        for page in (missing, bad_date, rebound):
            assert "Traceback" not in page.text
        assert http.get("/jobs/nope").status_code == 404
        odd = ["page=-1", "page=abc", "page=99999999999999999999", "hl=abc", "hl=5:2", "hl=-1:3"]
        for query in [*odd, f"hl=0:{10**30}", "since=2022-13-45", "q=%22NEAR(", "site=%00"]:
            for path in ("/", f"/article/{aid}"):
                shown = http.get(f"{path}?{query}")
                assert shown.status_code in (200, 400), (path, query, shown.status_code)
                assert "Traceback" not in shown.text and "Error:" not in shown.text
        beyond = http.get("/?page=99999999999999999999")
        assert "there is 1 page" in beyond.text and "add some with" not in beyond.text


def test_a_large_or_odd_form_is_refused_before_its_body_is_read(served: Served) -> None:
    """Any page can post to the app: a body is read only once the Host is the app's and the form
    is a small URL-encoded one, so a page cannot make the server buffer megabytes per request."""
    host, port = served.url.removeprefix("http://").split(":")
    aid = served.ids[0]
    for path in ("/ask", f"/article/{aid}/summarize"):
        for head, status in (
            (f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {400 << 20}", 415),
            (f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {1 << 30}", 413),
            ("Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked", 411),
        ):
            # Headers only: a server that waited for the body it was promised would not answer.
            with socket.create_connection((host, int(port)), timeout=10) as conn:
                conn.sendall(
                    f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{head}\r\n\r\n".encode()
                )
                answer = conn.recv(65536).decode("latin-1")
            assert answer.startswith(f"HTTP/1.1 {status} "), (path, head, answer[:200])
            assert "Traceback" not in answer
    with httpx.Client(base_url=served.url) as http:
        page = http.get("/ask")
        assert page.status_code == 200
        small = http.post("/ask", data={"q": "x" * 100, "csrf": "guessed"})
        assert small.status_code == 403  # read, and refused for its token


def test_the_job_queue_is_bounded_and_a_waiting_job_says_so(
    served: Served, ollama_env: StandinOllama
) -> None:
    """One job runs at a time; at most WAITING wait behind it, each saying how many are ahead;
    the next is refused with 503. The ask page shows only answers' jobs (an article's: not a
    500)."""

    from summarizer.web.jobs import WAITING

    ollama_env.token_delay = 0.05  # each reply takes many seconds: the jobs pile up
    try:
        with httpx.Client(base_url=served.url, timeout=60) as http:
            token = _token(http)
            summary = http.post(f"/article/{served.ids[0]}/summarize", data={"csrf": token})
            assert summary.status_code == 303
            summary_job = summary.headers["location"].rsplit("job=", 1)[1]
            posted = [
                http.post("/ask", data={"q": f"What did exchange {n} do?", "csrf": token})
                for n in range(WAITING + 1)
            ]
            assert [p.status_code for p in posted] == [303] * WAITING + [503]
            assert "wait for the model already" in posted[-1].text
            last = posted[WAITING - 1].headers["location"]
            waiting = http.get(last)
            assert waiting.status_code == 200
            assert f"queued, {WAITING} ahead" in waiting.text  # the summary and 7 questions
            assert http.get(f"/jobs/{last.rsplit('=', 1)[1]}").json()["state"] == "queued"
            other = http.get(f"/ask?job={summary_job}")
            assert other.status_code == 200 and "Traceback" not in other.text
            refused = http.post(f"/article/{served.ids[1]}/claims", data={"csrf": token})
            assert refused.status_code == 503
    finally:
        ollama_env.token_delay = 0.0


def test_the_app_sees_what_other_processes_wrote(served: Served, tmp_path: Path) -> None:
    """A `remove` and an `ingest` by other processes while `serve` runs: searches and answers
    see the corpus as it is now (they used to fail with 500 until a restart, and never to find
    by meaning what was added)."""
    import os
    import re

    def cli(*args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "summarizer", *args],
            cwd=ROOT, capture_output=True, text=True, env=os.environ, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    query = {"q": "Binance Kraken freeze Russian accounts"}
    with httpx.Client(base_url=served.url, timeout=60) as http:
        before = http.get("/", params=query)
        assert before.status_code == 200
        shown = set(re.findall(r'href="/article/([0-9a-f]{12})', before.text))
        gone = next(aid for aid in served.ids if aid in shown)
        cli("remove", gone)
        after = http.get("/", params=query)
        assert after.status_code == 200, after.text[-500:]
        assert f"/article/{gone}" not in after.text
        story = tmp_path / "volcano.txt"
        story.write_text(
            "Tonga volcano erupts again\n\n" + "The undersea volcano near Tonga erupted again on "
            "Sunday, sending ash twenty kilometres into the sky and a tsunami towards the coast. "
            * 3,
            encoding="utf-8",
        )
        cli("ingest", str(story))
        added = http.get("/", params={"q": "Tonga volcano erupts ash tsunami"})
        assert added.status_code == 200 and "Tonga volcano erupts again" in added.text
        asked = http.post("/ask", data={"q": "Did the volcano near Tonga erupt?",
                                        "csrf": _token(http)})  # fmt: skip
        assert asked.status_code == 303
        page = _settled(http, asked.headers["location"])
        assert page.status_code == 200 and "failed" not in page.text, page.text[-800:]
        assert "TypeError" not in page.text


def test_summarise_again_asks_the_model_again(served: Served, ollama_env: StandinOllama) -> None:
    """The button says "again": the model is asked again, not its cached reply shown again."""
    aid = served.ids[0]
    with httpx.Client(base_url=served.url, timeout=60) as http:
        token = _token(http, f"/article/{aid}")
        for label in ("Summarise", "Summarise again"):
            before = len(ollama_env.requests("/api/chat"))
            done = http.post(f"/article/{aid}/summarize", data={"csrf": token})
            assert done.status_code == 303
            page = _settled(http, done.headers["location"])
            assert len(ollama_env.requests("/api/chat")) > before, label
        assert "Summarise again" in page.text


def test_serve_listens_where_it_says_and_a_taken_port_is_one_line(tmp_path: Path) -> None:
    taken = _free_socket()
    taken.listen()
    port = taken.getsockname()[1]
    cmd = [sys.executable, "-m", "summarizer", "serve", "--port", str(port)]
    busy = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    taken.close()
    assert busy.returncode == 2, busy.stderr
    assert (
        busy.stderr.strip() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "summarizer", "serve", "--port", "0"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("serving ") and "http://127.0.0.1:" in line
        url = line.split(" on ")[1].split()[0]
        deadline = time.monotonic() + 20
        while True:
            try:
                assert httpx.get(url).status_code == 200
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_the_last_runs_digests_are_kept_and_shown_escaped(
    browser: Any, served: Served, tmp_path: Path
) -> None:
    from click.testing import CliRunner
    from selenium.webdriver.common.by import By

    from summarizer.cli import cli
    from tests.feed_site import FeedSite, Item, Story, article_page, rss, synthetic_story

    story = Story("<script>window.pwned=6</script> Exchange story", synthetic_story(1).text)
    with FeedSite() as site:
        site.add("/a/1", article_page(story), content_type="text/html; charset=utf-8")
        site.add("/f.xml", rss([Item(story.title, link=site.url + "/a/1", guid="urn:1")]))
        runner = CliRunner()
        named = "<img src=x onerror=window.pwned=7> wire"
        phish = "[Phish](http://evil.example/) <img src=x onerror=window.pwned=8>"
        for path, name in (("/f.xml", named), ("/gone.xml", phish)):
            added = runner.invoke(cli, ["feeds", "add", site.url + path, "--name", name])
            assert added.exit_code == 0, added.output
        ran = runner.invoke(cli, ["run", "--allow-private"])
        assert ran.exit_code == 1 and "error: feed [Phish]" in ran.stderr, ran.output
    browser.get(served.url + "/")
    links = browser.find_elements(By.CSS_SELECTOR, "a[href^='/digests/']")
    assert len(links) == 1
    _follow(browser, links[0])
    digest = _wait_for(browser, "article.digest")
    assert "<script>window.pwned=6</script> Exchange story" in digest.text
    assert named in digest.find_element(By.TAG_NAME, "h2").text  # the feed's own heading
    assert phish in digest.text  # in the Failed section, as text
    assert browser.find_elements(By.CSS_SELECTOR, "article.digest img") == []
    hrefs = [a.get_attribute("href") for a in digest.find_elements(By.TAG_NAME, "a")]
    assert hrefs and not any("evil.example" in (h or "") for h in hrefs), hrefs
    assert browser.execute_script("return window.pwned === undefined")
    with httpx.Client(base_url=served.url) as http:
        assert http.get("/digests/..%2Fcatalog").status_code == 404


def test_a_digest_link_cannot_end_early_or_run_script() -> None:
    """A feed's link becomes a link only when http(s), and nothing in it ends the link."""
    from markdown_it import MarkdownIt

    from summarizer.feeds.digest import _linked

    render = MarkdownIt("commonmark", {"html": False}).render
    broken = "http://news.example/a) [Phish](http://evil.example/"
    html = render(_linked("Story", broken))
    assert html.count("<a ") == 1  # to news.example, whose path holds the rest
    assert 'href="http://news.example/a%29%20%5BPhish%5D%28http://evil.example/"' in html
    for hostile in ("javascript:alert(1)", "data:text/html,<script>x</script>"):
        assert "<a " not in render(_linked("Story", hostile))


def test_slow_work_shows_its_progress_then_its_result(
    browser: Any, served: Served, ollama_env: StandinOllama
) -> None:
    from selenium.webdriver.common.by import By

    ollama_env.token_delay = 0.02  # a reply of a few seconds: longer than the page waits
    aid = served.ids[2]
    browser.get(f"{served.url}/article/{aid}")
    browser.find_element(By.XPATH, "//button[starts-with(normalize-space(.), 'Extract')]").click()
    note = _wait_for(browser, "#job[data-job]")
    assert "working" in note.text
    _wait_for(browser, "li.statement[data-s^='c']", timeout=60)  # the page came back with them
    assert "done in" in browser.find_element(By.ID, "job").text
    texts, spans = _spans(served.settings, [aid])
    assert check_marks(browser, texts, spans) == len(spans) > 0


def test_overlapping_quotes_split_the_text_and_everything_is_escaped() -> None:
    from summarizer.web.marks import Quote, Statement, marked_text

    text = "<b>Binance</b> said it & Kraken would not freeze accounts."
    a = Statement("p1", "point", "", None, [Quote("p1-0", 0, 28, text[0:28])])
    b = Statement("c1", "claim", "", None, [Quote("c1-0", 15, 40, text[15:40])])
    html = str(marked_text(text, [a, b], scope="a1"))
    assert "<b>" not in html and "&lt;b&gt;Binance&lt;/b&gt;" in html and "&amp; Kra</mark>" in html
    assert html.count("<mark") == 3  # before, inside and after the overlap
    assert 'data-q="p1-0 c1-0" data-s="p1 c1"' in html
    assert html.count('id="q-a1-p1-0"') == 1 and html.count('id="q-a1-c1-0"') == 1


def _kept(served: Served) -> tuple[Any, Any, Any]:
    """The first article, with the summary and claims made and kept for it."""
    from summarizer.corpus.sqlite import SqliteCatalog as Catalog
    from summarizer.web.views import kept_outputs

    aid = served.ids[0]
    _analyze(served.settings, [aid])
    catalog = Catalog(served.settings.catalog_path)
    try:
        article = catalog.resolve(aid)
        summary, claims = kept_outputs(catalog, article)
    finally:
        catalog.close()
    return article, summary, claims


def test_outputs_of_an_earlier_text_mark_only_what_it_still_says(served: Served) -> None:
    from summarizer.web.views import article_view

    article, summary, claims = _kept(served)
    assert summary is not None and summary.key_points
    first = summary.key_points[0].citations[0]
    edited = article.model_copy(
        update={
            "text": article.text[: first.start] + "[removed]" + article.text[first.end :],
            "content_hash": "edited",
        }
    )
    view = article_view(edited, summary, claims)
    assert view.stale == ["summary", "claims"]
    marked = {q.id for s in view.statements for q in s.quotes}
    assert "p1-0" not in marked
    for s in view.statements:
        for q in s.quotes:
            assert edited.text[q.start : q.end] == q.text


def test_the_corpus_does_not_say_is_shown_as_such(
    browser: Any, served: Served, ollama_env: StandinOllama
) -> None:
    from selenium.webdriver.common.by import By

    reply = '{"found": false, "answer": "The passages do not say.", "points": []}'
    ollama_env.misbehave("reply", content=reply, schema="AnswerReply")
    browser.get(f"{served.url}/ask")
    box = browser.find_element(By.NAME, "q")
    # The box is wide enough for its placeholder (it used to cut it).
    fits = "return arguments[0].scrollWidth <= arguments[0].clientWidth"
    assert browser.execute_script(fits, box) and box.size["width"] > 400
    box.send_keys("What did the exchange serve for lunch?")
    box.submit()
    answer = _wait_for(browser, "section.answer")
    assert "The corpus does not say." in answer.text
    assert browser.find_elements(By.CSS_SELECTOR, "a.cited") == []
    # Asked what the articles do say, the same reply is the model's failure, not the corpus's:
    # said once, with the passages that best match the question, each linked to its span.
    ollama_env.misbehave("reply", content=reply, schema="AnswerReply")
    browser.get(f"{served.url}/ask")
    box = browser.find_element(By.NAME, "q")
    box.send_keys("Which exchanges refused to freeze Russian accounts?")
    box.submit()
    answer = _wait_for(browser, "section.answer")
    assert "The corpus does not say" not in answer.text
    assert answer.text.count("The model found no answer") == 2  # the line, then its detail
    links = browser.find_elements(By.CSS_SELECTOR, "ol.passages a.cited")
    assert 1 <= len(links) <= 3
    texts, _ = _spans(served.settings, served.ids)
    for link, quote in zip(links, browser.find_elements(By.CSS_SELECTOR, "ol.passages blockquote"),
                           strict=True):  # fmt: skip
        aid = link.get_attribute("href").split("/article/")[1].split("?")[0]
        start, end = map(int, link.get_attribute("href").split("hl=")[1].split("#")[0].split(":"))
        assert " ".join(texts[aid][start:end].split()) == " ".join(quote.text.split())


def test_the_corpus_pages_through_the_articles(
    browser: Any, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    from selenium.webdriver.common.by import By

    import summarizer.web.app

    monkeypatch.setattr(summarizer.web.app, "PAGE", 4)
    browser.get(served.url + "/")
    first = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "table.list tbody a")]
    assert len(first) == 4 and "page 1 of 2" in browser.find_element(By.CSS_SELECTOR, ".pager").text
    _follow(browser, browser.find_element(By.LINK_TEXT, "older →"))
    second = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "table.list tbody a")]
    assert len(second) == len(served.ids) - 4 and not set(first) & set(second)


def test_a_statement_never_checked_is_not_shown_as_supported(served: Served) -> None:
    from summarizer.web.views import article_view, render

    article, summary, _ = _kept(served)
    assert summary is not None
    unchecked = summary.model_copy(
        update={"key_points": [p.model_copy(update={"support": None}) for p in summary.key_points]}
    )
    view = article_view(article, unchecked, None)
    assert view.statements and all(s.verdict is None for s in view.statements)
    html = render("article.html", v=view, csrf="t", title="t")
    assert "badge supported" not in html.split('class="statements"')[1].split("</ol>")[0]


def test_the_articles_own_words_are_marked_as_such(served: Served) -> None:
    from summarizer.web.views import article_view, render

    article, summary, _ = _kept(served)
    assert summary is not None and summary.key_points
    own = summary.key_points[0].model_copy(update={"statement_source": "article"})
    view = article_view(article, summary.model_copy(update={"key_points": [own]}), None)
    (statement,) = view.statements
    assert statement.own_words
    listed = render("article.html", v=view, csrf="t", title="t").split('class="statements"')[1]
    item = listed.split("</li>")[0].replace("&#39;", "'")
    assert "the article's own words" in item and "badge supported" not in item


def test_an_articles_versions_the_changes_and_an_old_version_with_its_own_marks(
    browser: Any, served: Served
) -> None:
    import os

    from selenium.webdriver.common.by import By

    aid = served.ids[0]
    _analyze(served.settings, [aid])
    texts, spans = _spans(served.settings, [aid])  # of the first version
    article = pipeline.get_article(served.settings, aid)
    headline_end = article.text.index("\n")
    start, end = next(span for span in spans.values() if span[0] > headline_end)
    cited = article.text[start:end]
    word = next(w for w in cited.split() if w.isalpha() and len(w) > 3)
    path = Path(article.source)
    path.write_text(
        path.read_text(encoding="utf-8").replace(cited, cited.replace(word, "REVISED")),
        encoding="utf-8",
    )
    os.utime(path, (time.time() + 5, time.time() + 5))
    assert pipeline.ingest(served.settings, [str(path)]).count("updated") == 1
    browser.get(f"{served.url}/article/{aid}")
    versions = browser.find_elements(By.CSS_SELECTOR, "ol.versions li")
    assert len(versions) == 2
    assert "earlier version of the text" in browser.find_element(By.TAG_NAME, "main").text
    _follow(browser, browser.find_element(By.LINK_TEXT, "changes"))
    assert [d.text for d in browser.find_elements(By.TAG_NAME, "del")] == [word]
    assert [i.text for i in browser.find_elements(By.TAG_NAME, "ins")] == ["REVISED"]
    browser.get(f"{served.url}/article/{aid}?version=1")
    assert "This is version 1 of 2" in browser.find_element(By.CSS_SELECTOR, ".version-note").text
    assert check_marks(browser, texts, spans) == len(spans) > 0  # its own outputs, all marked
    assert browser.find_elements(By.CSS_SELECTOR, ".actions") == []  # work is on the latest
    with httpx.Client(base_url=served.url) as http:
        assert http.get(f"/article/{aid}?version=9").status_code == 404
        assert http.get(f"/article/{aid}/diff?a=1&b=7").status_code == 404
        assert http.get(f"/article/{aid}/diff?a=x").status_code in (200, 404)
