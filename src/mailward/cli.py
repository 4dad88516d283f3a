"""The `mailward` command: parses arguments and calls the runtime. Nothing else."""

import argparse
import asyncio
import contextlib
import dataclasses
import getpass
import json
import signal
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from mailward import demo
from mailward.access import Unopenable
from mailward.config import listen_address, load_settings
from mailward.core.errors import InvalidInput, MailwardError, NotFound
from mailward.core.faults import FAULT_FLAGS, FAULTS
from mailward.core.flags import Flags
from mailward.core.principal import Protocol
from mailward.drill import run_drill
from mailward.incident import write_csv, write_html, write_json
from mailward.runtime import Runtime
from mailward.serve import serve, serve_workers

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _runtime(args: argparse.Namespace) -> Runtime:
    flags = {"data": args.data}
    for name in ("web", "smtp", "submission", "imap", "pop3"):
        flags[name] = getattr(args, name, None)
    if getattr(args, "no_guard", False):
        flags["guard"] = False
    if getattr(args, "inject_fault", None):
        flags["inject_fault"] = ",".join(args.inject_fault)
    bar: Progress | None = None

    def upgrading(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = Progress(console=err, transient=True)
            bar.add_task("sealing stored list fields as one value", total=total)
            bar.start()
        bar.update(bar.task_ids[0], completed=done, total=total)

    try:
        return Runtime.open(load_settings(flags), upgrading)
    finally:
        if bar is not None:
            bar.stop()


def _read_password(args: argparse.Namespace) -> str:
    if getattr(args, "password_stdin", False):
        return sys.stdin.readline().rstrip("\r\n")
    return getpass.getpass("Password: ")


def _progress(label: str) -> tuple[Progress, Callable[[int, int], None]]:
    bar = Progress(console=err, transient=True)
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update


# -- commands ----------------------------------------------------------------------------


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def cmd_serve(args: argparse.Namespace) -> int:
    # Until the event loop takes the signals over, SIGTERM stops like Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    rt = _runtime(args)
    try:
        for fault in rt.settings.inject_fault:
            err.print(
                f"[bold red]WARNING: fault {fault!r} is injected: a deliberately faulty feature"
                f" is live for accounts in the {FAULT_FLAGS[fault]!r} flag's rollout. Drills"
                " only.[/]"
            )
        if not rt.settings.guard:
            err.print(
                "[bold red]WARNING: the response guard is OFF (--no-guard): responses carrying"
                " another account's data are sent (and recorded). Drills only.[/]"
            )
        if args.demo:
            users = demo.seed(rt)
            if not rt.settings.admins:
                rt.settings = dataclasses.replace(rt.settings, admins=(demo.ADMIN,))
            table = Table(title=f"Demo accounts (data in {rt.settings.data})")
            table.add_column("address")
            table.add_column("password")
            for address, password in users.items():
                table.add_row(address, password)
            out.print(table)
        operators = ", ".join(rt.settings.admins) or "an address in MAILWARD_ADMINS"
        # The addresses as configured; a port of 0 (chosen at start) or "off" is
        # left to the "listening" lines.
        web, smtp = listen_address(rt.settings.web), listen_address(rt.settings.smtp)
        web_hint = f"Web mail: http://{web[0]}:{web[1]}/\n" if web and web[1] else ""
        mx_hint = (
            f"Try:  swaks --server {smtp[0]}:{smtp[1]} --to alice@example.test   (MX)\n"
            if smtp and smtp[1]
            else ""
        )
        out.print(
            web_hint
            + mx_hint
            + f"      IMAP {rt.settings.imap} and POP3 {rt.settings.pop3}: STARTTLS/STLS,"
            " then the demo address and password"
            + (" (plain login allowed on loopback)" if rt.settings.plaintext_login else "")
            + "\n"
            f"      echo alice-demo-pass | mailward --data {rt.settings.data} mail "
            "--user alice@example.test --password-stdin list\n"
            f"Containment (kill switch, flags, guard events): /admin as {operators}\n"
            "Ctrl-C stops."
        )

        def announce(line: str) -> None:
            out.print(line, markup=False)

        if args.workers > 1:
            rt.tls_context()  # made once here, not raced for by the workers
            rt.close()  # the schema exists now; each worker opens its own runtime
            code = serve_workers(rt.settings, args.workers, announce)
            out.print("stopped")
            return code
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(rt, announce))
        out.print("stopped")
        return 0
    finally:
        rt.close()


def cmd_queue_list(args: argparse.Namespace) -> int:
    rt = _runtime(args)
    try:
        entries = rt.relaying(Protocol.CLI).entries()
        out.print(f"outbound queue: {len(entries)} entries", markup=False)
        for q in entries:
            if isinstance(q, Unopenable):
                out.print(f"{q.id}  of {q.owner}: cannot be opened ({q.reason})", markup=False)
                continue
            out.print(
                f"{q.id}  from {q.mail_from}  queued {_when(q.created_us)}  {q.size} bytes"
                f"  attempts {q.attempts}  next {_when(q.next_attempt_us)}",
                markup=False,
            )
            for r in q.recipients:
                out.print(f"    {r.address}  {r.status.value}  {r.detail}".rstrip(), markup=False)
        return 0
    finally:
        rt.close()


def cmd_queue_flush(args: argparse.Namespace) -> int:
    rt = _runtime(args)
    try:
        count = rt.relaying(Protocol.CLI).flush(time.time_ns() // 1000)
        relay = rt.relay()
        with _progress("relaying")[0]:
            attempted = relay.run_once()
        out.print(f"{count} entries made due; {attempted} attempted now")
        return 0
    finally:
        rt.close()


def cmd_queue_delete(args: argparse.Namespace) -> int:
    rt = _runtime(args)
    try:
        door = rt.relaying(Protocol.CLI)
        for q in door.entries():
            if q.id == args.id:
                door.delete(q.owner, q.id)
                out.print(f"deleted {q.id}")
                return 0
        raise NotFound(f"no queue entry {args.id}")
    finally:
        rt.close()


def _when(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def cmd_domain_add(args: argparse.Namespace) -> int:
    rt = _runtime(args)
    try:
        d = rt.directory.add_domain(args.name)
        out.print(f"domain {d.name} added")
        return 0
    finally:
        rt.close()


def cmd_domain_list(args: argparse.Namespace) -> int:
    rt = _runtime(args)
    try:
        for d in rt.directory.domains():
            out.print(d.name)
        return 0
    finally:
        rt.close()


def cmd_user_add(args: argparse.Namespace) -> int:
    password = _read_password(args)
    rt = _runtime(args)
    try:
        a = rt.directory.add_user(args.address, password)
        out.print(f"user {a.address} added")
        return 0
    finally:
        rt.close()


def cmd_user_list(args: argparse.Namespace) -> int:
    rt = _runtime(args)
    try:
        table = Table()
        for col in ("address", "created", "disabled"):
            table.add_column(col)
        for a in rt.directory.users():
            table.add_row(
                a.address, a.created_at.isoformat(timespec="seconds"), "yes" if a.disabled else ""
            )
        out.print(table)
        return 0
    finally:
        rt.close()


def cmd_user_notice_address(args: argparse.Namespace) -> int:
    if bool(args.clear) == bool(args.external):
        raise InvalidInput("give an outside address, or --clear")
    rt = _runtime(args)
    try:
        rt.directory.set_notice_address(args.address, None if args.clear else args.external)
        where = "no outside address" if args.clear else args.external
        out.print(f"incident notices for {args.address}: its INBOX and {where}")
        return 0
    finally:
        rt.close()


def cmd_deliver(args: argparse.Namespace) -> int:
    raw = sys.stdin.buffer.read()
    rt = _runtime(args)
    try:
        for address, item in rt.system().deliver(args.recipients, raw).items():
            out.print(f"delivered to {address} as {item}")
        return 0
    finally:
        rt.close()


def cmd_mail(args: argparse.Namespace) -> int:
    password = _read_password(args)
    rt = _runtime(args)
    try:
        principal = rt.logins.login(
            args.user, password, protocol=Protocol.CLI, client="mailward-cli"
        )
        door = rt.access(principal)
        action = args.action
        if action == "list":
            page = door.list_messages(args.target or "INBOX", limit=args.limit)
            table = Table()
            table.add_column("id", no_wrap=True, min_width=38)  # whole: `read` needs it
            for col in ("date", "from", "subject", "flags"):
                table.add_column(col)
            for m in page.items:
                table.add_row(
                    m.id,
                    m.internal_date.isoformat(timespec="seconds"),
                    m.sender,
                    m.subject,
                    m.flags.text(),
                )
            out.print(table)
        elif action == "folders":
            for box in door.mailboxes():
                out.print(f"{box.name}\t{box.total} messages\t{box.unread} unread")
        elif action == "read":
            view = door.get_message(_need(args.target, "message id"))
            for name, value in view.headers:
                out.print(f"{name}: {value}", markup=False)
            out.print()
            out.print(view.text, markup=False)
            for a in view.attachments:
                out.print(
                    f"[attachment {a.index}] {a.filename} {a.content_type} {a.size} bytes",
                    markup=False,
                )
        elif action == "flag":
            add = [f for f in args.flags if not f.startswith("-")]
            remove = [f[1:] for f in args.flags if f.startswith("-")]
            door.set_flags(
                [_need(args.target, "message id")],
                Flags.of(*(f.lstrip("+") for f in add)),
                Flags.of(*remove),
            )
        elif action == "move":
            door.move([_need(args.target, "message id")], _need(args.dest, "--to MAILBOX"))
        elif action == "delete":
            door.delete([_need(args.target, "message id")])
        elif action == "expunge":
            door.expunge([_need(args.target, "message id")])
        elif action == "restore":
            m = door.restore(_need(args.target, "message id"))
            out.print(f"restored to {m.mailbox}")
        return 0
    finally:
        rt.close()


def _need(value: str | None, what: str) -> str:
    if not value:
        raise MailwardError(f"missing {what}")
    return value


def cmd_audit_verify(args: argparse.Namespace) -> int:
    rt = _runtime(args)
    try:
        bar, update = _progress("verifying audit chain")
        with bar:
            result = rt.verify_audit(update)
        if result.ok:
            out.print(f"audit chain intact: {result.records} records, head at {result.head_seq}")
            return 0
        assert result.problem is not None
        err.print(
            f"AUDIT CHAIN BROKEN ({result.problem.kind}) at record {result.problem.seq}: "
            f"{result.problem.message}",
            markup=False,
        )
        return 2
    finally:
        rt.close()


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    rt = _runtime(args)
    try:
        bar, update = _progress("re-wrapping account keys")
        with bar:
            new = rt.keyring.rotate(update)
        out.print(f"master key rotated; new key id {new.kid}; messages were not re-encrypted")
        return 0
    finally:
        rt.close()


def cmd_purge(args: argparse.Namespace) -> int:
    rt = _runtime(args)
    try:
        out.print(f"{rt.purge_expired()} expired tombstones purged")
        return 0
    finally:
        rt.close()


def _operator() -> str:
    return f"cli:{getpass.getuser()}"


def cmd_killswitch(args: argparse.Namespace) -> int:
    rt = _runtime(args)
    try:
        sw = rt.switches
        if args.sub == "engage":
            for scope in sw.scopes(args.scope):
                sw.engage(scope, _operator(), args.reason)
                out.print(f"kill switch engaged: {scope}")
        elif args.sub == "release":
            for scope in sw.scopes(args.scope):
                released = sw.release(scope)
                out.print(f"{'released' if released else 'was not engaged'}: {scope}")
        table = Table(title="kill switch")
        for col in ("scope", "since", "by", "why"):
            table.add_column(col)
        for scope, e in sorted(sw.killswitch().items()):
            since = _when(int(float(e.get("at", 0)) * 1e6))
            table.add_row(scope, since, str(e.get("by", "")), str(e.get("reason", "")))
        out.print(table if sw.killswitch() else "kill switch: nothing engaged")
        return 0
    finally:
        rt.close()


def cmd_flags(args: argparse.Namespace) -> int:
    rt = _runtime(args)
    try:
        sw = rt.switches
        if args.sub == "set":
            f = sw.set_flag(args.name, args.percent, _operator(), args.reason, args.soak)
            out.print(f"{f.name}: {f.percent:g} %")
        elif args.sub == "rollout":
            f = sw.rollout(args.name, _operator())
            out.print(f"{f.name}: promoted to {f.percent:g} %")
        table = Table(title="feature flags")
        for col in ("flag", "rollout", "since", "soak", "last change"):
            table.add_column(col)
        for f in sw.flags():
            last = f.history[-1] if f.history else {}
            change = f"{last.get('by', '')}: {last.get('why', '')}" if last else "default"
            since = _when(int(f.since * 1e6)) if f.since else ""
            table.add_row(f.name, f"{f.percent:g} %", since, f"{f.soak_s:g} s", change)
        out.print(table)
        return 0
    finally:
        rt.close()


def cmd_drill(args: argparse.Namespace) -> int:
    results = []
    for fault in FAULTS if args.fault == "all" else [args.fault]:
        with err.status(f"drill {fault}") as status:

            def step(text: str, status: Any = status, fault: str = fault) -> None:
                status.update(f"drill {fault}: {text}")

            r = run_drill(
                fault, guard=not args.no_guard, users=args.users, seconds=args.seconds, step=step
            )
        results.append(r)
    if args.json:
        docs = [json.loads(r.as_json()) for r in results]
        out.print_json(data=docs[0] if len(docs) == 1 else docs)
        return 0
    table = Table(title="drills" + (" (guard OFF)" if args.no_guard else ""))
    for col in (
        "fault", "requests", "crossings attempted", "leaked items", "leaked bytes",
        "detect ms", "contain ms", "after containment", "flag at end", "report P/R",
    ):  # fmt: skip
        table.add_column(col, justify="left" if col == "fault" else "right")

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    for r in results:
        pr = "-" if r.report_precision is None else f"{r.report_precision}/{r.report_recall}"
        table.add_row(
            r.fault, str(r.requests), str(r.crossings_attempted), str(r.leaked_items),
            f"{r.leaked_bytes:,}", ms(r.detect_ms), ms(r.contain_ms),
            str(r.crossings_after_containment), f"{r.flag} {r.flag_final_percent:g} %", pr,
        )  # fmt: skip
    Console(highlight=False, width=max(out.width, 140)).print(table)
    return 0


def _time_us(text: str) -> int:
    """ISO 8601 (UTC unless it says otherwise), or `now`."""
    if text == "now":
        return time.time_ns() // 1000
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"not a time: {text!r} (ISO 8601, e.g. 2026-11-27T14:00Z)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1_000_000)


def cmd_incident_report(args: argparse.Namespace) -> int:
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    unknown = set(formats) - {"html", "json", "csv"}
    if unknown or not formats:
        raise InvalidInput("--format takes html, json and/or csv")
    rt = _runtime(args)
    try:
        if args.incident is not None:
            incident = rt.incidents.get(args.incident)
            since, until = incident.window()
        elif args.since:
            since, until = _time_us(args.since), _time_us(args.until or "now")
            incident = rt.incidents.open(since, until)
        else:
            raise InvalidInput("give --since (and --until), or --incident ID")
        with Progress(console=err, transient=True) as bar:
            tasks: dict[str, Any] = {}

            def progress(step: str, done: int, total: int) -> None:
                if step not in tasks:
                    tasks[step] = bar.add_task(step, total=max(total, 1))
                bar.update(tasks[step], completed=done, total=max(total, 1))

            report = rt.incident_report(since, until, incident, progress)
            rt.name_attachments(report)
            out_dir = Path(args.out)
            out_dir.mkdir(parents=True, exist_ok=True)
            written = []
            if "json" in formats:
                write_json(report, out_dir / "report.json")
                written.append("report.json")
            if "csv" in formats:
                rows = write_csv(report, out_dir / "report.csv")
                written.append(f"report.csv ({rows:,} rows)")
            if "html" in formats:
                write_html(report, out_dir / "report.html")
                written.append("report.html")
        if not report.chain_verified:
            err.print(f"[bold red]AUDIT CHAIN BROKEN in the window: {report.chain_problem}[/]")
        t = report.totals()
        out.print(
            f"incident {report.incident}: {t['affected accounts']:,} affected accounts,"
            f" {t['exposed items']:,} exposed items, {t['refused attempts']:,} refused attempts;"
            f" chain {'verified' if report.chain_verified else 'BROKEN'}"
        )
        out.print(f"wrote {', '.join(written)} to {out_dir}")
        return 0 if report.chain_verified else 2
    finally:
        rt.close()


def cmd_incident_notify(args: argparse.Namespace) -> int:
    rt = _runtime(args)
    try:
        bar, update = _progress("notifying affected accounts")
        with bar:
            sent, before, summary = rt.incident_notify(
                args.incident, Path(args.out or f"incident-{args.incident}"), update
            )
        out.print(f"incident {args.incident}: {sent} notices sent now, {before} sent before")
        out.print(f"regulator summary: {summary}")
        return 0
    finally:
        rt.close()


def cmd_incident_restore(args: argparse.Namespace) -> int:
    rt = _runtime(args)
    try:
        bar, update = _progress("putting back what others changed")
        with bar:
            results = rt.incident_restore(args.incident, update)
        table = Table(title=f"incident {args.incident}: restore")
        for col in ("account", "message", "change undone", "outcome"):
            table.add_column(col)
        for account, item, action, outcome in results:
            table.add_row(account, item, action, outcome)
        out.print(table if results else "nothing (left) to restore")
        failed = [r for r in results if r[3] != "restored"]
        if failed:
            out.print(f"{len(failed)} change(s) could not be put back: see the outcome column")
        return 0
    finally:
        rt.close()


def cmd_incident_list(args: argparse.Namespace) -> int:
    rt = _runtime(args)
    try:
        table = Table(title="incidents")
        for col in ("id", "opened", "window from", "to", "source", "guard trip"):
            table.add_column(col)
        for i in rt.incidents.all():
            until = _when(i.until_us) if i.until_us is not None else "open"
            trip = str(i.trip or "")
            table.add_row(str(i.id), _when(i.opened_us), _when(i.since_us), until, i.source, trip)
        out.print(table)
        return 0
    finally:
        rt.close()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mailward", description="The mailward e-mail service.")
    data_help = "data directory (default ./mailward-data, or MAILWARD_DATA)"
    p.add_argument("--data", help=data_help)
    # `--data` is accepted after the subcommand too (`mailward serve --data DIR`).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", default=argparse.SUPPRESS, help=data_help)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the service", parents=[common])
    s.add_argument("--demo", action="store_true", help="create demo domain, users and mail")
    s.add_argument(
        "--web", help="web UI and API listener HOST:PORT or off (default 127.0.0.1:8025)"
    )
    s.add_argument("--smtp", help="inbound (MX) listener HOST:PORT or off (default 127.0.0.1:2525)")
    s.add_argument("--submission", help="submission listener HOST:PORT or off (default :2587)")
    s.add_argument("--imap", help="IMAP listener HOST:PORT or off (default 127.0.0.1:2143)")
    s.add_argument("--pop3", help="POP3 listener HOST:PORT or off (default 127.0.0.1:2110)")
    s.add_argument(
        "--workers", type=int, default=1, help="worker processes sharing the listeners (default 1)"
    )
    s.add_argument(
        "--no-guard",
        action="store_true",
        help="drills only: let responses carrying another account's data through (recorded)",
    )
    s.add_argument(
        "--inject-fault",
        action="append",
        choices=FAULTS,
        help="drills only: make a faulty feature variant live (repeatable)",
    )
    s.set_defaults(func=cmd_serve)

    queue = sub.add_parser("queue", help="the outbound queue").add_subparsers(
        dest="sub", required=True
    )
    queue.add_parser("list", parents=[common], help="entries and their recipients").set_defaults(
        func=cmd_queue_list
    )
    queue.add_parser("flush", parents=[common], help="attempt every entry now").set_defaults(
        func=cmd_queue_flush
    )
    qd = queue.add_parser("delete", parents=[common], help="drop an entry (no bounce)")
    qd.add_argument("id")
    qd.set_defaults(func=cmd_queue_delete)

    domain = sub.add_parser("domain", help="local domains").add_subparsers(
        dest="sub", required=True
    )
    d = domain.add_parser("add", parents=[common])
    d.add_argument("name")
    d.set_defaults(func=cmd_domain_add)
    domain.add_parser("list", parents=[common]).set_defaults(func=cmd_domain_list)

    user = sub.add_parser("user", help="accounts").add_subparsers(dest="sub", required=True)
    u = user.add_parser("add", parents=[common])
    u.add_argument("address")
    u.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    u.set_defaults(func=cmd_user_add)
    user.add_parser("list", parents=[common]).set_defaults(func=cmd_user_list)
    na = user.add_parser(
        "notice-address", parents=[common], help="an outside address for incident notices"
    )
    na.add_argument("address")
    na.add_argument("external", nargs="?")
    na.add_argument("--clear", action="store_true")
    na.set_defaults(func=cmd_user_notice_address)

    dl = sub.add_parser(
        "deliver", help="deliver a message from stdin (as the system)", parents=[common]
    )
    dl.add_argument("recipients", nargs="+")
    dl.set_defaults(func=cmd_deliver)

    m = sub.add_parser(
        "mail", help="read and change a user's mail (logs in as the user)", parents=[common]
    )
    m.add_argument("--user", required=True)
    m.add_argument("--password-stdin", action="store_true")
    m.add_argument(
        "action",
        choices=["list", "folders", "read", "flag", "move", "delete", "expunge", "restore"],
    )
    m.add_argument("target", nargs="?", help="mailbox (list) or message id")
    m.add_argument("flags", nargs="*", help="for flag: +\\Flagged -\\Seen keyword ...")
    m.add_argument("--to", dest="dest", help="for move: the target mailbox")
    m.add_argument("--limit", type=int, default=50)
    m.set_defaults(func=cmd_mail)

    audit = sub.add_parser("audit", help="the access log").add_subparsers(dest="sub", required=True)
    audit.add_parser(
        "verify", help="check the hash chain and signed head", parents=[common]
    ).set_defaults(func=cmd_audit_verify)

    keys = sub.add_parser("keys", help="encryption keys").add_subparsers(dest="sub", required=True)
    keys.add_parser(
        "rotate", help="new master key; re-wrap account keys", parents=[common]
    ).set_defaults(func=cmd_keys_rotate)

    sub.add_parser("purge", help="drop tombstones past retention", parents=[common]).set_defaults(
        func=cmd_purge
    )

    ks = sub.add_parser("killswitch", help="stop a protocol or feature at once")
    kss = ks.add_subparsers(dest="sub", required=True)
    scopes = (
        "all, web, api, imap, pop3, smtp (smtp-in and submission) or a feature (comma-separated)"
    )
    for name in ("engage", "release"):
        k = kss.add_parser(name, parents=[common])
        k.add_argument("--scope", default="all", help=scopes)
        k.add_argument("--reason", default="engaged by hand")
        k.set_defaults(func=cmd_killswitch)
    kss.add_parser("status", parents=[common]).set_defaults(func=cmd_killswitch)

    inc = sub.add_parser("incident", help="exposure reports").add_subparsers(
        dest="sub", required=True
    )
    ir = inc.add_parser("report", parents=[common], help="who saw or changed whose mail")
    ir.add_argument("--since", help="window start, ISO 8601 (UTC unless stated)")
    ir.add_argument("--until", help="window end (default now)")
    ir.add_argument("--incident", type=int, help="an incident's id (e.g. opened by the guard)")
    ir.add_argument("--format", default="html,json,csv", help="html,json,csv (default all)")
    ir.add_argument("--out", default="incident-report", help="directory for the files")
    ir.set_defaults(func=cmd_incident_report)
    inc.add_parser("list", parents=[common]).set_defaults(func=cmd_incident_list)
    nt = inc.add_parser("notify", parents=[common], help="tell each affected account, once")
    nt.add_argument("--incident", type=int, required=True)
    nt.add_argument("--out", help="where the regulator summary goes (default incident-ID)")
    nt.set_defaults(func=cmd_incident_notify)
    rs = inc.add_parser("restore", parents=[common], help="put back what others changed, once")
    rs.add_argument("--incident", type=int, required=True)
    rs.set_defaults(func=cmd_incident_restore)

    fl = sub.add_parser("flags", help="feature flags and their rollout")
    fls = fl.add_subparsers(dest="sub", required=True)
    fls.add_parser("list", parents=[common]).set_defaults(func=cmd_flags)
    fs = fls.add_parser("set", parents=[common], help="set a flag's rollout percentage")
    fs.add_argument("name")
    fs.add_argument("percent", type=float)
    fs.add_argument("--reason", default="set by hand")
    fs.add_argument("--soak", type=float, default=None, help="seconds a stage must run clean")
    fs.set_defaults(func=cmd_flags)
    dr = sub.add_parser("drill", help="replay a fault class against the real service")
    dr.add_argument("fault", choices=[*FAULTS, "all"])
    dr.add_argument("--no-guard", action="store_true", help="show what would have leaked")
    dr.add_argument("--json", action="store_true", help="one JSON object (a list for 'all')")
    dr.add_argument("--users", type=int, default=6, help="signed-in clients (default 6)")
    dr.add_argument("--seconds", type=float, default=3.0, help="browsing time (default 3)")
    dr.set_defaults(func=cmd_drill)

    fr = fls.add_parser("rollout", parents=[common], help="promote to the next stage")
    fr.add_argument("name")
    fr.set_defaults(func=cmd_flags)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except MailwardError as exc:
        err.print(f"mailward: {exc}", markup=False)
        return 1
