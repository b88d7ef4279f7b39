"""A person in a real browser (Debian's headless Chromium, driven by Selenium through the
system chromedriver: nothing is downloaded) signs in with Slack through the emulator, opens
the trail, a rollback's page and a release's page, on a desktop and a phone's width, and signs
out. Screenshots go to the test's temporary folder."""

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
    try:
        runbooks = rollback_runbooks(tmp_path, receiver)
        ranking = runbooks / "ranking-model.yaml"
        ranking.write_text(ranking.read_text().replace("window: 1s,", "window: 3s,"))
        with Sandbox.start(database_url=database_url, runbooks_dir=runbooks) as sandbox:
            play_a_rollback(sandbox)
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
    rows = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert rows[0].startswith("release:ranking-model:v2.4.0 ranking-model reviewing")
    assert rows[1].startswith("rollback:1 ranking-model endorsed recovered")
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
    screenshot(browser, shots / "rollback-phone.png", 390)
    overflow = browser.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0  # nothing wider than a phone: no sideways scrolling

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
        "release.png",
        "rollback-phone.png",
        "rollback.png",
        "trail.png",
    ]
