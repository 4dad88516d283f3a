"""Changing mail from the web: flags, move, delete/restore, folders, empty Trash.

Every route is a POST carrying the session's CSRF token, and redirects back
(POST/redirect/GET), so a reload never repeats a change.
"""

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from mailward.access import MailAccess
from mailward.core.errors import InvalidInput
from mailward.core.flags import Flags
from mailward.web.pages import check_csrf, door

router = APIRouter(include_in_schema=False)

_FLAG_ACTIONS = {
    "read": (Flags.parse("\\Seen"), Flags()),
    "unread": (Flags(), Flags.parse("\\Seen")),
    "flag": (Flags.parse("\\Flagged"), Flags()),
    "unflag": (Flags(), Flags.parse("\\Flagged")),
}
MAX_IDS = 500


def _back(mailbox: str, message_id: str | None = None) -> Response:
    path = f"/mail/{quote(mailbox, safe='')}" + (f"/{message_id}" if message_id else "")
    return RedirectResponse(path, status_code=303)


def apply(d: MailAccess, action: str, ids: list[str], target: str) -> None:
    """One action on the principal's messages `ids`."""
    if not ids:
        raise InvalidInput("select at least one message")
    if len(ids) > MAX_IDS:
        raise InvalidInput(f"at most {MAX_IDS} messages at once")
    if action in _FLAG_ACTIONS:
        add, remove = _FLAG_ACTIONS[action]
        d.set_flags(ids, add, remove)
    elif action == "delete":
        d.delete(ids)
    elif action == "restore":
        for i in ids:
            d.restore(i)
    elif action == "move":
        if not target:
            raise InvalidInput("choose a folder to move to")
        d.move(ids, target)
    else:
        raise InvalidInput(f"unknown action {action!r}")


@router.post("/mail/{mailbox}/actions")
def bulk(
    request: Request,
    mailbox: str,
    d: Annotated[MailAccess, Depends(door)],
    action: Annotated[str, Form(max_length=20)],
    csrf: Annotated[str, Form(max_length=100)] = "",
    ids: Annotated[list[str] | None, Form()] = None,
    target: Annotated[str, Form(max_length=200)] = "",
    back: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(request, csrf)
    chosen = [i for i in (ids or []) if i]
    apply(d, action, chosen, target)
    # After a change to one message, show it again unless it left this folder.
    stay = back and back in chosen and action in _FLAG_ACTIONS
    return _back(mailbox, back if stay else None)


@router.post("/folders")
def folders(
    request: Request,
    d: Annotated[MailAccess, Depends(door)],
    op: Annotated[str, Form(max_length=10)],
    name: Annotated[str, Form(max_length=200)] = "",
    new_name: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(request, csrf)
    if op == "create":
        d.create_mailbox(name)
        return _back(name)
    if op == "rename":
        d.rename_mailbox(name, new_name)
        return _back(new_name)
    if op == "delete":
        d.delete_mailbox(name)
        return _back("INBOX")
    if op == "empty":  # empty Trash: expunge (tombstones keep them restorable)
        d.expunge_mailbox(name, only_deleted=False)
        return _back(name)
    raise InvalidInput(f"unknown folder operation {op!r}")
