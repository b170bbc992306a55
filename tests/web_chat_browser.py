#!/usr/bin/env python3
"""Headless Chromium as two users of examples/web_chat, for tests/test_web_chat.sh.

  web_chat_browser.py PORT SERVER_PID WORK_DIR [SCREENSHOT.png]

Opens one Chromium window showing two chat pages side by side (two iframes, each its own page
load, document and WebSocket: alice on the left, bob on the right), has each type a message
into its page's form and press Enter, and checks what each page shows — the lines of its log,
which of them it wrote itself, its status line. A message that looks like HTML must show as
text. Then it takes a screenshot of the window (WORK_DIR/web_chat.png, or SCREENSHOT.png), bob
leaves (his iframe is removed, so his page closes its WebSocket) and alice sees it, and the
server is sent SIGTERM: alice's page must show the shutdown notice and the close code 1001.
Prints "ok".

Chromium runs headless without its sandbox (the tests run as root in a container) and with
its profile and temporary files in WORK_DIR. Exit status 77 — the test is skipped — only when
Chromium cannot start at all; every failure after that is a test failure. The browser is
closed on every path; the calling script also kills this process group, which holds every
Chromium process but the crash handler (in a session of its own, it exits with the browser).
"""
import os
import signal
import sys

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 30  # seconds any one expected change may take (a loaded machine is slow, not broken)


def start_browser(work):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-extensions", "--window-size=1000,640",
                "--user-data-dir=" + os.path.join(work, "profile")]:
        options.add_argument(arg)
    service = Service("/usr/bin/chromedriver", log_path=os.path.join(work, "chromedriver.log"))
    return webdriver.Chrome(service=service, options=options)


class Page:
    """One chat page, an iframe of the side-by-side view."""

    def __init__(self, driver, frame_id):
        self.driver = driver
        self.frame_id = frame_id

    def enter(self):
        self.driver.switch_to.default_content()
        self.driver.switch_to.frame(self.driver.find_element(By.ID, self.frame_id))

    def lines(self):
        self.enter()
        return [(div.text, div.get_attribute("class"))
                for div in self.driver.find_elements(By.CSS_SELECTOR, "#log div")]

    def state(self):
        self.enter()
        return self.driver.find_element(By.ID, "state").text

    def say(self, text):
        self.enter()
        box = self.driver.find_element(By.ID, "text")
        box.send_keys(text)
        box.send_keys(Keys.ENTER)

    def wait_for(self, what, check):
        """Waits until check(self) is true; fails naming `what` and showing the page."""
        try:
            WebDriverWait(self.driver, WAIT, poll_frequency=0.1).until(lambda _: check(self))
        except TimeoutException:
            fail(f"{self.frame_id}'s page: no {what} within {WAIT} s; it shows "
                 f"{self.state()!r} and {self.lines()!r}")

    def wait_for_line(self, text):
        self.wait_for(repr(text), lambda page: any(line == text for line, _ in page.lines()))


def fail(message):
    raise AssertionError(message)


def expect_lines(page, expected):
    got = page.lines()
    if got != expected:
        fail(f"{page.frame_id}'s page shows\n  {got!r}\nexpected\n  {expected!r}")


def run(driver, port, server_pid, work, screenshot):
    base = f"http://127.0.0.1:{port}/"
    side_by_side = os.path.join(work, "two_pages.html")
    with open(side_by_side, "w", encoding="utf-8") as out:
        out.write(
            "<!doctype html><html><head><style>"
            "body { margin: 0; display: flex; background: #eee; }"
            "iframe { flex: 1; height: calc(100vh - 16px); border: 0; margin: 8px;"
            " background: white; }"
            "</style></head><body>"
            f'<iframe id="alice" src="{base}?nick=alice"></iframe>'
            '<iframe id="bob"></iframe>'
            "</body></html>\n")
    alice, bob = Page(driver, "alice"), Page(driver, "bob")
    # bob's page opens once alice's is connected, so that who joined when is the same on
    # every run.
    driver.get("file://" + side_by_side)
    alice.wait_for("'connected as alice'", lambda p: p.state() == "connected as alice")
    driver.switch_to.default_content()
    driver.execute_script("document.getElementById('bob').src = arguments[0]",
                          base + "?nick=bob")
    bob.wait_for("'connected as bob'", lambda p: p.state() == "connected as bob")
    alice.wait_for_line("* bob joined")

    alice.say("hello from alice")
    bob.wait_for_line("alice: hello from alice")
    bob.say("hi alice, <b>this</b> is bob")
    alice.wait_for_line("bob: hi alice, <b>this</b> is bob")

    expect_lines(alice, [("* you are alice", "notice"),
                         ("* 1 here: alice", "notice"),
                         ("* bob joined", "notice"),
                         ("alice: hello from alice", "mine"),
                         ("bob: hi alice, <b>this</b> is bob", "said")])
    expect_lines(bob, [("* you are bob", "notice"),
                       ("* 2 here: alice, bob", "notice"),
                       ("alice: hello from alice", "said"),
                       ("bob: hi alice, <b>this</b> is bob", "mine")])
    alice.enter()
    if driver.find_elements(By.CSS_SELECTOR, "#log b"):
        fail("alice's page made HTML of a chat message")

    driver.switch_to.default_content()
    if not driver.save_screenshot(screenshot):
        fail(f"no screenshot written to {screenshot}")

    # bob closes his page: his WebSocket goes, and alice is told.
    driver.execute_script("document.getElementById('bob').remove()")
    alice.wait_for_line("* bob left")

    os.kill(server_pid, signal.SIGTERM)
    alice.wait_for("the server's close",
                   lambda p: p.state() == "disconnected (1001: server shutting down)")
    expect_lines(alice, [("* you are alice", "notice"),
                         ("* 1 here: alice", "notice"),
                         ("* bob joined", "notice"),
                         ("alice: hello from alice", "mine"),
                         ("bob: hi alice, <b>this</b> is bob", "said"),
                         ("* bob left", "notice"),
                         ("* server shutting down", "notice")])
    alice.enter()
    if driver.find_element(By.ID, "text").is_enabled():
        fail("alice's page still takes input after the close")


def main():
    port, server_pid, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    screenshot = sys.argv[4] if len(sys.argv) > 4 else os.path.join(work, "web_chat.png")
    try:
        driver = start_browser(work)
    except WebDriverException as error:
        print(f"SKIP: headless Chromium cannot start here: {error.msg}", file=sys.stderr)
        return 77
    try:
        run(driver, port, server_pid, work, os.path.abspath(screenshot))
    finally:
        driver.quit()
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
