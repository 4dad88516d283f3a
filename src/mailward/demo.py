"""Demo data: domain example.test, three users, a little mail for each."""

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from mailward.core.errors import Conflict
from mailward.runtime import Runtime

DOMAIN = "example.test"
USERS = {
    "alice@example.test": "alice-demo-pass",
    "bob@example.test": "bob-demo-pass",
    "carol@example.test": "carol-demo-pass",
    "postmaster@example.test": "postmaster-demo-pass",
}

_MAIL = [
    (
        "bob@example.test",
        "alice@example.test",
        "Quarterly statement",
        "Hi Alice,\n\nyour statement for Q3 is attached.\n\nBob\n",
        True,
    ),
    (
        "carol@example.test",
        "alice@example.test",
        "Lunch on Friday?",
        "Are you free for lunch on Friday? The new place by the river.\n",
        False,
    ),
    (
        "alice@example.test",
        "bob@example.test",
        "Re: contract draft",
        "Bob, I read the draft. Two remarks on clause 4; see below.\n",
        False,
    ),
    (
        "alice@example.test",
        "carol@example.test",
        "Photos from the trip",
        "Carol, here are the photos I promised.\n",
        True,
    ),
]


def _message(sender: str, to: str, subject: str, body: str, attach: bool, when: datetime) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(domain=DOMAIN)
    msg.set_content(body)
    if attach:
        msg.add_attachment(
            b"%PDF-1.4\n% demo document\n",
            maintype="application",
            subtype="pdf",
            filename="document.pdf",
        )
    return msg.as_bytes()


ADMIN = "postmaster@example.test"  # the demo's operator (the /admin page)


def seed(rt: Runtime) -> dict[str, str]:
    """Create the demo domain, users and mail if absent; return address -> password."""
    try:
        rt.directory.add_domain(DOMAIN)
    except Conflict:
        return USERS  # seeded before
    for address, password in USERS.items():
        rt.directory.add_user(address, password)
    now = datetime.now(UTC)
    system = rt.system()
    for i, (sender, to, subject, body, attach) in enumerate(_MAIL):
        system.deliver(
            [to], _message(sender, to, subject, body, attach, now - timedelta(hours=len(_MAIL) - i))
        )
    return USERS
