"""The POP3 wire grammar, pure: bytes of one command line in, a frozen `Command`
out; replies (status lines, multi-line responses with byte-stuffing) as bytes.

Invariants: nothing here awaits, touches a socket or the door; it imports only
`mailward.core` and the standard library; the parser raises nothing but
`CommandError`, whatever the bytes (tests/pop3/test_pop3_grammar.py fuzzes it).
"""

from mailward.pop3.protocol.grammar import (
    MAX_LINE_BYTES,
    SYNTAX,
    Command,
    CommandError,
    Syntax,
    continuation,
    err,
    message_lines,
    multiline,
    ok,
    parse_command,
    plain_credentials,
    sasl_response,
    stuff,
)

__all__ = [
    "MAX_LINE_BYTES",
    "SYNTAX",
    "Command",
    "CommandError",
    "Syntax",
    "continuation",
    "err",
    "message_lines",
    "multiline",
    "ok",
    "parse_command",
    "plain_credentials",
    "sasl_response",
    "stuff",
]
