"""Web front-end: server-rendered mail pages (FastAPI/Starlette, Jinja2, served by
uvicorn), using only the one door (`access`) and `auth`.

Layout: `backend.py` (what the runtime hands the front-end), `app.py` (the
application, its error mapping in one place), `session.py` (the session cookie,
CSRF tokens), `headers.py` (security headers on every response), `pages.py`
(login, folders, message list, message, attachments), `render.py` (hostile HTML
made safe with nh3), `templates/`, `static/`.

Invariants:
- every page and response carrying mail or account data is `Cache-Control:
  private, no-store`;
- a message's HTML is sanitised (allow-list) and shown only inside a sandboxed
  iframe whose document has its own Content-Security-Policy (no scripts, no remote
  loads);
- state changes are POSTs carrying a CSRF token bound to the session;
- another account's message or folder answers 404, exactly as one that never
  existed (the door records the refusal).
"""

from mailward.web.app import create_app
from mailward.web.backend import WebBackend

__all__ = ["WebBackend", "create_app"]
