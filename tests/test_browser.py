"""End to end in a real browser: Debian's Chromium, driven by Playwright, against
the Procfile's web and worker processes with production settings.

It pastes texts and watches the live progress bar reach 100%, reads the
results and downloads them, drops a CSV and picks its column from the header
the page read, cancels a big job, and checks the pages on a phone-sized
screen and without JavaScript. Every page must run without a console error:
the Content-Security-Policy is strict, so an inline script or style, or
anything from another origin, shows up as one.

Screenshots go to tests/screenshots/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import csv
import io
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from openpyxl import load_workbook
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from tests.builders import make_table_job, workbook
from tests.procs import PROJECT_DIR, ProcessRunner, production_app, redis_db_aside
from tests.visible import english_words
from web.sessions import OWNER_KEY
from web.table import OUR_COLUMNS

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = PROJECT_DIR / "tests" / "screenshots"
# A Redis database of its own (13 and 14 belong to other process tests).
BROWSER_REDIS_DB = redis_db_aside(3)
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# Generous for a small shared machine; no assertion is about speed.
TIMEOUT_MS = 60_000
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TEXTS = [
    "I love this product, it is wonderful!",
    "This is terrible. I hate it.",
    "The box is brown.",
    "Best purchase ever 😊",
    "Not bad at all :)",
    "The delivery was late and the box was crushed.",
    '<b>bold</b> claims & "quotes"',
]
# Enough texts, in small chunks, for the bar to move in steps the page can see.
BIG_JOB_TEXTS = 3000
CHUNK_SIZE = "100"

if not CHROMIUM.exists():
    # bin/test installs it; a bare `pytest` on a machine without it says how, rather than fail obscurely.
    raise RuntimeError("Chromium is not installed: apt-get install -y chromium (bin/test does)")

from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright  # noqa: E402

vader = SentimentIntensityAnalyzer()


def label_of(text: str) -> str:
    compound = vader.polarity_scores(text)["compound"]
    return "positive" if compound >= 0.05 else "negative" if compound <= -0.05 else "neutral"


@dataclass
class Site:
    port: int
    runner: ProcessRunner
    env: dict
    worker_started: bool = False

    @property
    def url(self) -> str:
        # localhost: Chromium keeps the Secure session cookie on plain http://localhost.
        return f"http://localhost:{self.port}"

    def start_worker(self) -> None:
        if not self.worker_started:
            self.runner.start_worker({**self.env, "CHUNK_SIZE": CHUNK_SIZE})
            self.worker_started = True

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log_tail()}" for p in self.runner.procs)


@pytest.fixture(scope="module")
def site(django_db_setup, tmp_path_factory) -> Iterator[Site]:
    """The Procfile web process with production settings; the worker starts when a test asks."""
    log_dir = tmp_path_factory.mktemp("browser-logs")
    # The browser speaks plain HTTP to gunicorn: no router in front to say https.
    overrides = {"ALLOWED_HOSTS": "localhost", "SECURE_SSL_REDIRECT": "0"}
    with production_app(log_dir, redis_db=BROWSER_REDIS_DB, start_worker=False, **overrides) as app:
        runner, port, env = app
        yield Site(port=port, runner=runner, env=env)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    # Playwright's sync API keeps an asyncio loop running in this thread, and
    # Django refuses database calls (pytest-django's flush after each test)
    # while one runs; this test does no database work of its own concurrently.
    # https://playwright.dev/python/docs/test-runners#django
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield from _chromium()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Tab:
    """A browser context and page that record every console error and uncaught exception."""

    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)

    def shot(self, name: str, *, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def assert_controls_labelled(self) -> None:
        """Every visible form control has a label a screen reader announces."""
        unlabelled = self.page.evaluate(
            """() => [...document.querySelectorAll("input, select, textarea, button")]
                .filter(e => e.type !== "hidden" && !e.hidden && e.offsetParent !== null)
                .filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label")
                             && !(e.tagName === "BUTTON" && e.textContent.trim()))
                .map(e => e.outerHTML)"""
        )
        assert unlabelled == [], f"controls without a label on {self.page.url}: {unlabelled}"

    def assert_no_sideways_scroll(self) -> None:
        """Neither the page nor any table in it is wider than the screen."""
        widths = self.page.evaluate(
            """() => [document.documentElement, ...document.querySelectorAll(".table-wrap")]
                .map(e => [e.className || "page", e.scrollWidth, e.clientWidth])"""
        )
        wide = [w for w in widths if w[1] > w[2]]
        assert not wide, f"sideways scrolling on {self.page.url}: {wide}"


@pytest.fixture
def tab_factory(chromium, transactional_db) -> Iterator:
    """Factory: tab(viewport, javascript=True) opens a fresh browser (no cookies) that logs errors."""
    contexts = []

    def open_tab(viewport: dict = DESKTOP, *, javascript: bool = True, phone: bool = False) -> Tab:
        context = chromium.new_context(
            viewport=viewport,
            java_script_enabled=javascript,
            is_mobile=phone,
            has_touch=phone,
            accept_downloads=True,
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        tab = Tab(context=context, page=page)
        page.on("console", lambda msg: msg.type == "error" and tab.errors.append(f"console: {msg.text}"))
        page.on("pageerror", lambda exc: tab.errors.append(f"page error: {exc}"))
        return tab

    yield open_tab
    for context in contexts:
        context.close()


@pytest.fixture
def tab(tab_factory) -> Tab:
    return tab_factory()


def record_progress(tab: Tab) -> list[dict]:
    """Record every value the progress bar shows, across the page's own reloads."""
    seen: list[dict] = []
    tab.page.expose_function("sentimeterProgress", lambda value: seen.append(value))
    # Runs in every document before its scripts: an observer of the bar that reports to the test.
    tab.page.add_init_script(
        """
        document.addEventListener("DOMContentLoaded", () => {
          const bar = document.getElementById("job-progress");
          if (!bar) return;
          const report = () => window.sentimeterProgress({
            value: bar.value, max: bar.max,
            text: document.getElementById("job-progress-text").textContent,
            rate: document.getElementById("job-rate").textContent,
            remaining: document.getElementById("job-remaining").textContent,
            elapsed: document.getElementById("job-elapsed").textContent,
          });
          report();
          new MutationObserver(report).observe(document.getElementById("job-progress-text"),
            {childList: true, characterData: true, subtree: true});
        });
        """
    )
    return seen


def submit_paste(tab: Tab, site: Site, texts: list[str], *, analyzer: str | None = None) -> str:
    """Paste texts on the home page, pick the analyzer of this label if given, submit; return the job URL."""
    page = tab.page
    page.goto(site.url + "/")
    if analyzer:
        page.get_by_label(analyzer, exact=True).check()
    box = page.get_by_label("Texts, one per line", exact=True)
    if len(texts) > 1000:
        # Typing-like filling of a very long paste is slow (tens of seconds); a paste is one event.
        box.evaluate("(box, text) => { box.value = text; }", "\n".join(texts))
    else:
        box.fill("\n".join(texts))
    page.get_by_role("button", name="Analyze").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    return page.url


def table_rows(page: Page) -> list[dict]:
    return page.eval_on_selector_all(
        "table.results tbody tr",
        """rows => rows.filter(r => r.cells.length > 1).map(r => ({
            n: r.cells[0].textContent, text: r.cells[1].textContent,
            label: r.cells[2].textContent, compound: r.cells[3].textContent}))""",
    )


def wait_until_final(page: Page) -> None:
    """Wait for the page the server renders once the job has ended (the script reloads to it)."""
    expect(page.locator("#job")).to_have_attribute(
        "data-status", re.compile("succeeded|failed|canceled"), timeout=TIMEOUT_MS
    )
    page.wait_for_load_state("load")


# --- the paste path -------------------------------------------------------


def test_paste_watch_the_bar_reach_100_then_read_and_download_the_results(site, tab):
    page = tab.page
    progress = record_progress(tab)
    page.goto(site.url + "/")
    expect(page.get_by_role("heading", name="Analyze the sentiment of texts")).to_be_visible()
    expect(page.locator(".limits")).to_contain_text("texts")
    tab.shot("home-desktop")

    texts = [f"{TEXTS[i % len(TEXTS)]} #{i}" for i in range(BIG_JOB_TEXTS)]
    job_url = submit_paste(tab, site, texts)

    if not site.worker_started:
        # No worker yet: the job waits, and the page says so.
        expect(page.locator("#job-status")).to_have_text("Queued")
        expect(page.locator("#job-waiting")).to_have_text("Waiting for a worker.")
        expect(page.locator("#job-progress-text")).to_have_text("0 of 3,000 texts · 0.0%")
        tab.shot("job-queued-desktop", full_page=False)
    site.start_worker()

    # Catch it part way for a screenshot if the machine is slow enough to let us.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "/jobs/" in page.url:
        last = progress[-1] if progress else None
        if last and 0 < last["value"] < last["max"] and "texts/s" in last["rate"]:
            tab.shot("job-running-desktop", full_page=False)
            break
        if page.locator("#job-progress").count() == 0:
            break
        time.sleep(0.1)

    wait_until_final(page)
    assert page.url == job_url
    expect(page.locator("#job-status")).to_have_text("Succeeded")

    # The bar went up, never down, and reached 100% before the page showed the results.
    values = [p["value"] for p in progress]
    assert values == sorted(values), progress
    final = progress[-1]
    assert final["value"] == final["max"] == BIG_JOB_TEXTS, progress
    assert final["text"] == "3,000 of 3,000 texts · 100.0%", progress
    assert any("texts/s" in p["rate"] for p in progress), progress
    # A fast machine runs the 3,000 texts in under a second.
    assert any(re.fullmatch(r"under 1 s|\d+ s|\d+ min \d\d s", p["elapsed"]) for p in progress), progress

    # Summary, the two charts, the table.
    counts = {label: 0 for label in ("positive", "neutral", "negative")}
    for text in texts:
        counts[label_of(text)] += 1
    summary = page.locator("#summary")
    expect(summary).to_contain_text("Texts 3,000")
    for label, n in counts.items():
        expect(summary.locator(f".share-{label}")).to_contain_text(f"({n:,})")
    expect(page.locator("#histogram rect.bar")).to_have_count(20)
    expect(page.locator("#label-chart rect.bar")).to_have_count(sum(1 for n in counts.values() if n))
    rows = table_rows(page)
    assert [r["text"] for r in rows] == texts[:50]
    assert [r["label"] for r in rows] == [label_of(t) for t in texts[:50]]
    expect(page.locator("#result-count")).to_have_text("Showing 1–50 of 3,000 results.")
    tab.shot("results-desktop")

    # Filter, search and sort are plain GET forms.
    page.get_by_label("Label", exact=True).select_option("negative")
    page.get_by_label("Text contains", exact=True).fill("BOX")
    page.get_by_label("Sort", exact=True).select_option("compound")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"label=negative&q=BOX&sort=compound"))
    rows = table_rows(page)
    expected = sorted(
        (t for t in texts if label_of(t) == "negative" and "box" in t.lower()),
        key=lambda t: (vader.polarity_scores(t)["compound"], texts.index(t)),
    )
    assert expected
    assert [r["text"] for r in rows] == expected[:50]
    page.get_by_role("link", name="Next →").click()
    assert [r["text"] for r in table_rows(page)] == expected[50:100]
    tab.shot("results-filtered-desktop", full_page=False)

    # The CSV download has every result.
    with page.expect_download() as download_info:
        page.locator("#download-csv").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    content = Path(download.path()).read_text(encoding="utf-8-sig")
    header, *records = list(csv.reader(io.StringIO(content)))
    assert header == ["row", "text", *OUR_COLUMNS]
    assert [r[1] for r in records] == texts
    assert [r[2] for r in records] == [label_of(t) for t in texts]

    # The history lists it.
    page.get_by_role("link", name="Your jobs").click()
    expect(page.locator("table.history tbody tr").first).to_contain_text("Succeeded")
    expect(page.locator("table.history tbody tr").first).to_contain_text("Pasted texts")
    tab.shot("history-desktop")

    assert tab.errors == [], tab.errors


# Clear Korean reviews: VADER cannot read them, the multilingual analyzer can.
KOREAN_REVIEWS = {
    "정말 맛있어요! 또 주문할게요.": "positive",
    "최악이에요 다시는 안 삽니다": "negative",
    "배송도 빠르고 품질도 최고예요.": "positive",
}


def test_korean_reviews_warn_with_vader_and_get_labels_with_the_analyzer_picked_on_the_form(site, tab):
    site.start_worker()
    page = tab.page

    # The default here (tests/envdefaults.py) is VADER: the job says it could not read them.
    submit_paste(tab, site, list(KOREAN_REVIEWS))
    wait_until_final(page)
    expect(page.locator("#job-warnings")).to_contain_text("look Korean, but VADER")
    expect(page.locator("#job-warnings")).to_contain_text("Multilingual (accurate)")
    assert {r["label"] for r in table_rows(page)} == {"neutral"}
    tab.shot("job-warning-desktop")

    page.goto(site.url + "/")
    choice = page.get_by_label("Multilingual (accurate)", exact=True)
    expect(page.locator("#analyzer-field")).to_contain_text("Reads English, Korean and")
    expect(page.locator("#analyzer-field")).to_contain_text("short texts a second per worker")
    choice.check()
    page.get_by_label("Texts, one per line", exact=True).fill("\n".join(KOREAN_REVIEWS))
    page.get_by_role("button", name="Analyze").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    wait_until_final(page)

    expect(page.locator("#job-analyzer")).to_contain_text("Multilingual (accurate)")
    expect(page.locator("#job-warnings")).to_have_count(0)
    assert {r["text"]: r["label"] for r in table_rows(page)} == KOREAN_REVIEWS
    tab.shot("job-korean-desktop")
    assert tab.errors == [], tab.errors


# --- the upload path ------------------------------------------------------


def reviews_csv() -> tuple[bytes, list[str]]:
    """A CSV whose automatic column (the first with text: title) is not the one we want (comments)."""
    rows = [
        ("id", "title", "comments", "stars"),
        ("1", "Great", "Absolutely loved it, would buy again!", "5"),
        ("2", "Meh", "It was fine; nothing special.", "3"),
        ("3", "Awful", "Broke after one day. Terrible quality, I am angry.", "1"),
        ("4", "Gift", "My daughter was so happy 😊", "5"),
        ("5", "Late", '"Late", they said, and it was.', "2"),
    ]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8"), [r[2] for r in rows[1:]]


def test_drop_a_csv_pick_its_column_from_the_header_and_read_the_results(site, tab):
    site.start_worker()
    page = tab.page
    data, comments = reviews_csv()
    page.goto(site.url + "/")
    page.get_by_label("Texts, one per line", exact=True).fill(
        "this pasted text is ignored when a file is chosen"
    )

    # Drag and drop: a file dropped anywhere in the upload box lands in the file field.
    transfer = page.evaluate_handle(
        """(text) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], "reviews.csv", {type: "text/csv"}));
            return transfer;
        }""",
        data.decode(),
    )
    page.dispatch_event("#upload", "dragenter", {"dataTransfer": transfer})
    expect(page.locator("#upload")).to_have_class(re.compile(r"\bdragging\b"))
    page.dispatch_event("#upload", "drop", {"dataTransfer": transfer})
    expect(page.locator("#upload")).not_to_have_class(re.compile(r"\bdragging\b"))
    expect(page.locator("#file-summary")).to_contain_text("Chosen: reviews.csv")
    expect(page.locator("#file-summary")).to_contain_text("The file is analyzed, not the pasted texts.")

    # The header, read in the browser, becomes the column choice.
    picker = page.get_by_label("Column with the text", exact=True)
    expect(picker).to_have_js_property("tagName", "SELECT")
    options = picker.locator("option").all_text_contents()
    assert options == ["Automatic: the first column that holds text", "id", "title", "comments", "stars"]
    picker.select_option("comments")
    tab.assert_controls_labelled()
    expect(page.locator("#id_column")).to_be_hidden()
    tab.shot("upload-column-picker-desktop", full_page=False)

    page.get_by_role("button", name="Analyze").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    wait_until_final(page)
    expect(page.locator("#job-status")).to_have_text("Succeeded")
    rows = table_rows(page)
    assert [r["text"] for r in rows] == comments
    assert [r["label"] for r in rows] == [label_of(c) for c in comments]
    expect(page.locator("#summary")).to_contain_text("Texts 5")
    expect(page.locator("p.meta").first).to_contain_text(f"reviews.csv ({len(data)}\xa0bytes)")
    tab.shot("upload-results-desktop")

    # A file of another kind keeps the plain column box.
    page.goto(site.url + "/")
    page.set_input_files(
        "#id_file", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hi\n"}]
    )
    expect(page.locator("#file-summary")).to_contain_text("notes.txt")
    expect(page.locator("#id_column")).to_be_visible()
    page.get_by_role("button", name="Remove file").click()
    expect(page.locator("#file-summary")).to_be_hidden()

    assert tab.errors == [], tab.errors


def test_a_file_we_cannot_read_is_refused_before_upload_and_a_workbook_is_analyzed(site, tab):
    site.start_worker()
    page = tab.page
    page.goto(site.url + "/")
    accept = page.locator("#id_file").get_attribute("accept")
    assert ".xlsx" in accept and ".csv" in accept
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    summary = page.locator("#file-summary")

    page.set_input_files(
        "#id_file", files=[{"name": "report.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.7\n"}]
    )
    expect(summary).to_contain_text("We cannot read report.pdf")
    expect(summary).to_contain_text(".csv, .tsv")
    expect(summary).to_contain_text(".xlsx")
    assert page.locator("#id_file").evaluate("input => input.files.length") == 0

    page.set_input_files(
        "#id_file", files=[{"name": "old.xls", "mimeType": "application/vnd.ms-excel", "buffer": b"\xd0\xcf"}]
    )
    expect(summary).to_contain_text("Save it as .xlsx or .csv in Excel / LibreOffice / Numbers")
    assert page.locator("#id_file").evaluate("input => input.files.length") == 0
    tab.shot("upload-refused-desktop", full_page=False)
    assert posts == []

    # A workbook is read, from the sheet chosen by name.
    texts = ["I love this product, it is wonderful!", "This is terrible. I hate it."]
    data = workbook(
        {
            "Notes": [["x"]],
            "Reviews": [["id", "when", "review"], *[[i, "2026-11-03", t] for i, t in enumerate(texts)]],
        }
    )
    page.set_input_files("#id_file", files=[{"name": "reviews.xlsx", "mimeType": XLSX_TYPE, "buffer": data}])
    expect(summary).to_contain_text("Chosen: reviews.xlsx")
    page.get_by_label("Sheet", exact=True).fill("Reviews")
    page.get_by_role("button", name="Analyze").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    wait_until_final(page)
    expect(page.locator("#job-status")).to_have_text("Succeeded")
    assert [r["text"] for r in table_rows(page)] == texts
    expect(page.locator("#download-xlsx")).to_have_attribute("href", re.compile(r"/results\.xlsx$"))
    with page.expect_download() as download:
        page.locator("#download-xlsx").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    sheet = load_workbook(io.BytesIO(download.value.path().read_bytes())).active
    table = list(sheet.iter_rows(values_only=True))
    # The sheet's own columns back (its cells as typed), then ours.
    assert table[0][:4] == ("id", "when", "review", "sentiment")
    assert [row[:3] for row in table[1:]] == [(str(i), "2026-11-03", t) for i, t in enumerate(texts)]

    assert tab.errors == [], tab.errors


def test_without_javascript_a_typed_column_that_is_not_there_is_explained_next_to_it(site, tab_factory):
    tab = tab_factory(javascript=False)
    page = tab.page
    data, _ = reviews_csv()
    page.goto(site.url + "/")
    page.set_input_files("#id_file", files=[{"name": "r.csv", "mimeType": "text/csv", "buffer": data}])
    page.get_by_label("Column with the text", exact=True).fill("opinion")
    page.get_by_role("button", name="Analyze").click()

    expect(page.locator("#id_column_error")).to_contain_text(
        "There is no column 'opinion'; the columns are: 'id', 'title', 'comments', 'stars'."
    )
    expect(page.locator("#id_column")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_column")).to_have_value("opinion")
    expect(page.locator("#file-again")).to_contain_text("Choose the file again")
    tab.shot("home-column-error-desktop", full_page=False)
    # The one console line is Chromium's note of the 400 answer the form is meant to get.
    assert [e for e in tab.errors if "status of 400 (Bad Request)" not in e] == [], tab.errors


def test_a_file_that_breaks_past_its_first_rows_fails_with_the_row_named(site, tab):
    site.start_worker()
    page = tab.page
    # The submit checks the first 64 KB; the unclosed quote comes after them.
    rows = ["id,text"] + [f"{i},a fine review, number {i}, padded to fill the sample" for i in range(1500)]
    data = ("\r\n".join([*rows, '1501,"unclosed quote here']) + "\r\n").encode()
    assert len(data) > 64 * 1024
    page.goto(site.url + "/")
    page.set_input_files("#id_file", files=[{"name": "broken.csv", "mimeType": "text/csv", "buffer": data}])
    page.get_by_role("button", name="Analyze").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    wait_until_final(page)

    expect(page.locator("#job-status")).to_have_text("Failed")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The job failed")
    expect(alert).to_contain_text("Row 1502: the file is not valid CSV")
    expect(alert).to_contain_text("Check for an unclosed quote.")
    tab.shot("job-failed-desktop", full_page=False)
    assert tab.errors == [], tab.errors


# --- cancel ---------------------------------------------------------------


def record_poll_waits(tab: Tab) -> None:
    """Record, in window.pollWaits, every wait the job page's script sets before its next poll."""
    tab.page.add_init_script(
        """
        window.pollWaits = [];
        const setTimeoutOriginal = window.setTimeout;
        window.setTimeout = function (callback, ms, ...rest) {
          if (callback && callback.name === "poll") window.pollWaits.push(ms);
          return setTimeoutOriginal.call(window, callback, ms, ...rest);
        };
        """
    )


def test_cancel_a_running_job_and_see_its_partial_results(site, tab):
    site.start_worker()
    page = tab.page
    record_poll_waits(tab)
    # The multilingual analyzer takes minutes over these on any machine: the job is still
    # running when the page has shown its results growing, however fast the host.
    total = 5_000
    texts = [f"{TEXTS[i % len(TEXTS)]} ({i})" for i in range(total)]
    submit_paste(tab, site, texts, analyzer="Multilingual (accurate)")
    # Wait until some results are stored: the page shows them so far, and they grow.
    expect(page.locator("#job-progress-text")).not_to_have_text(re.compile(r"^0 of"), timeout=TIMEOUT_MS)
    expect(page.locator("#summary-heading")).to_have_text("Summary so far")
    expect(page.locator("#downloads-later")).to_be_visible()

    def texts_so_far() -> int:
        return int(
            re.search(r"Texts ([\d,]+)", page.locator("#summary").text_content()).group(1).replace(",", "")
        )

    first = texts_so_far()
    page.wait_for_function(
        "n => Number(document.querySelector('#summary strong').textContent.replace(/,/g, '')) > n",
        arg=first,
        timeout=TIMEOUT_MS,
    )
    assert texts_so_far() > first
    tab.assert_controls_labelled()
    # The running job's page at phone width, while we are here.
    page.set_viewport_size(PHONE)
    tab.assert_no_sideways_scroll()
    tab.shot("job-running-phone", full_page=False)
    page.set_viewport_size(DESKTOP)
    # Each wait is spread +-20 % around the base (half the 1 s interval first, then Retry-After: 1 s),
    # so pages that a hiccup delayed together do not poll in lockstep.
    waits = page.evaluate("window.pollWaits")
    bases = [500] + [1000] * (len(waits) - 1)
    assert len(waits) >= 2, waits
    assert all(0.8 * b <= w <= 1.2 * b and w != b for w, b in zip(waits, bases, strict=True)), waits
    page.get_by_role("button", name="Cancel job").click()

    expect(page.locator("#job")).to_have_attribute("data-status", "canceled")
    expect(page.locator("#job-status")).to_have_text("Canceled")
    notice = page.locator("p.notice")
    expect(notice).to_have_text(
        re.compile(r"Canceled after [\d,]+ of 5,000 texts; these results are partial\.")
    )
    done = int(re.search(r"after ([\d,]+) of", notice.text_content()).group(1).replace(",", ""))
    assert 0 < done < total
    expect(page.locator("#results-heading")).to_have_text("Results (partial)")
    expect(page.locator("#summary")).to_contain_text(f"Texts {done:,}")
    expect(page.locator("#job-progress")).to_have_count(0)
    tab.shot("job-canceled-desktop")
    assert tab.errors == [], tab.errors


# --- phone, keyboard, no JavaScript ---------------------------------------


def test_pages_fit_a_phone_screen(site, tab_factory):
    site.start_worker()
    tab = tab_factory(PHONE, phone=True)
    page = tab.page
    page.goto(site.url + "/")
    tab.assert_no_sideways_scroll()
    tab.assert_controls_labelled()
    tab.shot("home-phone")

    submit_paste(tab, site, TEXTS)
    wait_until_final(page)
    expect(page.locator("#job-status")).to_have_text("Succeeded")
    tab.assert_no_sideways_scroll()
    # The detail columns give way on a narrow screen; text, label and score stay.
    expect(page.locator("table.results th.detail").first).to_be_hidden()
    expect(page.get_by_role("columnheader", name="Score")).to_be_visible()
    tab.assert_controls_labelled()
    tab.shot("results-phone")

    page.get_by_role("link", name="Your jobs").click()
    tab.assert_no_sideways_scroll()
    tab.shot("history-phone")
    assert tab.errors == [], tab.errors


def test_fifty_long_reviews_keep_the_page_short_and_each_opens_whole(site, tab_factory):
    site.start_worker()
    sentence = "The fabric feels soft, the stitching is careful and the colour is just as pictured. "
    reviews = [f"Review {i}: " + sentence * 14 for i in range(50)]
    for viewport, phone in ((DESKTOP, False), (PHONE, True)):
        tab = tab_factory(viewport, phone=phone)
        page = tab.page
        submit_paste(tab, site, reviews)
        wait_until_final(page)

        # Every row is at most a few lines tall, however long its review (was: the whole
        # review, 13,661 px for the page on a desktop and 35,772 px on a phone).
        heights = page.eval_on_selector_all(
            "table.results tbody tr",
            """rows => rows.map(r => r.getBoundingClientRect().height /
                parseFloat(getComputedStyle(r.cells[1]).lineHeight))""",
        )
        assert len(heights) == 50 and max(heights) <= 5.5, heights
        folded = page.evaluate("() => document.documentElement.scrollHeight")
        page.locator("#results").scroll_into_view_if_needed()
        tab.shot(f"long-reviews-{'phone' if phone else 'desktop'}", full_page=False)
        first = page.locator("table.results details.long-text").first
        first.locator("summary").click()
        expect(first.get_by_text("Show less")).to_be_visible()
        assert first.locator(".clamp").evaluate("e => e.scrollHeight <= e.clientHeight + 1")
        assert page.evaluate("() => document.documentElement.scrollHeight") > folded
        tab.assert_no_sideways_scroll()
        assert tab.errors == [], tab.errors


def test_a_korean_reader_gets_the_pages_in_korean_and_can_switch_to_english(site, chromium):
    site.start_worker()
    context = chromium.new_context(viewport=DESKTOP, locale="ko-KR")
    context.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(site.url + "/")
        expect(page.locator("h1")).to_have_text("글의 감성 분석하기")
        page.get_by_label("분석할 글 (한 줄에 하나씩)", exact=True).fill("\n".join(TEXTS))
        page.get_by_role("button", name="분석하기").click()
        page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
        wait_until_final(page)
        expect(page.locator("#job-status")).to_have_text("완료")
        expect(page.locator("#summary-heading")).to_have_text("요약")
        assert english_words(words_seen(page)) == []
        succeeded_url = page.url

        # A file whose rows have no text: the job fails, and says why in Korean.
        page.goto(site.url + "/")
        blank = {"name": "리뷰.csv", "mimeType": "text/csv", "buffer": "review,번호\n ,1\n,2\n".encode()}
        page.set_input_files("#id_file", files=[blank])
        page.get_by_role("button", name="분석하기").click()
        page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
        wait_until_final(page)
        expect(page.locator("#job-status")).to_have_text("실패")
        expect(page.get_by_role("alert")).to_contain_text("입력에 분석할 글이 없습니다.")
        job_id = page.url.rstrip("/").rsplit("/", 1)[-1]
        assert english_words(words_seen(page).replace(job_id[-8:], "")) == []

        page.goto(site.url + "/tokens/")
        page.get_by_label("이름", exact=True).fill("야간 가져오기")
        page.get_by_role("button", name="토큰 만들기").click()
        expect(page.locator("#new-token-title")).to_have_text("토큰 “야간 가져오기”을(를) 만들었습니다")
        assert english_words(words_seen(page)) == []

        page.goto(succeeded_url)
        page.get_by_role("button", name="English").click()
        expect(page.locator("#job-status")).to_have_text("Succeeded")
        expect(page.locator("html")).to_have_attribute("lang", "en")
    finally:
        context.close()
    assert errors == [], errors


def words_seen(page: Page) -> str:
    """The page's visible words but for the user's own texts, literal code and the other language's name."""
    return page.evaluate(
        """() => {
            const body = document.body.cloneNode(true);
            body.querySelectorAll(
                "script, style, code, h1, textarea, .text, .clamp, .title, .term, [lang]"
            ).forEach(e => e.remove());
            return body.innerText;
        }"""
    )


def test_the_submit_form_works_from_the_keyboard(site, tab):
    site.start_worker()
    page = tab.page
    page.goto(site.url + "/")
    page.get_by_label("Texts, one per line", exact=True).focus()
    page.keyboard.type("What a lovely day")
    # Tab through the file picker, column, encoding and analyzer to the button, and press Enter.
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.textContent") == "Analyze":
            break
    else:
        pytest.fail("Tab never reached the Analyze button")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    wait_until_final(page)
    assert [r["text"] for r in table_rows(page)] == ["What a lovely day"]
    assert tab.errors == [], tab.errors


def test_results_filter_works_without_javascript(site, tab_factory):
    site.start_worker()
    scripted = tab_factory()
    job_url = submit_paste(scripted, site, TEXTS)
    wait_until_final(scripted.page)

    tab = tab_factory(javascript=False)
    tab.context.add_cookies(scripted.context.cookies())
    page = tab.page
    page.goto(job_url)
    page.get_by_label("Label", exact=True).select_option("positive")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"label=positive"))
    assert [r["text"] for r in table_rows(page)] == [t for t in TEXTS if label_of(t) == "positive"]
    assert tab.errors == [], tab.errors


def test_group_the_results_click_a_group_to_filter_the_table_and_see_the_trend(site, tab):
    # The job is made here with its cells (the worker's part is tested elsewhere), owned by
    # a session this browser is given.
    session = SessionStore()
    session[OWNER_KEY] = 1
    session.create()
    shops = ["North", "South", "East"] * 4
    scores = [0.6, -0.7, 0.2, 0.5, -0.6, 0.3, 0.4, 0.1, -0.4, 0.7, -0.8, 0.0]
    rows = [[shop, f"2026-11-{1 + i:02d}", f"Review {i} of the {shop} shop"] for i, shop in enumerate(shops)]
    job = make_table_job(
        columns=["shop", "date", "review"],
        rows=rows,
        text_column="review",
        compounds=scores,
        session_key=session.session_key,
    )
    tab.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session.session_key, "url": site.url}]
    )
    page = tab.page
    page.goto(f"{site.url}/jobs/{job.pk}/")

    page.get_by_label("Group the results by").select_option("shop")
    page.locator("#group-form button").click()
    links = page.locator("#group-chart a.group-link")
    expect(links).to_have_count(3)
    # South has three negative texts of four: it comes first.
    assert links.all_text_contents() == ["South", "East", "North"]
    assert page.locator("#group-chart svg.split rect").count() >= 6

    links.first.click()
    page.wait_for_url(re.compile(r"\?group=South#results$"))
    texts = [row["text"] for row in table_rows(page)]
    assert texts == [f"Review {i} of the South shop" for i in (1, 4, 7, 10)]
    expect(page.locator("#result-count")).to_contain_text("of 4 matching results")
    expect(page.locator("#group-filter")).to_contain_text("South")

    trend = page.locator("#trend")
    assert trend.locator("#trend-counts svg rect.bar").count() == 12  # one text a day, 12 days
    assert trend.locator("#trend-score svg circle").count() == 12
    assert trend.locator("polyline.trend-line").get_attribute("points").count(",") == 12
    box = trend.locator("#trend-counts svg").bounding_box()
    assert box and box["width"] > 100 and box["height"] > 50
    trend.scroll_into_view_if_needed()
    tab.shot("groups-and-trend")
    tab.assert_controls_labelled()
    assert tab.errors == [], tab.errors
    # On a phone the groups fit the screen (the neutral and positive shares drop out, as the
    # results table's pos/neu/neg do).
    phone = tab.context.browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        phone.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": session.session_key, "url": site.url}]
        )
        small = Tab(context=phone, page=phone.new_page())
        small.page.goto(f"{site.url}/jobs/{job.pk}/?group=South")
        expect(small.page.locator("#group-chart a.group-link")).to_have_count(3)
        small.assert_no_sideways_scroll()
        small.shot("groups-and-trend-phone")
    finally:
        phone.close()


def test_the_api_docs_list_every_operation_under_the_strict_csp(site, tab):
    page = tab.page
    page.add_init_script(
        """document.addEventListener("securitypolicyviolation",
             e => console.error("CSP violation: " + e.violatedDirective + " " + e.blockedURI));"""
    )
    document = page.request.get(f"{site.url}/api/openapi.json").json()
    operations = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }
    operations |= {(method.upper(), name) for name, item in document["webhooks"].items() for method in item}

    response = page.goto(f"{site.url}/api/docs/")

    assert response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator(".opblock").first).to_be_visible()
    shown = page.evaluate(
        """() => [...document.querySelectorAll(".opblock-summary")].map(e => [
            e.querySelector(".opblock-summary-method").textContent.trim(),
            e.querySelector(".opblock-summary-path").dataset.path])"""
    )
    assert {tuple(s) for s in shown} == operations
    # An operation opens with its answers' shapes (from the generated components), and runs.
    page.locator(".opblock-summary", has_text="/api/analyzers/").first.click()
    body = page.locator(".opblock-body").first
    expect(body).to_contain_text('"texts_per_second"')
    body.get_by_role("button", name="Try it out").click()
    body.get_by_role("button", name="Execute").click()
    expect(body.locator(".live-responses-table")).to_contain_text('"analyzers"')
    tab.shot("api-docs")
    assert tab.errors == [], tab.errors
