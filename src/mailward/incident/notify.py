"""What affected users are told, and the summary for the regulator.

A notice goes to each affected account's INBOX: exactly what of theirs was seen or
changed, when, by whom ("another user" unless the operator's policy names
accounts), what was restored, what was stopped, and what they can do. Messages are
named by a link to them (the service does not open anyone's mail to write this).
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from mailward.incident.report import AccountReport, Report

_PART_WORDS = {
    "list-entry": "its subject and sender (in a message list)",
    "subject": "its subject",
    "headers": "its headers (sender, recipients, subject, date)",
    "body": "its text",
    "raw": "the whole message, attachments included",
    "flags": "its read/flagged state",
    "logins": "your sign-in history (times, addresses, devices)",
    "sessions": "your list of signed-in sessions",
    "session": "your signed-in session",
    "-": "your folder list",
}
_ACTION_WORDS = {
    "flag": "changed the flags of",
    "move": "moved",
    "copy": "copied",
    "delete": "deleted (to Trash)",
    "expunge": "permanently deleted",
    "restore": "restored",
    "append": "added",
}


def part_words(part: str) -> str:
    """Plain words for a part ("attachment:2 (c.pdf)" -> "attachment 2 (c.pdf)")."""
    part = part.partition("@")[0]
    if part.startswith("attachment:"):
        return "attachment " + part.split(":", 1)[1]
    return _PART_WORDS.get(part, part)


def _when(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True, slots=True)
class Restored:
    item: str
    action: str
    outcome: str  # "restored", or why not


def notice_text(
    report: Report,
    account: AccountReport,
    *,
    base_url: str,
    name_actors: bool,
    restored: list[Restored],
    refused: int,
) -> str:
    def who(actor: str) -> str:
        return actor if name_actors else "another user"

    def link(item: str, mailbox: str) -> str:
        return f"{base_url}/mail/{mailbox or 'INBOX'}/{item}"

    lines = [
        "Hello,",
        "",
        f"between {_when(report.since_us)} and {_when(report.until_us)} a fault in our"
        " service let someone else see or change some of your mail. This notice lists"
        " exactly what, taken from our access log (incident"
        f" {report.incident}).",
        "",
    ]
    seen = sorted(account.exposures.values(), key=lambda e: e.at_us)
    if seen:
        lines.append(f"What was seen ({len(seen)}):")
        for e in seen:
            what = ", ".join(
                part_words(report.attachment_label(account.account_id, e.message_id, p))
                for p in sorted(e.parts)
            )
            if e.message_id:
                unread = " It was still unread." if e.unread_at_exposure else ""
                lines.append(
                    f"- {_when(e.at_us)}: {who(e.actor)} saw {what} of the message"
                    f" {link(e.message_id, e.mailbox)}.{unread}"
                )
            else:
                lines.append(f"- {_when(e.at_us)}: {who(e.actor)} saw {what}.")
        lines.append("")
    if account.changes:
        outcome = {(r.item, r.action): r.outcome for r in restored}
        lines.append(f"What was changed ({len(account.changes)}):")
        for c in account.changes:
            done = outcome.get((c.message_id, c.action))
            note = (
                " We have put it back."
                if done == "restored"
                else f" It could not be put back: {done}."
                if done
                else ""
            )
            lines.append(
                f"- {_when(c.at_us)}: {who(c.actor)} {_ACTION_WORDS.get(c.action, c.action)}"
                f" the message {link(c.message_id, c.mailbox)}.{note}"
            )
        lines.append("")
    if refused:
        lines += [
            f"We also stopped {refused} attempt(s) to reach your mail; nothing was shown.",
            "",
        ]
    lines += [
        "What we have done: the fault was switched off as soon as it was detected, and"
        " every access is in our tamper-evident access log.",
        "",
        "What you can do: look at the messages listed above. If any held passwords, bank"
        " or card details or identity documents, change or block them. Your Security"
        " page shows your sign-ins and every access to your mailbox by anyone else.",
        "",
        "We are sorry.",
        "",
        "-- the mail service",
    ]
    return "\n".join(lines) + "\n"


def notice_message(sender: str, to: str, incident: int | None, text: str, hostname: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Mail service security <{sender}>"
    msg["To"] = to
    msg["Subject"] = f"Security notice: someone else reached your mail (incident {incident})"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=hostname)
    msg.set_content(text)
    return msg.as_bytes()


def regulator_summary(report: Report, measures: list[str], notified: int) -> str:
    """Counts, categories, timeline and measures taken, for the regulator."""
    t = report.totals()
    lines = [
        f"# Personal data breach summary — incident {report.incident}",
        "",
        f"Window: {_when(report.since_us)} to {_when(report.until_us)}.",
        f"Evidence: {report.records_in_window:,} audit records in the window; hash chain"
        f" {'verified' if report.chain_verified else 'BROKEN: ' + report.chain_problem}.",
        "",
        "## Affected accounts and categories",
        "",
        f"- accounts affected: {t['affected accounts']:,}",
        f"- accounts whose subjects/list entries only were seen: {t['subjects only']:,}",
        f"- accounts whose message texts were seen: {t['bodies']:,}",
        f"- accounts whose attachments were seen: {t['attachments']:,}",
        f"- messages seen: {t['exposed items']:,}",
        f"- changes by others: {t['changed']:,}; deletions by others: {t['deleted']:,}",
        f"- attempts refused (nothing shown): {t['refused attempts']:,}",
        f"- accounts notified: {notified:,}",
        "",
        "## Timeline (per minute: messages seen, accounts affected so far)",
        "",
    ]
    for minute, n, accounts in report.timeline():
        lines.append(f"- {_when(minute)[:16]}: {n:,} seen, {accounts:,} accounts")
    if not report.timeline():
        lines.append("- no exposures")
    lines += ["", "## Measures taken", ""]
    lines += [f"- {m}" for m in measures] or ["- none recorded"]
    return "\n".join(lines) + "\n"
