"""IMAP commands: bytes of one complete command in, a frozen `Command` out.

`parse(data)` reads `tag SP command [SP arguments]` (RFC 9051 §9 `command`); each
command's arguments are read by one function in `_ARGS`. Mailbox names travel
as modified UTF-7 (RFC 3501 §5.1.3) and come out decoded.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone

from mailward.imap.protocol.errors import ParseError
from mailward.imap.protocol.mutf7 import decode_mailbox
from mailward.imap.protocol.reader import Reader

STAR = 0  # "*" in a sequence set: the largest number in use
SeqSet = tuple[tuple[int, int], ...]
MAX_TAG = 64


@dataclass(frozen=True, slots=True)
class FetchAtt:
    """One fetch attribute. `section` is the text between the brackets of
    BODY[...] (None for other attributes); `partial` is <origin.count>."""

    name: str  # UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY MODSEQ RFC822...
    section: str | None = None
    peek: bool = False
    partial: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class SearchKey:
    """A search key: `name` upper-case; `value` its argument (str, int, date,
    SeqSet, or a header (field, value) pair); `children` for NOT, OR, and lists."""

    name: str
    value: object = None
    children: tuple["SearchKey", ...] = ()


@dataclass(frozen=True, slots=True)
class Fetch:
    seqs: SeqSet
    atts: tuple[FetchAtt, ...]
    changed_since: int | None = None  # RFC 7162 §3.1.4 CHANGEDSINCE


@dataclass(frozen=True, slots=True)
class Store:
    seqs: SeqSet
    mode: str  # "+", "-" or "" (replace)
    silent: bool
    flags: tuple[str, ...]
    unchanged_since: int | None = None  # RFC 7162 §3.1.3


@dataclass(frozen=True, slots=True)
class Search:
    key: SearchKey
    charset: str = ""
    returns: tuple[str, ...] | None = None  # RFC 4731 ESEARCH RETURN (...), None: plain


@dataclass(frozen=True, slots=True)
class CopyTo:
    seqs: SeqSet
    mailbox: str


@dataclass(frozen=True, slots=True)
class Append:
    mailbox: str
    flags: tuple[str, ...]
    date: datetime | None
    message: bytes


@dataclass(frozen=True, slots=True)
class ListArgs:
    reference: str
    pattern: str
    select: tuple[str, ...] = ()  # RFC 5258 selection options
    returns: tuple[str, ...] = ()  # RFC 5258 return options
    more: tuple[str, ...] = ()  # RFC 5258 §3: further patterns of a (p1 p2 ...) list


@dataclass(frozen=True, slots=True)
class StatusArgs:
    mailbox: str
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Select:
    mailbox: str
    condstore: bool = False


Args = (
    None | str | tuple[str, ...] | tuple[str, str] | Fetch | Store | Search | CopyTo | Append
    | ListArgs | StatusArgs | Select | SeqSet | dict[str, str]
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Command:
    tag: str
    name: str  # upper-case; "UID FETCH" etc. for the UID forms
    args: Args = None
    raw_size: int = field(default=0, compare=False)


# -- pieces -------------------------------------------------------------------------


def mailbox(r: Reader) -> str:
    return decode_mailbox(r.astring())


def seq_set(r: Reader) -> SeqSet:
    """RFC 9051 §9 sequence-set; `$` (RFC 5182 saved result) is not supported."""
    ranges = []
    while True:
        first = _seq_number(r)
        last = _seq_number(r) if r.maybe(b":") else first
        ranges.append((first, last))
        if not r.maybe(b","):
            return tuple(ranges)


def _seq_number(r: Reader) -> int:
    return STAR if r.maybe(b"*") else r.nz_number()


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def search_date(r: Reader) -> date:
    """RFC 9051 §9 date: d-MMM-yyyy, optionally quoted."""
    quoted = r.maybe(b'"')
    text = r.atom()
    if quoted:
        r.expect(b'"')
    day, _, rest = text.partition("-")
    month, _, year = rest.partition("-")
    if month.upper() not in _MONTHS or not day.isdigit() or not year.isdigit():
        raise ParseError(f"bad date {text!r}")
    try:
        return date(int(year), _MONTHS.index(month.upper()) + 1, int(day))
    except ValueError:
        raise ParseError(f"bad date {text!r}") from None


def date_time(r: Reader) -> datetime:
    """RFC 9051 §9 date-time: "dd-MMM-yyyy hh:mm:ss +zzzz"."""
    text = r.quoted().decode("ascii", "replace").strip()
    try:
        day_part, clock, zone = text.split(" ")
        d, m, y = day_part.split("-")
        hh, mm, ss = (int(x) for x in clock.split(":"))
        sign = -1 if zone[0] == "-" else 1
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])) * sign
        if zone[0] not in "+-" or len(zone) != 5:
            raise ValueError(zone)
        month = _MONTHS.index(m.upper()) + 1
        return datetime(int(y), month, int(d), hh, mm, ss, tzinfo=timezone(offset))
    except (ValueError, IndexError):
        raise ParseError(f"bad date-time {text!r}") from None


# -- FETCH ----------------------------------------------------------------------------

_SIMPLE_ATTS = frozenset(
    {"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODYSTRUCTURE", "MODSEQ",
     "RFC822", "RFC822.HEADER", "RFC822.TEXT", "BODY"}
)  # fmt: skip
_MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}


def section_spec(r: Reader) -> str:
    """The text between BODY[ and ] (RFC 9051 §9 section-spec), normalised:
    keywords upper-case, header field names as given, single spaces."""
    parts: list[str] = []
    while 48 <= r.peek() <= 57:
        parts.append(str(r.nz_number()))
        if not r.maybe(b"."):
            return ".".join(parts)
    word = r.atom().upper() if r.peek() not in (0x5D,) else ""
    if not word:
        if parts:
            raise ParseError("section ends with '.'")
        return ""
    allowed = ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT") + (
        ("MIME",) if parts else ()
    )
    if word not in allowed:
        raise ParseError(f"unknown section {word!r}")
    text = ".".join([*parts, word])
    if word.startswith("HEADER.FIELDS"):
        r.sp()
        names = r.paren_list(lambda x: x.astring().decode("ascii", "replace"))
        if not names:
            raise ParseError("empty header list")
        text += " (" + " ".join(names) + ")"
    return text


def fetch_att(r: Reader) -> FetchAtt:
    start = r.pos
    word = r.att_name().upper()
    if word in ("BODY", "BODY.PEEK", "BINARY.PEEK", "BINARY") and r.maybe(b"["):
        if word.startswith("BINARY"):
            raise ParseError("BINARY is not supported")
        spec = section_spec(r)
        r.expect(b"]")
        partial = None
        if r.maybe(b"<"):
            origin = r.number()
            r.expect(b".")
            count = r.nz_number()
            r.expect(b">")
            partial = (origin, count)
        return FetchAtt("BODY", spec, word == "BODY.PEEK", partial)
    if word in _SIMPLE_ATTS:
        return FetchAtt(word)
    r.pos = start
    raise ParseError(f"unknown fetch attribute {word!r}")


def fetch_atts(r: Reader) -> tuple[FetchAtt, ...]:
    if r.peek() == 0x28:
        atts = r.paren_list(fetch_att)
        if not atts:
            raise ParseError("empty fetch attribute list")
        return tuple(atts)
    start = r.pos
    word = r.atom().upper()
    if word in _MACROS:
        return tuple(FetchAtt(n) for n in _MACROS[word])
    r.pos = start
    return (fetch_att(r),)


def _fetch(r: Reader) -> Fetch:
    seqs = seq_set(r)
    r.sp()
    atts = fetch_atts(r)
    changed_since = None
    if r.maybe(b" "):  # RFC 7162 §3.1.4: fetch-modifiers
        for mod in r.paren_list(_modifier):
            if mod[0] == "CHANGEDSINCE":
                changed_since = mod[1]
            elif mod[0] != "VANISHED":
                raise ParseError(f"unknown fetch modifier {mod[0]}")
    r.end()
    return Fetch(seqs, atts, changed_since)


def _modifier(r: Reader) -> tuple[str, int]:
    name = r.atom().upper()
    if name == "VANISHED":
        return name, 0
    r.sp()
    return name, r.number()


# -- STORE ------------------------------------------------------------------------------


def _store(r: Reader) -> Store:
    seqs = seq_set(r)
    r.sp()
    unchanged = None
    if r.maybe(b"("):  # RFC 7162 §3.1.3: (UNCHANGEDSINCE n)
        if r.atom().upper() != "UNCHANGEDSINCE":
            raise ParseError("unknown store modifier")
        r.sp()
        unchanged = r.number()
        r.expect(b")")
        r.sp()
    item = r.atom().upper()
    mode = item[0] if item[:1] in ("+", "-") else ""
    base = item[1:] if mode else item
    if base not in ("FLAGS", "FLAGS.SILENT"):
        raise ParseError(f"unknown store item {item!r}")
    r.sp()
    flags = r.flag_list() if r.peek() == 0x28 else _bare_flags(r)
    r.end()
    return Store(seqs, mode, base.endswith(".SILENT"), tuple(flags), unchanged)


def _bare_flags(r: Reader) -> list[str]:
    flags = [r.flag()]
    while r.maybe(b" "):
        flags.append(r.flag())
    return flags


# -- SEARCH -------------------------------------------------------------------------------

_NO_ARG = frozenset(
    {"ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "NEW", "OLD", "RECENT", "SEEN",
     "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN"}
)  # fmt: skip
_STRING_ARG = frozenset({"BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"})
_DATE_ARG = frozenset({"BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"})
_MAX_SEARCH_DEPTH = 50


def search_key(r: Reader, depth: int = 0) -> SearchKey:
    if depth > _MAX_SEARCH_DEPTH:
        raise ParseError("search nested too deeply")
    c = r.peek()
    if c == 0x28:
        keys = r.paren_list(lambda x: search_key(x, depth + 1))
        if not keys:
            raise ParseError("empty search list")
        return SearchKey("AND", children=tuple(keys))
    if c == 0x2A or 48 <= c <= 57:
        return SearchKey("SEQ", seq_set(r))
    name = r.atom().upper()
    if name in _NO_ARG:
        return SearchKey(name)
    r.sp()
    if name in _STRING_ARG:
        return SearchKey(name, r.astring().decode("utf-8", "replace"))
    if name in _DATE_ARG:
        return SearchKey(name, search_date(r))
    if name in ("LARGER", "SMALLER"):
        return SearchKey(name, r.number())
    if name in ("KEYWORD", "UNKEYWORD"):
        return SearchKey(name, r.atom())
    if name == "UID":
        return SearchKey(name, seq_set(r))
    if name == "HEADER":
        field_name = r.astring().decode("utf-8", "replace")
        r.sp()
        return SearchKey(name, (field_name, r.astring().decode("utf-8", "replace")))
    if name == "NOT":
        return SearchKey(name, children=(search_key(r, depth + 1),))
    if name == "OR":
        left = search_key(r, depth + 1)
        r.sp()
        return SearchKey(name, children=(left, search_key(r, depth + 1)))
    if name == "MODSEQ":  # RFC 7162 §3.1.5: [entry-name entry-type] mod-sequence
        if r.peek() == 0x22:
            r.quoted()
            r.sp()
            r.atom()
            r.sp()
        return SearchKey(name, r.number())
    raise ParseError(f"unknown search key {name!r}")


def _search(r: Reader) -> Search:
    returns: tuple[str, ...] | None = None
    charset = ""
    start = r.pos
    if r.peek() not in (0x28, 0x2A) and not 48 <= r.peek() <= 57:
        word = r.atom().upper()
        if word == "RETURN":  # RFC 4731
            r.sp()
            returns = tuple(w.upper() for w in r.paren_list(Reader.atom))
            r.sp()
            start = r.pos
            word = r.atom().upper() if r.peek() not in (0x28, 0x2A) else ""
        if word == "CHARSET":
            r.sp()
            charset = r.astring().decode("ascii", "replace").upper()
            r.sp()
        else:
            r.pos = start
    keys = [search_key(r)]
    while r.maybe(b" "):
        keys.append(search_key(r))
    r.end()
    key = keys[0] if len(keys) == 1 else SearchKey("AND", children=tuple(keys))
    return Search(key, charset, returns)


# -- the rest -------------------------------------------------------------------------------


def _no_args(r: Reader) -> None:
    r.end()


def _one_mailbox(r: Reader) -> str:
    name = mailbox(r)
    r.end()
    return name


def _select(r: Reader) -> Select:
    name = mailbox(r)
    condstore = False
    if r.maybe(b" "):  # RFC 7162 §3.1.8 (CONDSTORE); RFC 4466 select-params
        for param in r.paren_list(Reader.atom):
            if param.upper() == "CONDSTORE":
                condstore = True
            else:
                raise ParseError(f"unknown select parameter {param!r}")
    r.end()
    return Select(name, condstore)


def _two_mailboxes(r: Reader) -> tuple[str, str]:
    first = mailbox(r)
    r.sp()
    second = mailbox(r)
    r.end()
    return first, second


def _login(r: Reader) -> tuple[str, str]:
    user = r.astring().decode("utf-8", "replace")
    r.sp()
    password = r.astring().decode("utf-8", "replace")
    r.end()
    return user, password


def _authenticate(r: Reader) -> tuple[str, ...]:
    mechanism = r.atom().upper()
    if r.maybe(b" "):  # RFC 4959 SASL-IR: the initial response (base64, or "=")
        initial = r.atom()
        r.end()
        return (mechanism, initial)
    r.end()
    return (mechanism,)


def _list(r: Reader) -> ListArgs:
    select: tuple[str, ...] = ()
    if r.peek() == 0x28:  # RFC 5258 list-select-opts
        select = tuple(w.upper() for w in r.paren_list(Reader.atom))
        r.sp()
    reference = decode_mailbox(r.astring()) if r.peek() != 0x22 else decode_mailbox(r.quoted())
    r.sp()
    if r.peek() == 0x28:
        patterns = r.paren_list(lambda x: decode_mailbox(x.list_mailbox()))
        if not patterns:
            raise ParseError("empty list of mailbox patterns")
        pattern, more = patterns[0], tuple(patterns[1:])
    else:
        pattern, more = decode_mailbox(r.list_mailbox()), ()
    returns: tuple[str, ...] = ()
    if r.maybe(b" "):
        if r.atom().upper() != "RETURN":
            raise ParseError("expected RETURN")
        r.sp()
        returns = tuple(_return_options(r))
    r.end()
    return ListArgs(reference, pattern, more=more, select=select, returns=returns)


def _return_options(r: Reader) -> list[str]:
    def one(x: Reader) -> str:
        word = x.atom().upper()
        if word == "STATUS" and x.maybe(b" "):  # RFC 5819 LIST-STATUS
            items = x.paren_list(Reader.atom)
            return "STATUS " + " ".join(i.upper() for i in items)
        return word

    return r.paren_list(one)


def _status(r: Reader) -> StatusArgs:
    name = mailbox(r)
    r.sp()
    items = tuple(i.upper() for i in r.paren_list(Reader.atom))
    r.end()
    return StatusArgs(name, items)


def _append(r: Reader) -> Append:
    name = mailbox(r)
    r.sp()
    flags: tuple[str, ...] = ()
    when = None
    if r.peek() == 0x28:
        flags = tuple(r.flag_list())
        r.sp()
    if r.peek() == 0x22:
        when = date_time(r)
        r.sp()
    if r.peek() != 0x7B:
        raise ParseError("APPEND needs the message as a literal")
    message = r.literal()
    r.end()
    return Append(name, flags, when, message)


def _copy(r: Reader) -> CopyTo:
    seqs = seq_set(r)
    r.sp()
    name = mailbox(r)
    r.end()
    return CopyTo(seqs, name)


def _seqs_only(r: Reader) -> SeqSet:
    seqs = seq_set(r)
    r.end()
    return seqs


def _atoms(r: Reader) -> tuple[str, ...]:
    words = [r.atom().upper()]
    while r.maybe(b" "):
        words.append(r.atom().upper())
    r.end()
    return tuple(words)


def _id(r: Reader) -> dict[str, str]:
    """RFC 2971: NIL or a list of field/value pairs."""
    if r.data.startswith(b"NIL", r.pos) or r.data.startswith(b"nil", r.pos):
        r.pos += 3
        r.end()
        return {}
    items = r.paren_list(_nstring)
    r.end()
    if len(items) % 2 or len(items) > 60:
        raise ParseError("ID takes up to 30 field/value pairs")
    fields = {}
    for k in range(0, len(items), 2):
        fields[(items[k] or "")[:30].lower()] = (items[k + 1] or "")[:1024]
    return fields


def _nstring(r: Reader) -> str | None:
    if r.data[r.pos : r.pos + 3].upper() == b"NIL":
        r.pos += 3
        return None
    return r.string().decode("utf-8", "replace")


_ARGS = {
    "CAPABILITY": _no_args,
    "NOOP": _no_args,
    "LOGOUT": _no_args,
    "STARTTLS": _no_args,
    "CHECK": _no_args,
    "CLOSE": _no_args,
    "UNSELECT": _no_args,
    "EXPUNGE": _no_args,
    "IDLE": _no_args,
    "NAMESPACE": _no_args,
    "LOGIN": _login,
    "AUTHENTICATE": _authenticate,
    "SELECT": _select,
    "EXAMINE": _select,
    "CREATE": _one_mailbox,
    "DELETE": _one_mailbox,
    "SUBSCRIBE": _one_mailbox,
    "UNSUBSCRIBE": _one_mailbox,
    "RENAME": _two_mailboxes,
    "LIST": _list,
    "LSUB": _list,
    "STATUS": _status,
    "APPEND": _append,
    "ENABLE": _atoms,
    "ID": _id,
    "FETCH": _fetch,
    "STORE": _store,
    "SEARCH": _search,
    "COPY": _copy,
    "MOVE": _copy,
    "UID FETCH": _fetch,
    "UID STORE": _store,
    "UID SEARCH": _search,
    "UID COPY": _copy,
    "UID MOVE": _copy,
    "UID EXPUNGE": _seqs_only,
}
NO_ARGUMENTS = frozenset(n for n, f in _ARGS.items() if f is _no_args)
COMMANDS = frozenset(_ARGS)


def read_tag(data: bytes) -> str | None:
    """The tag of a line, if it has a valid one (for a BAD answer to a bad line)."""
    r = Reader(data)
    try:
        tag = r._run(frozenset(b' +(){%*"\\\r\n') | frozenset(range(32)))
    except ParseError:
        return None
    return tag.decode("ascii") if tag and tag.isascii() and len(tag) <= MAX_TAG else None


def parse(data: bytes) -> Command:
    """Parse one complete command (its trailing CRLF removed, literals inline).

    Raises:
        ParseError: a missing or bad tag, an unknown command, or arguments that
            do not follow its grammar. The message says which.
    """
    tag = read_tag(data)
    if tag is None:
        raise ParseError("missing or bad tag")
    r = Reader(data, len(tag))
    r.sp()
    name = r.atom().upper()
    if name == "UID":
        r.sp()
        name = "UID " + r.atom().upper()
    read = _ARGS.get(name)
    if read is None:
        raise ParseError(f"unknown command {name[:30]!r}")
    if read is _no_args:
        r.end()
        return Command(tag, name, None, len(data))
    r.sp()
    return Command(tag, name, read(r), len(data))


def resolve(seqs: SeqSet, largest: int) -> list[tuple[int, int]]:
    """Ranges with `*` replaced by `largest`, each low to high (RFC 9051 §9: 3:1
    is 1:3)."""
    out = []
    for a, b in seqs:
        lo = largest if a == STAR else a
        hi = largest if b == STAR else b
        out.append((min(lo, hi), max(lo, hi)))
    return out


def utc_date(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)
