"""The mail a user gets when their account is signed in from a new device or
address: when, from where, with what, and what to do if it was not them."""

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from mailward.core.principal import Principal
from mailward.web.backend import WebBackend


def new_device_alert(b: WebBackend, p: Principal, device: str, base_url: str) -> None:
    """Deliver the alert into the principal's INBOX (as the system)."""
    if b.system_door is None:
        return
    msg = EmailMessage()
    msg["From"] = f"mailward security <security@{b.hostname}>"
    msg["To"] = p.address
    msg["Subject"] = "New sign-in to your mailbox"
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=b.hostname)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(
        f"Your account {p.address} was just signed in to from a device or address\n"
        "it has not been used from before:\n\n"
        f"  when:     {formatdate(usegmt=True)}\n"
        f"  address:  {p.remote or 'unknown'}\n"
        f"  device:   {device or 'unknown'}\n"
        f"  via:      {p.protocol.value}\n\n"
        "If this was you, there is nothing to do.\n"
        "If it was not: change your password and sign out every other session at\n"
        f"{base_url}security\n"
    )
    b.system_door().deliver([p.address], msg.as_bytes())
