"""The `mailward` command: parses arguments and calls the runtime. Nothing else."""

import argparse
import getpass
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from mailward import demo
from mailward.config import load_settings
from mailward.core.errors import MailwardError
from mailward.core.flags import Flags
from mailward.core.principal import Protocol
from mailward.runtime import Runtime

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _runtime(args: argparse.Namespace) -> Runtime:
    return Runtime.open(load_settings({"data": args.data}))


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


def cmd_serve(args: argparse.Namespace) -> int:
    stop = False

    def _stop(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    rt = _runtime(args)
    try:
        if args.demo:
            users = demo.seed(rt)
            table = Table(title=f"Demo accounts (data in {rt.settings.data})")
            table.add_column("address")
            table.add_column("password")
            for address, password in users.items():
                table.add_row(address, password)
            out.print(table)
        out.print(
            "No network front-end is built yet (web, SMTP, IMAP and POP3 come in later "
            "issues). Try:\n"
            f"  echo alice-demo-pass | mailward --data {rt.settings.data} mail "
            "--user alice@example.test --password-stdin list\n"
            f"  mailward --data {rt.settings.data} audit verify\n"
            "Serving maintenance (tombstone expiry); Ctrl-C stops."
        )
        ticks = 0
        while not stop:
            if ticks % 60 == 0:
                rt.purge_expired()
            time.sleep(1)
            ticks += 1
        out.print("stopped")
        return 0
    finally:
        rt.close()


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
    s.set_defaults(func=cmd_serve)

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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except MailwardError as exc:
        err.print(f"mailward: {exc}", markup=False)
        return 1
