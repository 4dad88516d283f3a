"""What one inbox page costs the server, without the network: the whole web
application (middlewares, the guard's stamping, the door, the template) called
in process through ASGI, signed in, page after page.

Prints CPU per page (user and system time) and, with valgrind, the user-space
instructions per page counted by callgrind: repeatable where the shared host's
speed is not, so a change can be priced before wrk measures it.

    python bench/page_cost.py [--messages 20000] [--pages 600] [--data DIR]

`--data` reuses (or fills once) a data directory; by default a temporary one.
Compare commits on the same data with `PYTHONPATH=<checkout>/src`.
"""

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from core_bench import open_rt
from core_bench import populate as core_populate
from mailward.config import Settings
from mailward.core.principal import Protocol
from mailward.runtime import Runtime
from mailward.web import create_app

USER, PASSWORD = "bench@example.test", "bench-password"


def fill(data: Path, count: int) -> None:
    if (data / "mailward.db").exists():
        return
    rt = open_rt(data, audit=True)
    core_populate(rt, count)
    rt.close()


async def run_pages(data: Path, pages: int, warm: int = 50) -> tuple[float, float]:
    """(user ms, system ms) per inbox page, after `warm` pages."""
    rt = Runtime.open(Settings(data=data, fast_hashing=True))
    try:
        backend = rt.web_backend()
        app = create_app(backend)
        p = rt.logins.login(USER, PASSWORD, remote="127.0.0.1", protocol=Protocol.WEB, client="b")
        cookie = f"mw_session={backend.sessions.create(p, 'bench')}".encode()
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": "/mail/INBOX", "raw_path": b"/mail/INBOX",
            "query_string": b"", "root_path": "", "client": ("127.0.0.1", 50000),
            "headers": [(b"host", b"127.0.0.1"), (b"cookie", cookie)],
            "server": ("127.0.0.1", 8025),
        }  # fmt: skip

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def page() -> None:
            sent: list[dict[str, Any]] = []

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            await app(dict(scope), receive, send)
            if sent[0]["status"] != 200:
                raise SystemExit(f"the inbox page answered {sent[0]['status']}")

        for _ in range(warm):
            await page()
        before = os.times()
        for _ in range(pages):
            await page()
        after = os.times()
        return (
            (after.user - before.user) * 1e3 / max(pages, 1),
            (after.system - before.system) * 1e3 / max(pages, 1),
        )
    finally:
        rt.close()


def instructions_per_page(data: Path, pages: int = 100) -> float | None:
    """Callgrind's count for `pages` pages less that for none (both after the
    same warm-up), per page. None without valgrind."""
    if shutil.which("valgrind") is None:
        return None
    totals = []
    for n in (0, pages):
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
             __file__, "--data", str(data), "--child", str(n)],
            capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"},
        ).stderr  # fmt: skip
        match = re.search(r"refs:\s+([\d,]+)", out)
        if match is None:
            return None
        totals.append(int(match.group(1).replace(",", "")))
    return (totals[1] - totals[0]) / pages


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--pages", type=int, default=600)
    ap.add_argument("--data", type=Path, help="a data directory to reuse (filled if empty)")
    ap.add_argument("--no-instructions", action="store_true", help="skip the callgrind count")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        asyncio.run(run_pages(args.data, args.child))
        return
    base = None
    if args.data is None:
        base = Path(tempfile.mkdtemp(prefix="mailward-page-cost-"))
        args.data = base / "data"
    try:
        fill(args.data, args.messages)
        user, system = asyncio.run(run_pages(args.data, args.pages))
        print(
            f"inbox page (50 newest) in process: CPU {user + system:.2f} ms a page"
            f" (user {user:.2f}, system {system:.2f}), over {args.pages} pages"
        )
        if not args.no_instructions:
            count = instructions_per_page(args.data)
            if count is not None:
                print(f"instructions per inbox page (callgrind): {count / 1e6:.2f}M")
    finally:
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
