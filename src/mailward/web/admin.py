"""The operators' containment page: the kill switch, feature flags and the guard's
events. Only for the addresses in the `admins` setting; to anyone else it does not
exist (404). It stays reachable while the kill switch stops the web, so it can be
released from here."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailward.core.errors import InvalidInput, NotFound
from mailward.core.principal import Principal
from mailward.guard import PROTOCOL_SCOPES, Guard, Switches
from mailward.web.pages import _backend, _render, _when, check_csrf, principal
from mailward.web.session import SESSION_COOKIE, csrf_for

router = APIRouter(include_in_schema=False)


def _operator(request: Request, p: Principal) -> tuple[Switches, Guard]:
    b = _backend(request)
    if p.address.lower() not in b.admins or b.switches is None or b.guard is None:
        raise NotFound("no such page")
    return b.switches, b.guard


@router.get("/admin", response_class=HTMLResponse)
def admin(
    request: Request, p: Annotated[Principal, Depends(principal)], done: str = ""
) -> Response:
    switches, guard = _operator(request, p)
    flags = switches.flags()
    scopes = ["all", *PROTOCOL_SCOPES, *(f"flag:{f.name}" for f in flags)]
    return _render(
        request,
        "admin.html",
        {
            "me": p,
            "done": done[:200],
            "killswitch": sorted(switches.killswitch().items()),
            "scopes": scopes,
            "flags": flags,
            "events": guard.events(50),
            "csrf": csrf_for(request.cookies.get(SESSION_COOKIE, "")),
            "when": _when,
        },
    )


@router.post("/admin/killswitch")
def killswitch(
    request: Request,
    p: Annotated[Principal, Depends(principal)],
    scope: Annotated[str, Form(max_length=100)],
    action: Annotated[str, Form(max_length=10)],
    reason: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    switches, _ = _operator(request, p)
    check_csrf(request, csrf)
    if action == "engage":
        switches.engage(scope, f"web:{p.address}", reason or "engaged from the admin page")
        done = f"stopped: {scope}"
    elif action == "release":
        switches.release(scope)
        done = f"released: {scope}"
    else:
        raise InvalidInput("engage or release")
    return RedirectResponse(f"/admin?done={done}", status_code=303)


@router.post("/admin/flags")
def flags(
    request: Request,
    p: Annotated[Principal, Depends(principal)],
    name: Annotated[str, Form(max_length=100)],
    action: Annotated[str, Form(max_length=10)],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    switches, _ = _operator(request, p)
    check_csrf(request, csrf)
    if action == "rollout":
        f = switches.rollout(name, f"web:{p.address}")
    elif action == "off":
        f = switches.set_flag(name, 0.0, f"web:{p.address}", "switched off from the admin page")
    else:
        raise InvalidInput("rollout or off")
    return RedirectResponse(f"/admin?done={f.name} at {f.percent:g} %", status_code=303)
