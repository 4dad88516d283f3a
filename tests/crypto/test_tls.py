"""Self-signed TLS material: created once, owner-only key, and a real handshake."""

import os
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mailward.core.errors import Conflict
from mailward.crypto import client_context_trusting, ensure_certificate, server_context

HOST = "mail.example.test"


@contextmanager
def tls_server(ctx: ssl.SSLContext) -> Iterator[tuple[int, list[BaseException]]]:
    """Serve one TLS connection on 127.0.0.1: handshake, say b"ok", close."""
    listener = socket.create_server(("127.0.0.1", 0))
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            conn.settimeout(5)
            with ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"ok")
        except (OSError, ssl.SSLError) as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield listener.getsockname()[1], errors
    finally:
        thread.join(timeout=10)
        listener.close()


def test_creates_pair_with_owner_only_key(tmp_path: Path) -> None:
    cert, key = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
    assert ensure_certificate(cert, key, HOST) is True
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert cert.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert sorted(p.name for p in cert.parent.iterdir()) == ["cert.pem", "key.pem"]


def test_second_call_changes_nothing(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    assert ensure_certificate(cert, key, HOST) is True
    before = (cert.read_bytes(), key.read_bytes(), cert.stat().st_mtime_ns)
    assert ensure_certificate(cert, key, HOST) is False
    assert (cert.read_bytes(), key.read_bytes(), cert.stat().st_mtime_ns) == before


def test_half_pair_is_refused_not_overwritten(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    key.write_bytes(b"operator's key")
    with pytest.raises(Conflict, match="does not"):
        ensure_certificate(cert, key, HOST)
    assert key.read_bytes() == b"operator's key"
    assert not cert.exists()


def test_handshake_on_loopback(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    ensure_certificate(cert, key, HOST)
    with tls_server(server_context(cert, key)) as (port, errors):
        client = client_context_trusting(cert)
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            client.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            peer = tls.getpeercert()
            assert tls.recv(2) == b"ok"
    assert errors == []
    assert peer is not None
    san = peer["subjectAltName"]
    assert ("DNS", HOST) in san
    assert ("DNS", "localhost") in san
    assert ("IP Address", "127.0.0.1") in san


def test_client_trusts_only_that_certificate(tmp_path: Path) -> None:
    cert, key = tmp_path / "a" / "cert.pem", tmp_path / "a" / "key.pem"
    other = tmp_path / "b" / "cert.pem"
    ensure_certificate(cert, key, HOST)
    ensure_certificate(other, tmp_path / "b" / "key.pem", HOST)
    with tls_server(server_context(cert, key)) as (port, _):
        client = client_context_trusting(other)
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            pytest.raises(ssl.SSLCertVerificationError),
        ):
            client.wrap_socket(raw, server_hostname="localhost")
