"""The report as files: report.json (the shape DESIGN.md promises), report.csv (one
row per exposed item and part) and report.html (one self-contained page, charts as
inline SVG, readable printed)."""

import csv
import functools
import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mailward.incident.report import Exposure, Report

HTML_ACCOUNTS = 500  # accounts detailed in the HTML page; the JSON and CSV hold all


@functools.lru_cache(maxsize=65536)
def iso(us: int) -> str:
    """UTC, ISO 8601, microseconds (cached: a listing's items share their time)."""
    return datetime.fromtimestamp(us / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def as_json(report: Report) -> dict[str, Any]:
    accounts = []
    for a in sorted(report.accounts.values(), key=lambda a: a.address):
        accounts.append(
            {
                "account": a.address,
                "category": a.category,
                "exposures": [
                    {
                        "message_id": e.message_id or None,
                        "mailbox": e.mailbox,
                        "parts": sorted(e.parts),
                        "actor": e.actor,
                        "session": e.session,
                        "protocol": e.protocol,
                        "remote": e.remote,
                        "at": iso(e.at_us),
                        "unread_at_exposure": e.unread_at_exposure,
                        "attachments": {
                            str(n): name
                            for n, name in report.attachment_names.get(
                                (a.account_id, e.message_id), {}
                            ).items()
                            if f"attachment:{n}" in e.parts
                        },
                        "accesses": e.accesses,
                        "delegated": e.delegated,
                    }
                    for e in sorted(a.exposures.values(), key=lambda e: (e.at_us, e.message_id))
                ],
                "changes": [
                    {
                        "message_id": c.message_id,
                        "mailbox": c.mailbox,
                        "action": c.action,
                        "actor": c.actor,
                        "protocol": c.protocol,
                        "at": iso(c.at_us),
                        "restorable": c.restorable,
                    }
                    for c in a.changes
                ],
            }
        )
    return {
        "incident": report.incident,
        "window": {"since": iso(report.since_us), "until": iso(report.until_us)},
        "chain_verified": report.chain_verified,
        "chain_problem": report.chain_problem or None,
        "records_in_window": report.records_in_window,
        "totals": report.totals(),
        "by_actor": report.by_actor(),
        "timeline": [
            {"minute": iso(m), "exposed_items": n, "affected_accounts": acc}
            for m, n, acc in report.timeline()
        ],
        "accounts": accounts,
        "refused": [
            {
                "account": r.owner,
                "actor": r.actor,
                "protocol": r.protocol,
                "remote": r.remote,
                "at": iso(r.at_us),
                "part": r.part,
                "action": r.action,
                "message_ids": list(r.items),
                "detail": r.detail,
            }
            for r in report.refused
        ],
    }


CSV_FIELDS = ("account", "message_id", "mailbox", "part", "attachment_name", "actor",
              "session", "protocol", "remote", "at", "unread_at_exposure", "delegated")  # fmt: skip


def write_csv(report: Report, path: Path) -> int:
    """One row per exposed item and part; returns the row count."""
    rows = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(CSV_FIELDS)
        for a in sorted(report.accounts.values(), key=lambda a: a.address):
            for e in sorted(a.exposures.values(), key=lambda e: (e.at_us, e.message_id)):
                for part in sorted(e.parts):
                    unread = "" if e.unread_at_exposure is None else str(e.unread_at_exposure)
                    label = report.attachment_label(a.account_id, e.message_id, part)
                    name = label[len(part) + 2 : -1] if label != part else ""
                    row = (a.address, e.message_id, e.mailbox, part, name, e.actor, e.session,
                           e.protocol, e.remote, iso(e.at_us), unread, e.delegated)  # fmt: skip
                    w.writerow(row)
                    rows += 1
    return rows


def _bars_svg(points: list[tuple[int, int, int]]) -> str:
    """Exposed items per minute (bars) and affected accounts so far (line)."""
    if not points:
        return "<p>No exposures in this window.</p>"
    width, height, pad = 720, 220, 40
    most = max(n for _, n, _ in points) or 1
    accounts = max(a for _, _, a in points) or 1
    step = (width - 2 * pad) / len(points)
    bars, line = [], []
    for i, (_, n, acc) in enumerate(points):
        h = (height - 2 * pad) * n / most
        x = pad + i * step
        bars.append(
            f'<rect x="{x:.1f}" y="{height - pad - h:.1f}" width="{max(step - 1, 1):.1f}"'
            f' height="{h:.1f}" fill="#c0392b"/>'
        )
        y = height - pad - (height - 2 * pad) * acc / accounts
        line.append(f"{x + step / 2:.1f},{y:.1f}")
    first, last = iso(points[0][0])[:16], iso(points[-1][0])[:16]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img"'
        f' aria-label="Exposures per minute and affected accounts over time">'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}"'
        f' stroke="#333"/>{"".join(bars)}'
        f'<polyline points="{" ".join(line)}" fill="none" stroke="#1f4e79" stroke-width="2"/>'
        f'<text x="{pad}" y="{height - 10}" font-size="11">{first}</text>'
        f'<text x="{width - pad}" y="{height - 10}" font-size="11" text-anchor="end">{last}</text>'
        f'<text x="{pad}" y="{pad - 10}" font-size="11" fill="#c0392b">bars: items exposed per'
        f" minute (max {most})</text>"
        f'<text x="{width - pad}" y="{pad - 10}" font-size="11" fill="#1f4e79"'
        f' text-anchor="end">line: affected accounts so far ({accounts})</text></svg>'
    )


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;width:100%;margin:.5em 0}
td,th{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.ok{color:#1e7b34;font-weight:bold}.bad{color:#b00;font-weight:bold}
.account{page-break-inside:avoid}svg{width:100%;height:auto}
@media print{body{margin:0;max-width:none}h2{page-break-after:avoid}}
"""


def write_html(report: Report, path: Path) -> None:
    e = html.escape
    t = report.totals()
    chain = (
        '<p class="ok">Audit chain verified over the window.</p>'
        if report.chain_verified
        else f'<p class="bad">AUDIT CHAIN BROKEN: {e(report.chain_problem)}. The figures'
        " below are what the log holds; records may be missing or altered.</p>"
    )
    totals = "".join(f"<tr><th>{e(k)}</th><td>{v:,}</td></tr>" for k, v in t.items())
    actors = "".join(
        f"<tr><td>{e(name)}</td><td>{v['accounts']:,}</td><td>{v['items']:,}</td></tr>"
        for name, v in sorted(report.by_actor().items(), key=lambda kv: -kv[1]["items"])
    )
    parts = []
    shown = sorted(report.accounts.values(), key=lambda a: a.address)[:HTML_ACCOUNTS]
    for a in shown:

        def labels(x: Exposure, owner: str = a.account_id) -> str:
            return ", ".join(
                report.attachment_label(owner, x.message_id, p) for p in sorted(x.parts)
            )

        rows = "".join(
            f"<tr><td>{e(x.message_id or '(account data)')}</td><td>{e(x.mailbox)}</td>"
            f"<td>{e(labels(x))}</td><td>{e(x.actor)}</td>"
            f"<td>{e(x.protocol)} {e(x.remote)}</td><td>{iso(x.at_us)[:19]}</td>"
            f"<td>{_yes_no(x.unread_at_exposure)}</td></tr>"
            for x in sorted(a.exposures.values(), key=lambda x: x.at_us)
        )
        changes = "".join(
            f"<tr><td>{e(c.message_id)}</td><td>{e(c.action)}</td><td>{e(c.actor)}</td>"
            f"<td>{iso(c.at_us)[:19]}</td><td>{'yes' if c.restorable else 'no'}</td></tr>"
            for c in a.changes
        )
        parts.append(
            f'<section class="account"><h3>{e(a.address)} — {e(a.category)}</h3>'
            + (
                "<table><tr><th>item</th><th>folder</th><th>parts</th><th>by</th><th>how</th>"
                f"<th>first (UTC)</th><th>unread then</th></tr>{rows}</table>"
                if rows
                else ""
            )
            + (
                "<table><tr><th>item</th><th>change</th><th>by</th><th>when (UTC)</th>"
                f"<th>restorable</th></tr>{changes}</table>"
                if changes
                else ""
            )
            + "</section>"
        )
    more = len(report.accounts) - len(shown)
    refused = "".join(
        f"<tr><td>{e(r.owner)}</td><td>{e(r.actor)}</td><td>{e(r.protocol)} {e(r.remote)}</td>"
        f"<td>{e(r.action)} {e(r.part)}</td><td>{len(r.items)}</td><td>{iso(r.at_us)[:19]}</td>"
        f"<td>{e(r.detail)}</td></tr>"
        for r in report.refused[:2000]
    )
    title = f"Exposure report{f' — incident {report.incident}' if report.incident else ''}"
    page = (
        f'<!doctype html><html lang="en"><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{_CSS}</style><h1>{e(title)}</h1>"
        f"<p>Window: {iso(report.since_us)} to {iso(report.until_us)} (UTC);"
        f" {report.records_in_window:,} audit records.</p>{chain}"
        f"<h2>Totals</h2><table>{totals}</table>"
        f"<h2>Timeline</h2>{_bars_svg(report.timeline())}"
        f"<h2>By actor</h2><table><tr><th>actor</th><th>accounts</th><th>items</th></tr>"
        f"{actors}</table>"
        f"<h2>Affected accounts</h2>{''.join(parts) or '<p>None.</p>'}"
        + (f"<p>{more:,} more accounts: see report.json and report.csv.</p>" if more > 0 else "")
        + "<h2>Refused attempts (nothing was shown)</h2>"
        + (
            "<table><tr><th>account</th><th>by</th><th>how</th><th>what</th><th>items</th>"
            f"<th>when (UTC)</th><th>detail</th></tr>{refused}</table>"
            if refused
            else "<p>None.</p>"
        )
        + "</html>"
    )
    path.write_text(page, encoding="utf-8")


def write_json(report: Report, path: Path) -> None:
    # Compact: json's C encoder runs only without indentation (5x faster here).
    path.write_text(json.dumps(as_json(report), separators=(",", ":")), encoding="utf-8")
