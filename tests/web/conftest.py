"""Fixtures of the web tests (helpers in web_support.py)."""

from web_support import live, web

__all__ = ["live", "web"]
