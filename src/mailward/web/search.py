"""Search pages: by sender, recipient, subject, body text and date, in one folder
(MailAccess.search: no plaintext index; bounded scans continued by a cursor)."""

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from mailward.access import MailAccess, SearchQuery
from mailward.core.errors import InvalidInput
from mailward.core.principal import Principal
from mailward.web.pages import _ordered, _render, _when, door, principal
from mailward.web.session import SESSION_COOKIE, csrf_for

router = APIRouter(include_in_schema=False)


def _day(value: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput(f"not a date (YYYY-MM-DD): {value}") from None


def query_of(sender: str, to: str, subject: str, text: str, since: str, before: str) -> SearchQuery:
    return SearchQuery(sender=sender.strip(), recipient=to.strip(), subject=subject.strip(),
                       text=text.strip(), since=_day(since), before=_day(before))  # fmt: skip


@router.get("/search", response_class=HTMLResponse)
def search(
    request: Request,
    p: Annotated[Principal, Depends(principal)],
    d: Annotated[MailAccess, Depends(door)],
    mailbox: str = "INBOX",
    sender: str = "",
    to: str = "",
    subject: str = "",
    text: str = "",
    since: str = "",
    before: str = "",
    cursor: str | None = None,
) -> Response:
    terms = {"mailbox": mailbox, "sender": sender, "to": to, "subject": subject, "text": text,
             "since": since, "before": before}  # fmt: skip
    query = query_of(sender, to, subject, text, since, before)
    page = d.search(mailbox, query, limit=50, cursor=cursor) if not query.empty else None
    more = f"/search?{urlencode({**terms, 'cursor': page.cursor})}" if page and page.cursor else ""
    return _render(
        request,
        "search.html",
        {"me": p, "folders": _ordered(d.mailboxes()), "mailbox": mailbox, "terms": terms,
         "page": page, "more": more, "when": _when, "quote": quote,
         "csrf": csrf_for(request.cookies.get(SESSION_COOKIE, ""))},
    )  # fmt: skip
