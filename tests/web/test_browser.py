"""A person in a real browser (Debian's headless Chromium, driven by Selenium through the
system chromedriver: nothing is downloaded) signs in with Slack through the emulator, opens
the trail, a rollback's page, a drill's page, a release's page, the journal and the report,
on a desktop and a phone's width, and signs out. Screenshots go to the test's temporary
folder."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from bot.core.process_health import DESCRIPTIONS
from bot.devtools.sandbox import Sandbox
from tests.slack.support import RANKING, Bot
from tests.slack.test_rollback import (  # the rollback played end to end there
    ROLLBACK,
    Receiver,
    alert,
    post,
    rollback_runbooks,
    samples,
    wait_until,
)
from tests.web.drill_support import ShiftedClock, approve_drill, start_drill

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def arrive(browser: WebDriver, url: str) -> None:
    """Wait until the browser has gone where a click leads (a form's submission is not
    finished when ``click`` returns)."""
    WebDriverWait(browser, 15).until(lambda shown: shown.current_url.startswith(url))


def screenshot(browser: WebDriver, path: Path, width: int) -> None:
    """The whole page at ``width`` CSS pixels (the window grown to the page's height)."""
    browser.set_window_size(width, 800)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(width, min(int(height) + 120, 12000))
    assert browser.save_screenshot(str(path))


def play_a_rollback(sandbox: Sandbox) -> None:
    """Monitoring reports a breach, on-call approves, it runs, recovers and is endorsed."""
    bot = Bot(sandbox)
    for value in (0.031, 0.036, 0.041):
        post(sandbox, "alertmanager", alert(value))
    sandbox.settle()
    bot.driver.click("U0ELENA", RANKING, "Approve")  # not an approver: refused, recorded
    button = bot.driver.find_button(RANKING, "Approve")
    bot.driver.click("U0BRUNO", RANKING, "Approve", button.message.ts)
    bot.driver.click("U0DMITRI", RANKING, "Approve", button.message.ts)
    wait_until(lambda: "rollback.executed" in bot.trail_kinds(ROLLBACK), sandbox)
    time.sleep(0.5)  # the recovery is seen after the rollback ran (validation: 3 s later)
    post(sandbox, "metrics", samples("error_rate", [0.011, 0.009, 0.008], timedelta(seconds=0.1)))
    wait_until(lambda: "rollback.validated" in bot.trail_kinds(ROLLBACK), sandbox)
    bot.driver.click("U0CHIARA", RANKING, "Endorse")
    bot.start_ranking_review()
    sandbox.settle()


def test_a_person_signs_in_with_slack_and_reads_a_rollback_in_a_browser(
    database_url: str, tmp_path: Path, browser: WebDriver
) -> None:
    receiver = Receiver()
    clock = ShiftedClock()  # the real time (the rollback's validation waits for it), then moved
    try:
        runbooks = rollback_runbooks(tmp_path, receiver)
        ranking = runbooks / "ranking-model.yaml"
        ranking.write_text(ranking.read_text().replace("window: 1s,", "window: 3s,"))
        with Sandbox.start(database_url=database_url, runbooks_dir=runbooks,
                           clock=clock) as sandbox:  # fmt: skip
            play_a_rollback(sandbox)
            called = len(receiver.calls)
            drill = start_drill(sandbox, clock)  # its values played as the clock moves
            approve_drill(sandbox, clock, drill)
            assert drill == "drill:1" and len(receiver.calls) == called  # a dry run
            read_the_pages(sandbox, browser, tmp_path)
    finally:
        receiver.close()


def read_the_pages(sandbox: Sandbox, browser: WebDriver, shots: Path) -> None:
    base = sandbox.server.url
    browser.get(base + "/trail")
    assert browser.current_url.startswith(base + "/auth/sign-in")  # nothing before signing in
    browser.find_element(By.LINK_TEXT, "Sign in with Slack").click()
    arrive(browser, sandbox.slack.url + "/openid/connect/authorize")
    assert "Sign in to Acme ML" in browser.page_source
    browser.find_element(
        By.XPATH, "//button[normalize-space()='Continue as Dmitri Volkov']"
    ).click()
    arrive(browser, base + "/trail")
    assert browser.current_url == base + "/trail"
    header = browser.find_element(By.CSS_SELECTOR, "header.site").text
    assert "Dmitri Volkov" in header and "Sign out" in header
    rows = {
        row.text.split()[0]: row.text for row in browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    }
    assert list(rows).index("drill:1") < list(rows).index("release:ranking-model:v2.4.0")
    assert rows["drill:1"].startswith("drill:1 drill ranking-model reported approved, score ")
    assert rows["release:ranking-model:v2.4.0"].startswith(
        "release:ranking-model:v2.4.0 ranking-model reviewing"
    )
    assert rows["rollback:1"].startswith("rollback:1 ranking-model endorsed recovered")
    screenshot(browser, shots / "trail.png", 1100)

    browser.find_element(By.LINK_TEXT, "rollback:1").click()
    arrive(browser, base + "/trail/rollback:1")
    banner = browser.find_element(By.CSS_SELECTOR, ".banner").text
    assert banner.startswith("✔ Hash chain verified")
    kinds = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".event-kind")]
    story = [k for k in kinds if not k.startswith("slack.")]
    assert story == [
        "rollback.recommended",
        "approval.refused",
        "approval.approve",
        "approval.approve",
        "rollback.approved",
        "rollback.expected",
        "rollback.executed",
        "rollback.validated",
        "rollback.endorsed",
    ]
    text = browser.find_element(By.TAG_NAME, "main").text
    assert "revenue 2×0.5 + customer 2×0.3 + regulatory 0×0.2 = 1.60" in text
    assert "not_eligible" in text and "U0ELENA" in text  # the refusal, laid out
    assert "The webhook answered 200 OK" in text and "recovered" in text
    assert "by U0CHIARA as ml_lead" in text
    slack_links = browser.find_elements(By.LINK_TEXT, "in Slack")
    assert slack_links and all(
        a.get_attribute("href").startswith("https://acme-ml.slack.com/archives/C0RANKREL/p")
        for a in slack_links
    )
    screenshot(browser, shots / "rollback.png", 1100)
    on_a_phone(browser, shots / "rollback-phone.png")
    read_a_drill(browser, base, shots)
    read_the_journal_and_the_report(browser, base, shots)

    browser.set_window_size(1100, 900)
    browser.get(base + "/trail?kind=release")
    browser.find_element(By.LINK_TEXT, "release:ranking-model:v2.4.0").click()
    arrive(browser, base + "/trail/release:ranking-model:v2.4.0")
    text = browser.find_element(By.TAG_NAME, "main").text
    assert "release.started" in text and "eval-metrics" in text
    screenshot(browser, shots / "release.png", 1100)

    browser.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
    arrive(browser, base + "/auth/sign-in?signed_out=1")
    assert "You are signed out." in browser.find_element(By.TAG_NAME, "main").text
    browser.get(base + "/trail/rollback:1")
    assert browser.current_url.startswith(base + "/auth/sign-in")
    assert sorted(p.name for p in shots.glob("*.png")) == [
        "drill-phone.png",
        "drill.png",
        "journal-phone.png",
        "journal.png",
        "release.png",
        "report-phone.png",
        "report.png",
        "rollback-phone.png",
        "rollback.png",
        "trail.png",
    ]


def on_a_phone(browser: WebDriver, path: Path) -> None:
    """The page at a phone's width: nothing wider than the screen (no sideways scrolling)."""
    screenshot(browser, path, 390)
    overflow = browser.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, path.name
    browser.set_window_size(1100, 900)


def read_a_drill(browser: WebDriver, base: str, shots: Path) -> None:
    browser.get(base + "/trail?kind=drill")
    rows = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert len(rows) == 1 and rows[0].startswith("drill:1 drill ranking-model reported")
    browser.find_element(By.LINK_TEXT, "drill:1").click()
    arrive(browser, base + "/trail/drill:1")
    assert browser.find_element(By.TAG_NAME, "h1").text == "DRILL drill:1"
    notice = browser.find_element(By.CSS_SELECTOR, ".banner.drill").text
    assert notice.startswith("🧪 DRILL: a game-day exercise on a synthetic incident")
    assert "every executor ran as a dry run: nothing was changed" in notice
    text = browser.find_element(By.TAG_NAME, "main").text
    assert "Drill report" in text and "Decided: the path was approved" in text
    score = browser.find_element(By.CSS_SELECTOR, ".score-figure").text
    parts = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "table.score-parts tr")]
    assert parts[0] == "Part Points How" and parts[-1].startswith(f"score {score} / 100")
    assert [p.split()[0] for p in parts[1:-1]] == [
        "detection", "expected", "first", "decision", "refusals", "dry"
    ]  # fmt: skip
    assert "would have POSTed to" in text and "nothing was called. Validated." in text
    assert "U0ELENA refused (not in an approving role)" in text
    kinds = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".event-kind")]
    assert kinds[0] == "drill.started" and kinds.index("drill.detected") < kinds.index(
        "drill.scored"
    )
    screenshot(browser, shots / "drill.png", 1100)
    on_a_phone(browser, shots / "drill-phone.png")


def read_the_journal_and_the_report(browser: WebDriver, base: str, shots: Path) -> None:
    browser.find_element(By.LINK_TEXT, "Journal").click()
    arrive(browser, base + "/journal")
    text = browser.find_element(By.TAG_NAME, "main").text
    assert "rollback:1: ranking-model, path previous-model" in text
    assert "recovered" in text and "Over time" in text
    captions = [f.text for f in browser.find_elements(By.CSS_SELECTOR, "figure figcaption")]
    assert captions == [
        "breach detected (recommendation) → approved (n = 1)",
        "breach detected (recommendation) → validated recovery (n = 1)",
    ]
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(charts) == 2 and all(c.is_displayed() and c.size["width"] > 300 for c in charts)
    screenshot(browser, shots / "journal.png", 1100)
    on_a_phone(browser, shots / "journal-phone.png")

    browser.find_element(By.LINK_TEXT, "Report").click()
    arrive(browser, base + "/report")
    figures = {
        row.find_elements(By.TAG_NAME, "td")[0].text: row.find_elements(By.TAG_NAME, "td")[1].text
        for row in browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    }
    assert figures["rollbacks recommended"] == "1" and figures["drills started"] == "1"
    captions = [f.text.rsplit(" (n =", 1)[0] for f in
                browser.find_elements(By.CSS_SELECTOR, "figure figcaption")]  # fmt: skip
    for figure in ("first_vote", "drill_decision", "drill_score"):
        assert DESCRIPTIONS[figure] in captions, captions
    dots = browser.find_elements(By.CSS_SELECTOR, "svg.chart a circle")
    assert dots and all(d.is_displayed() for d in dots)
    screenshot(browser, shots / "report.png", 1100)
    on_a_phone(browser, shots / "report-phone.png")
