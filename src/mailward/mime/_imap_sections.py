"""BODY[section] (RFC 3501 §6.4.5): parsing a section spec, finding its bytes and labels.

`_parse_spec` reads what stands between the brackets, `_resolve` finds the numbered
part in an `_imap_tree` tree, `_numbered` cuts its bytes, and the label helpers name
what those bytes expose for the audit log. What must stay true: labels cover every
attachment a section shows or lies in ("attachment:K" numbered as `attachment` does),
and an inexact tree labels a section with every label the message has. Header
sections end with their empty line. Never raises.
"""

import re
from collections.abc import Iterable

from mailward.mime._imap_lines import _fields
from mailward.mime._imap_tree import _Node, _Tree

_NUMBER = re.compile(r"[1-9][0-9]{0,8}")
_FIELD_NAME = re.compile(r'"((?:[^"\\]|\\.)*)"|([^\s()"]+)')
_TEXTS = frozenset(["", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"])


def _parse_spec(spec: str) -> tuple[tuple[int, ...], str, frozenset[bytes]] | None:
    text, bracket, rest = spec.strip().partition("(")
    names: frozenset[bytes] = frozenset()
    if bracket:
        found = _FIELD_NAME.findall(rest.rstrip().removesuffix(")"))
        names = frozenset(
            (quoted or bare).encode("utf-8", "surrogateescape").lower() for quoted, bare in found
        )
    pieces = text.strip().split(".") if text.strip() else []
    if "" in pieces:
        return None
    numbers: list[int] = []
    while pieces and pieces[0].isdigit():
        if not _NUMBER.fullmatch(pieces[0]):
            return None  # 0, a leading zero, or more parts than any message has
        numbers.append(int(pieces.pop(0)))
    kind = ".".join(pieces).upper()
    if kind not in _TEXTS or (kind == "MIME" and not numbers):
        return None
    if kind.startswith("HEADER.FIELDS") != bool(names):
        return None
    return tuple(numbers), kind, names


def _numbered(
    raw: bytes, tree: _Tree, numbers: tuple[int, ...], text: str, names: frozenset[bytes]
) -> tuple[bytes, tuple[str, ...]]:
    chain = _resolve(tree.root, numbers)
    if chain is None:
        return b"", ()
    node = chain[-1]
    if numbers and text == "":
        data, labels = raw[node.body : node.end], _body_labels(tree, chain)
    elif text == "MIME":
        data = raw[node.start : node.body]
        labels = _header_labels(tree, "headers", chain[:-1], nested=True)
    else:  # HEADER..., TEXT: of the message, or of the one inside a message/rfc822 part
        if numbers:
            if node.kind != "message":
                return b"", ()
            node = node.children[0]
            chain = [*chain, node]
        if text == "TEXT":
            data, labels = raw[node.body : node.end], _body_labels(tree, chain)
        else:
            data = _header_section(raw, node.start, node.head, node.body, text, names)
            label = _header_label(text, names)
            labels = _header_labels(tree, label, chain[:-1], nested=bool(numbers))
    return data, labels if data else ()


def _resolve(root: _Node, numbers: Iterable[int]) -> list[_Node] | None:
    """The nodes from the root down to part `numbers` (RFC 3501 §6.4.5), or None."""
    chain = [root]
    entity: _Node | None = root  # what the next number counts in
    for number in numbers:
        if entity is None:
            return None
        if entity is not chain[-1]:
            chain.append(entity)
        if entity.kind == "multipart":
            if number > len(entity.children):
                return None
            part = entity.children[number - 1]
        elif number == 1:
            part = entity  # a message that is not multipart has a part 1: its body
        else:
            return None
        if part is not chain[-1]:
            chain.append(part)
        if part.kind == "message":
            entity = part.children[0]  # a message/rfc822 part's parts are its message's
        else:
            entity = part if part.kind == "multipart" else None
    return chain


def _body_labels(tree: _Tree, chain: list[_Node]) -> tuple[str, ...]:
    if not tree.exact:
        return tree.every_label()
    # _tree.layout does not descend into message/* parts: all inside is that part.
    for node in chain:
        if node.kind == "message":
            return (tree.label(node),)
    labels: list[str] = []
    stack = [chain[-1]]
    while stack:
        node = stack.pop()
        if node.kind == "multipart":
            stack.extend(reversed(node.children))
        elif (label := tree.label(node)) not in labels:
            labels.append(label)
    return tuple(labels)


def _header_labels(tree: _Tree, label: str, above: list[_Node], *, nested: bool) -> tuple[str, ...]:
    if not tree.exact and nested:
        return (label, *tree.every_label()[1:])
    for node in above:
        if node.kind == "message":
            return (label, tree.label(node))
    return (label,)


def _header_label(text: str, names: frozenset[bytes]) -> str:
    return "subject" if text == "HEADER.FIELDS" and names == {b"subject"} else "headers"


def _header_section(
    raw: bytes, start: int, head: int, body: int, text: str, names: frozenset[bytes]
) -> bytes:
    if text == "HEADER":
        return raw[start:body]
    return _filter_fields(raw, start, head, body, names, text == "HEADER.FIELDS.NOT")


def _filter_fields(
    raw: bytes, start: int, head: int, body: int, names: frozenset[bytes], exclude: bool
) -> bytes:
    out: list[bytes] = []
    for name, _, lines in _fields(raw, start, head):
        if (name in names) != exclude:
            out.append(lines if lines.endswith((b"\n", b"\r")) else lines + b"\r\n")
    out.append(raw[head:body] or b"\r\n")  # RFC 3501 §6.4.5: the empty line is included
    return b"".join(out)
