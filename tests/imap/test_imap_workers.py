"""`serve --workers 2` with IMAP and POP3: the real command line, two processes
sharing the listeners; a session in one worker hears of a change made through
another; the POP3 maildrop lock holds across the workers."""

import imaplib
import os
import poplib
import re
import subprocess
import sys
import threading
from pathlib import Path

from mailward.config import Settings
from mailward.runtime import Runtime
from support import DOMAIN, PASSWORD, make_message


def test_imap_and_pop3_under_two_workers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rt = Runtime.open(Settings(data=data, fast_hashing=True))
    rt.directory.add_domain(DOMAIN)
    rt.directory.add_user(f"alice@{DOMAIN}", PASSWORD)
    rt.system().deliver([f"alice@{DOMAIN}"], make_message("first", "one", to=f"alice@{DOMAIN}"))
    rt.close()
    env = {**os.environ, "MAILWARD_PLAINTEXT_LOGIN": "1", "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailward", "serve", "--data", str(data), "--workers", "2",
         "--web", "off", "--smtp", "off", "--submission", "off",
         "--imap", "127.0.0.1:0", "--pop3", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    ports: dict[str, int] = {}
    lines = []
    while True:
        line = proc.stdout.readline()
        lines.append(line)
        if m := re.search(r"listening (imap|pop3) 127\.0\.0\.1:(\d+)", line):
            ports[m.group(1)] = int(m.group(2))
        if line.startswith("ready") or not line:
            break
    drain = threading.Thread(target=proc.stdout.read, daemon=True)
    drain.start()
    try:
        assert set(ports) == {"imap", "pop3"}, lines
        sessions = []
        for _ in range(4):  # the kernel spreads connections over both workers
            c = imaplib.IMAP4("127.0.0.1", ports["imap"], timeout=20)
            c.login(f"alice@{DOMAIN}", PASSWORD)
            assert c.select("INBOX") == ("OK", [b"1"])
            sessions.append(c)
        writer = sessions[0]
        writer.store("1", "+FLAGS", "(\\Flagged)")
        raw = make_message("second", "two", to=f"alice@{DOMAIN}")
        assert writer.append("INBOX", None, None, raw)[0] == "OK"
        for c in sessions[1:]:
            c.noop()
            assert c.untagged_responses.get("EXISTS", [b""])[-1] == b"2"
            assert any(b"\\Flagged" in f for f in c.untagged_responses.get("FETCH", []))
            c.logout()
        writer.logout()
        first = poplib.POP3("127.0.0.1", ports["pop3"], timeout=20)
        first.user(f"alice@{DOMAIN}")
        first.pass_(PASSWORD)
        for _ in range(4):  # whichever worker takes it, the maildrop is locked
            other = poplib.POP3("127.0.0.1", ports["pop3"], timeout=20)
            other.user(f"alice@{DOMAIN}")
            try:
                other.pass_(PASSWORD)
                raise AssertionError("a second POP3 session got the maildrop")
            except poplib.error_proto as exc:
                assert b"IN-USE" in exc.args[0]
            other.close()
        assert first.stat()[0] == 2
        first.quit()
    finally:
        proc.terminate()
        proc.wait(30)
        drain.join(10)
        proc.stdout.close()
