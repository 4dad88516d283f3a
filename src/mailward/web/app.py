"""The web application: routes, security headers, and errors mapped in one place."""

from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.telemetry import TelemetryConfig
from fastapi.templating import Jinja2Templates

from mailward.core.errors import (
    AuthError,
    Conflict,
    IntegrityError,
    InvalidInput,
    IsolationViolation,
    NotFound,
    PermissionDenied,
)
from mailward.web import actions, admin, api, compose, pages, search, security
from mailward.web.backend import WebBackend
from mailward.web.boundary import Boundary, Stamping
from mailward.web.faults import FaultyPageCache, FaultyReplies
from mailward.web.headers import SecurityHeaders

_HERE = Path(str(resources.files("mailward.web")))
_ERRORS: dict[int, type[Exception]] = {
    400: InvalidInput,
    401: AuthError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
}


# FastAPI's own OpenTelemetry (0.142 and later) is off, whatever the process's
# providers or OTEL_* environment: its spans, metrics and logs would carry request
# paths and queries (folder names, message ids, search terms) and exception
# messages out of the service. (Off, it also no longer asks the global providers
# on every request: 1 % of an inbox page.)
TELEMETRY_OFF: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "auto_configure": False,
}


def create_app(backend: WebBackend) -> FastAPI:
    app = FastAPI(
        title="mailward",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        telemetry=TELEMETRY_OFF,
    )
    app.state.backend = backend
    templates = Jinja2Templates(directory=_HERE / "templates")
    templates.env.auto_reload = False  # no stat() of every template on every page
    app.state.templates = templates
    app.router.routes.extend(pages.PLAIN_ROUTES)
    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="static")
    app.include_router(pages.router)
    app.include_router(actions.router)
    app.include_router(compose.router)
    app.include_router(security.router)
    app.include_router(search.router)
    app.include_router(api.router)
    app.include_router(admin.router)
    app.add_middleware(Stamping)
    app.add_middleware(SecurityHeaders)
    if backend.switches is not None and "shared-cache" in backend.faults:
        app.add_middleware(
            FaultyPageCache,
            switches=backend.switches,
            sessions=backend.sessions,
            crossing=backend.crossing,
        )
    if backend.switches is not None and "connection-mixup" in backend.faults:
        app.add_middleware(FaultyReplies, switches=backend.switches, crossing=backend.crossing)
    app.add_middleware(
        Boundary,
        guard=lambda: backend.guard,
        switches=lambda: backend.switches,
        sessions=lambda: backend.sessions,
    )

    def page(request: Request, status: int, title: str, text: str) -> Response:
        if request.url.path.startswith("/api/"):
            return api.problem(_ERRORS[status](text))
        templates: Jinja2Templates = request.app.state.templates
        return templates.TemplateResponse(
            request, "error.html", {"title": title, "text": text}, status_code=status
        )

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith("/api/"):
            return api.problem(InvalidInput("the request is not valid: see the API description"))
        return page(request, 400, "Cannot do that", "The form was not filled in as expected.")

    @app.exception_handler(AuthError)
    async def signed_out(request: Request, exc: AuthError) -> Response:
        if request.url.path.startswith("/api/"):
            return api.problem(exc)
        if request.method == "GET":
            return RedirectResponse("/login", status_code=303)
        return page(request, 401, "Signed out", "Your session has ended. Please sign in again.")

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return page(request, 404, "Not found", "There is no such message or folder.")

    @app.exception_handler(IsolationViolation)
    async def refused(request: Request, exc: IsolationViolation) -> Response:
        # Recorded by the door; to the user it is exactly "not found".
        return page(request, 404, "Not found", "There is no such message or folder.")

    @app.exception_handler(IntegrityError)
    async def stopped(request: Request, exc: IntegrityError) -> Response:
        # A session row that is not the token's (or another integrity fault): the
        # guard has recorded it; nothing of the request is answered.
        if request.url.path.startswith("/api/"):
            return api.problem(exc)
        templates: Jinja2Templates = request.app.state.templates
        text = "Something went wrong on our side and this page was stopped. Please sign in again."
        return templates.TemplateResponse(
            request, "error.html", {"title": "Could not be shown", "text": text}, status_code=500
        )

    @app.exception_handler(InvalidInput)
    async def invalid(request: Request, exc: InvalidInput) -> Response:
        return page(request, 400, "Cannot do that", str(exc))

    @app.exception_handler(Conflict)
    async def conflict(request: Request, exc: Conflict) -> Response:
        return page(request, 409, "Cannot do that", str(exc))

    @app.exception_handler(PermissionDenied)
    async def denied(request: Request, exc: PermissionDenied) -> Response:
        return page(request, 403, "Not allowed", str(exc))

    @app.get("/", include_in_schema=False)
    async def home() -> Response:
        return RedirectResponse("/mail/INBOX", status_code=303)

    @app.get("/healthz", include_in_schema=False, response_class=HTMLResponse)
    async def health() -> str:
        return "ok"

    return app
