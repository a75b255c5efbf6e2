"""The listening sockets, opened before anything else starts, or one line saying why not.

Both front ends serve on sockets opened here, so that a taken port, a host that is not
this machine's or a port that needs privileges is found before the app starts or anything
is logged as listening, and is told the same way on either front end: one line naming the
address and the cause (:class:`ListenError`).
"""

import errno
import socket
from collections.abc import Iterable, Iterator
from typing import Any


class ListenError(Exception):
    """The server cannot listen where its settings say; the message is one line."""


class _Unusable(ListenError):
    """This machine cannot have the address at all (no IPv6, or not one of its addresses):
    skipped when the host resolves to others that bind, as ``localhost`` resolving to ::1
    in a container without IPv6."""


# What makes an address unusable rather than a reason to stop: every other bind failure
# (a taken port, a privileged one) is.
_UNUSABLE = {errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL}


def open_listening_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound, listening, non-blocking TCP sockets for every address ``host`` resolves to."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        cause = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise ListenError(
            f"cannot listen on {host}:{port}: {host!r} is neither an IP address nor a host "
            f"name this machine resolves ({cause})"
        ) from None
    sockets: list[socket.socket] = []
    unusable: list[ListenError] = []
    try:
        for family, address in _distinct(addresses):
            try:
                sockets.append(_listen(family, address, port))
            except _Unusable as exc:
                unusable.append(exc)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    if not sockets:
        raise unusable[0]
    return sockets


def describe(family: int, address: tuple[Any, ...]) -> str:
    """``host:port``, with IPv6 hosts in brackets (as in a URL)."""
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"


def _distinct(
    addresses: Iterable[tuple[int, int, int, str, tuple[Any, ...]]],
) -> Iterator[tuple[int, tuple[Any, ...]]]:
    # A hosts file may name one address twice: binding it twice would fail on ourselves.
    seen: set[tuple[int, tuple[Any, ...]]] = set()
    for family, _, _, _, address in addresses:
        if (family, address) not in seen:
            seen.add((family, address))
            yield family, address


def _listen(family: int, address: tuple[Any, ...], port: int) -> socket.socket:
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise _error(exc, family, address, port) from None
    try:
        # A restarted server must not wait for the old one's connections in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            # "::" means IPv6 only, as it does for hypercorn; "0.0.0.0" is IPv4's.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            raise _error(exc, family, address, port) from None
        # The kernel caps this at its own limit (net.core.somaxconn).
        sock.listen(socket.SOMAXCONN)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _error(exc: OSError, family: int, address: tuple[Any, ...], port: int) -> ListenError:
    kind = _Unusable if exc.errno in _UNUSABLE else ListenError
    return kind(f"cannot listen on {describe(family, address)}: {_cause(exc, port)}")


def _cause(exc: OSError, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "the port is already in use (another program, or another minidiscord, has it)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "that address is not one of this machine's (0.0.0.0 listens on all of them)"
    if exc.errno == errno.EAFNOSUPPORT:
        return "this machine has no IPv6 (or no IPv4)"
    if exc.errno == errno.EACCES and port < 1024:
        return (
            "permission denied (ports below 1024 need root or the CAP_NET_BIND_SERVICE "
            "capability; use a port from 1024 up behind a reverse proxy)"
        )
    return exc.strerror or str(exc)
