"""TLS material for the listeners: a self-signed certificate on first run, and contexts.

Invariants:
- The private key file is mode 0600 from creation (os.open with 0o600 and O_EXCL, never
  chmod after), and an existing key or certificate is never overwritten.
- Server contexts refuse anything older than TLS 1.2.
"""

import datetime
import ipaddress
import os
import secrets
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mailward.core.errors import Conflict

_VALIDITY = datetime.timedelta(days=365)
_BACKDATE = datetime.timedelta(days=1)  # tolerate clients whose clock runs behind


def ensure_certificate(cert_path: Path, key_path: Path, hostname: str) -> bool:
    """Create a self-signed certificate and its key for `hostname` unless both exist.

    The certificate (EC P-256, SHA-256, valid from a day ago for 365 days) names
    `hostname` as CN and in its SubjectAltName, together with DNS:localhost and
    IP:127.0.0.1 so loopback clients can verify it. Both files are PEM.

    Returns:
        True if the pair was created, False if both files already existed.

    Raises:
        Conflict: exactly one of the two files exists. Replacing the other would
            either destroy a private key or orphan a certificate an operator put
            there, so the operator decides.
    """
    cert_exists, key_exists = cert_path.exists(), key_path.exists()
    if cert_exists and key_exists:
        return False
    if cert_exists or key_exists:
        present, missing = (cert_path, key_path) if cert_exists else (key_path, cert_path)
        raise Conflict(
            f"TLS: {present} exists but {missing} does not; supply the missing file "
            f"or remove {present} to have a new self-signed pair created"
        )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _self_signed(key, hostname)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Both files are written under temporary names first, then linked into place
    # key-then-cert: os.link fails instead of replacing a file that appeared meanwhile,
    # and a crash leaves at most a lone key, which the Conflict above reports.
    key_tmp = _write_new(key_path, key_pem, 0o600)
    try:
        cert_tmp = _write_new(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        try:
            os.link(key_tmp, key_path)
            os.link(cert_tmp, cert_path)
        finally:
            cert_tmp.unlink(missing_ok=True)
    finally:
        key_tmp.unlink(missing_ok=True)
    _fsync_dir(key_path.parent)
    if cert_path.parent != key_path.parent:
        _fsync_dir(cert_path.parent)
    return True


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """A server-side context presenting the certificate chain at `cert_path`."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile=cert_path, keyfile=key_path)
    return ctx


def client_context_trusting(cert_path: Path) -> ssl.SSLContext:
    """A client context whose only trust anchor is the certificate at `cert_path`.

    Hostname checking stays on: the self-signed certificate names DNS:localhost and
    IP:127.0.0.1, so loopback clients pass `server_hostname="localhost"`.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname=True
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cafile=cert_path)
    return ctx


def _self_signed(key: ec.EllipticCurvePrivateKey, hostname: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    public_key = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now - _BACKDATE + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName(_alt_names(hostname)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )


def _alt_names(hostname: str) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for entry in (hostname, "localhost", "127.0.0.1"):
        try:
            general: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(entry))
        except ValueError:
            general = x509.DNSName(entry)
        if general not in names:
            names.append(general)
    return names


def _write_new(path: Path, data: bytes, mode: int) -> Path:
    """Write `data` to a fresh sibling of `path` created with `mode`; return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never write through an existing file or a planted symlink.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def _fsync_dir(path: Path) -> None:
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
