"""Listening sockets for `mailward serve`, in one process or in several workers.

With workers, each listens on a socket of its own, all bound to one address
with SO_REUSEPORT, and the kernel spreads new connections over them by their
addresses. On one shared socket the first worker to wake accepted everything
waiting (asyncio accepts up to the backlog per wake-up): 50 keep-alive
connections opened together split 49/1, 42/8 or 40/10 between two workers, and
the busier one set everyone's latency.

The parent reserves each address first (`reserve`): it checks that nothing
listens there, then binds a socket that never listens. That socket carries
SO_REUSEPORT but not SO_REUSEADDR, so only the same user's SO_REUSEPORT sockets
(the workers, `own_listener`) can bind beside it: another server, or a second
`serve` started on the same ports, gets "address in use" instead of a share of
the connections. What SO_REUSEPORT costs: connections waiting on a worker that
dies are reset, and a stalled worker keeps receiving its share until it recovers.

Elsewhere than Linux (SO_REUSEPORT does not spread connections there) and where
the option is refused, the workers share the parent's listening socket. The web
listener is not spread by the kernel on Linux either: the parent accepts there
and hands each connection over (handoff.py), since a hash of a few kept-alive
connections can split them as unevenly as 16/34.
"""

import contextlib
import socket
import sys

Address = tuple[str, int]
_REUSE_PORT: int | None = getattr(socket, "SO_REUSEPORT", None)


def bind(
    address: Address | None,
    *,
    reuse_addr: bool = True,
    reuse_port: bool = False,
    listen: bool = True,
) -> socket.socket | None:
    """A TCP socket bound to `address` (None: the listener is off), listening
    unless told otherwise, non-blocking."""
    if address is None:
        return None
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if reuse_addr:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port and _REUSE_PORT is not None:
            sock.setsockopt(socket.SOL_SOCKET, _REUSE_PORT, 1)
        # Accepted connections inherit it: a response written in pieces must not
        # wait for the peer's delayed ACK (40 ms a request on keep-alive connections).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        if listen:
            sock.listen(1024)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def spreads() -> bool:
    """Whether this system spreads connections over SO_REUSEPORT sockets (Linux)."""
    if not sys.platform.startswith("linux") or _REUSE_PORT is None:
        return False
    with socket.socket() as probe:
        try:
            probe.setsockopt(socket.SOL_SOCKET, _REUSE_PORT, 1)
        except OSError:
            return False
    return True


def reserve(address: Address | None, *, spread: bool) -> socket.socket | None:
    """In the parent: the address held for the workers. With `spread`, a socket
    that never listens (the workers listen beside it); without, the one listening
    socket the workers share.

    Raises:
        OSError: something listens on the address already (EADDRINUSE).
    """
    if address is None or not spread:
        return bind(address)
    if address[1] != 0:
        # Nothing may listen there yet: not another server, not another listener
        # of this configuration (it would join the same group), not another serve.
        probe = bind(address)
        assert probe is not None
        probe.close()
    return bind(address, reuse_addr=False, reuse_port=True, listen=False)


def own_listener(
    reserved: Address | socket.socket | None, *, spread: bool
) -> Address | socket.socket | None:
    """In a worker: a listening socket of its own where the parent reserved one
    (anything else, an address or None, is passed through)."""
    if not spread or not isinstance(reserved, socket.socket):
        return reserved
    sock = bind(reserved.getsockname(), reuse_port=True)
    with contextlib.suppress(OSError):
        reserved.close()
    return sock
