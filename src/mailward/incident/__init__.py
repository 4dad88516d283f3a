"""Exact scope in seconds: the exposure report of a window of the audit log, and
the incidents it opens (notify and restore take their ids).

Layout: `report.py` (what the log says happened), `render.py` (JSON, CSV, HTML),
`incidents.py` (the incidents table).
"""

from mailward.incident.incidents import Incident, Incidents
from mailward.incident.render import as_json, write_csv, write_html, write_json
from mailward.incident.report import Report, build_report

__all__ = [
    "Incident",
    "Incidents",
    "Report",
    "as_json",
    "build_report",
    "write_csv",
    "write_html",
    "write_json",
]
