"""The acceptance walk in Debian's Chromium: read, reply with an attachment that
the recipient downloads, move, delete and restore, search, sign out another
session and see it rejected, enrol TOTP and sign in with a code."""

import time
from pathlib import Path

import pyotp
import pytest
from test_browser import CHROMIUM, browser  # noqa: F401 - the fixture

from support import DOMAIN, PASSWORD, World

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"
)


def sign_in(page: object, base: str, name: str, code: str = "") -> None:
    page.goto(f"{base}/login")  # type: ignore[attr-defined]
    page.fill("input[name=address]", f"{name}@{DOMAIN}")  # type: ignore[attr-defined]
    page.fill("input[name=password]", PASSWORD)  # type: ignore[attr-defined]
    if code:
        page.fill("input[name=code]", code)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(f"{base}/mail/INBOX?welcome=1")  # type: ignore[attr-defined]


def test_the_acceptance_walk(live: tuple[World, str], browser: object, tmp_path: Path) -> None:  # noqa: F811
    w, base = live
    raw = (
        f"From: Bob <bob@{DOMAIN}>\r\nTo: alice@{DOMAIN}\r\nSubject: Contract draft\r\n"
        "Message-ID: <draft-1@example.test>\r\n\r\nPlease send me the signed copy.\r\n"
    ).encode()
    w.rt.system().deliver([f"alice@{DOMAIN}"], raw)
    w.deliver("alice", "Old newsletter")
    laptop = browser.new_context(accept_downloads=True)  # type: ignore[attr-defined]
    page = laptop.new_page()
    sign_in(page, base, "alice")

    # Read, then reply with an attachment.
    page.click("text=Contract draft")
    assert page.is_visible("text=Please send me the signed copy.")
    page.click("#reply")
    page.fill("textarea[name=body]", "Signed copy attached.")
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(b"%PDF-1.4 signed")
    page.set_input_files("input[name=attachments]", str(signed))
    page.click("#send")
    page.wait_for_url(f"{base}/mail/INBOX?sent=1")

    # The recipient downloads it.
    bob_ctx = browser.new_context(accept_downloads=True)  # type: ignore[attr-defined]
    bob = bob_ctx.new_page()
    sign_in(bob, base, "bob")
    bob.click("text=Re: Contract draft")
    with bob.expect_download() as download:
        bob.click("text=signed.pdf")
    saved = tmp_path / "bob-got.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes() == b"%PDF-1.4 signed"
    bob_ctx.close()

    # Move to a new folder, delete, restore.
    page.goto(f"{base}/mail/INBOX")
    page.click("summary")
    page.fill("input[name=new_name]", "")
    page.fill(".folder-ops input[name=name]", "Contracts")
    page.click("button[value=create]")
    page.goto(f"{base}/mail/INBOX")
    page.click("text=Contract draft")
    page.select_option("select[name=target]", "Contracts")
    page.click("#move")
    page.goto(f"{base}/mail/Contracts")
    assert page.is_visible("text=Contract draft")
    page.goto(f"{base}/mail/INBOX")
    page.click("text=Old newsletter")
    page.click("#delete")
    page.goto(f"{base}/mail/Trash")
    page.click("text=Old newsletter")
    page.click("#restore")
    page.goto(f"{base}/mail/INBOX")
    assert page.is_visible("text=Old newsletter")

    # Search.
    page.fill("#search-box", "newsletter")
    page.press("#search-box", "Enter")
    page.wait_for_url(f"{base}/search**")
    assert page.is_visible("#results >> text=Old newsletter")

    # Sign out another session and see it rejected.
    phone_ctx = browser.new_context()  # type: ignore[attr-defined]
    phone = phone_ctx.new_page()
    sign_in(phone, base, "alice")
    page.goto(f"{base}/security")
    page.click("#revoke-others")
    phone.goto(f"{base}/mail/INBOX")
    assert phone.url == f"{base}/login"
    phone_ctx.close()

    # Enrol TOTP, sign out, sign in with a code.
    page.goto(f"{base}/security")
    page.click("#two-factor-start")
    secret = page.inner_text("#totp-secret")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("#two-factor-confirm")
    assert page.locator("#recovery-codes li").count() == 10
    page.goto(f"{base}/mail/INBOX")
    page.click("text=Sign out")
    page.wait_for_url(f"{base}/login")
    totp = pyotp.TOTP(secret)
    sign_in(page, base, "alice", code=totp.at(time.time() + totp.interval))
    assert page.is_visible("#last-logon")
    laptop.close()
