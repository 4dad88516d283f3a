"""The Received: trace field each server adds (RFC 5321 §4.4)."""

from datetime import UTC, datetime
from email.utils import format_datetime


def received_field(
    *, helo: str, peer_ip: str, hostname: str, with_: str, item: str, recipient: str | None
) -> bytes:
    """One folded Received: field, CRLF-terminated.

    `with_` is the protocol keyword (RFC 3848: ESMTP, ESMTPS, ESMTPA, ESMTPSA);
    `recipient` is named only for a single-recipient transaction (RFC 5321 §4.4
    warns against disclosing the others).
    """
    helo = "".join(c for c in helo if 32 < ord(c) < 127)[:100] or "unknown"
    stamp = format_datetime(datetime.now(UTC))
    for_ = f"\r\n\tfor <{recipient}>" if recipient else ""
    text = (
        f"Received: from {helo} ([{peer_ip}])\r\n\tby {hostname} (mailward) with {with_}"
        f" id {item}{for_};\r\n\t{stamp}\r\n"
    )
    return text.encode("utf-8", "replace")
