"""Opening the listening sockets: addresses this machine cannot have are skipped while
another one binds; when none binds, one line says why."""

import socket
from typing import Any

import pytest

from minidiscord.frontend.listening import ListenError, open_listening_sockets

# An IPv6 documentation address: never one of this machine's (and on a machine without
# IPv6 the socket cannot even be made); both make it unusable, not fatal.
FOREIGN_V6 = (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2001:db8::1", 0, 0, 0))
LOOPBACK_V4 = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 0))


def _resolving_to(monkeypatch: pytest.MonkeyPatch, *answers: tuple[Any, ...]) -> None:
    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [(*answer[:4], (answer[4][0], port, *answer[4][2:])) for answer in answers]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_a_name_that_also_resolves_to_an_address_this_machine_lacks_still_listens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As "localhost" does in a container whose hosts file names ::1 but that has no IPv6.
    _resolving_to(monkeypatch, FOREIGN_V6, LOOPBACK_V4)
    sockets = open_listening_sockets("localhost", 0)
    try:
        assert [sock.getsockname()[0] for sock in sockets] == ["127.0.0.1"]
    finally:
        for sock in sockets:
            sock.close()


def test_when_no_address_can_be_had_one_line_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    _resolving_to(monkeypatch, FOREIGN_V6)
    with pytest.raises(ListenError) as raised:
        open_listening_sockets("nowhere.example", 8181)
    message = str(raised.value)
    assert message.startswith("cannot listen on [2001:db8::1]:8181: ")
    assert "\n" not in message


def test_a_taken_port_is_fatal_even_when_other_addresses_remain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        _resolving_to(monkeypatch, LOOPBACK_V4, FOREIGN_V6)
        with pytest.raises(ListenError, match="already in use"):
            open_listening_sockets("localhost", port)
    finally:
        holder.close()
