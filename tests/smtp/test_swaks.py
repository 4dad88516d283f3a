"""Debian's swaks against both listeners (installed by .ci/run)."""

import shutil
import subprocess

import pytest
from smtp_support import Server

from support import DOMAIN, PASSWORD, need_tool

SWAKS = shutil.which("swaks")


@pytest.fixture(autouse=True)
def _swaks() -> None:
    need_tool("swaks", "swaks")


def swaks(*args: str) -> subprocess.CompletedProcess[str]:
    assert SWAKS is not None
    return subprocess.run(
        [SWAKS, "--helo", "swaks.test", "--timeout", "20", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def subjects(server: Server, name: str, box: str = "INBOX") -> list[str]:
    return [m.subject for m in server.world.door(name).list_messages(box).items]


def test_swaks_delivers_to_the_mx_with_pipelining(server: Server) -> None:
    host, port = server.mx
    done = swaks(
        "--server",
        host,
        "--port",
        str(port),
        "--pipeline",
        "--from",
        "someone@elsewhere.test",
        "--to",
        f"alice@{DOMAIN}",
        "--header",
        "Subject: via swaks",
        "--body",
        "hello from swaks",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "250 2.0.0 OK: stored" in done.stdout
    assert subjects(server, "alice") == ["via swaks"]


def test_swaks_unknown_user_and_relay_denied(server: Server) -> None:
    host, port = server.mx
    done = swaks("--server", host, "--port", str(port), "--to", f"nobody@{DOMAIN}")
    assert done.returncode != 0 and "550 5.1.1" in done.stdout
    done = swaks("--server", host, "--port", str(port), "--to", "x@foreign.test")
    assert done.returncode != 0 and "550 5.7.1" in done.stdout


def test_swaks_submits_over_starttls_with_auth(server: Server) -> None:
    host, port = server.submission
    done = swaks(
        "--server",
        host,
        "--port",
        str(port),
        "--tls",
        "--auth",
        "PLAIN",
        "--auth-user",
        f"alice@{DOMAIN}",
        "--auth-password",
        PASSWORD,
        "--from",
        f"alice@{DOMAIN}",
        "--to",
        f"bob@{DOMAIN}",
        "--header",
        "Subject: submitted by swaks",
        "--h-From",
        f"<alice@{DOMAIN}>",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "235 2.7.0" in done.stdout
    assert subjects(server, "bob") == ["submitted by swaks"]
    assert subjects(server, "alice", "Sent") == ["submitted by swaks"]


def test_swaks_spoofed_sender_and_bad_password(server: Server) -> None:
    host, port = server.submission
    base = ["--server", host, "--port", str(port), "--tls", "--auth", "LOGIN"]
    done = swaks(
        *base,
        "--auth-user",
        f"alice@{DOMAIN}",
        "--auth-password",
        PASSWORD,
        "--from",
        f"bob@{DOMAIN}",
        "--to",
        f"carol@{DOMAIN}",
    )
    assert done.returncode != 0 and "553 5.7.1" in done.stdout
    done = swaks(
        *base,
        "--auth-user",
        f"alice@{DOMAIN}",
        "--auth-password",
        "wrong",
        "--from",
        f"alice@{DOMAIN}",
        "--to",
        f"carol@{DOMAIN}",
    )
    assert done.returncode != 0 and "535 5.7.8" in done.stdout
    assert subjects(server, "carol") == []
