"""Handler shapes for ``mypy --strict`` (tests/typing/test_handler_types.py): every line
marked ``# wrong: why`` must be an error, and no other line may be. Type-checked only, never
imported: the test runs mypy on this file."""

from collections.abc import Coroutine
from typing import Any

from minidiscord.client import Client, ConnectError
from minidiscord.protocol.socketio import Packet
from minidiscord.sockets import Socket, SocketServer

sio = SocketServer()
ns = sio.of("/chat")
client = Client()
sock: Socket = ...  # type: ignore[assignment]


# Server: the right shapes ---------------------------------------------------------------


@sio.on("connect")
async def connect(socket: Socket, auth: dict[str, Any] | None) -> None: ...


@ns.on("disconnect")
async def disconnect(socket: Socket, reason: str) -> None: ...


@ns.on("disconnecting")
async def disconnecting(socket: Socket, reason: str) -> None: ...


@ns.on("error")
async def error(socket: Socket, error: Exception) -> None: ...


@sio.on("message", namespace="/chat")
async def message(socket: Socket, text: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True}


@sock.on("disconnect")
async def own_disconnect(socket: Socket, reason: str) -> None: ...


async def admit(socket: Socket, auth: dict[str, Any] | None) -> None: ...


async def screen(event: str, args: list[Any]) -> None: ...


def watch(event: str, *args: Any) -> None: ...


sio.use(admit)
sock.use(screen)
sock.on_any(watch)
sock.on_any_outgoing(watch)


@ns.on_server_side("sync")
async def sync(*args: Any) -> int:
    return len(args)


# The decorators hand the handler back with its own type (a Coroutine, not an Awaitable).
message_call: Coroutine[Any, Any, dict[str, Any]] = message(sock, "hi", {})


# Server: the wrong shapes ---------------------------------------------------------------


@sio.on("message")  # wrong: not async
def plain(socket: Socket, text: str) -> None: ...


@ns.on("message")  # wrong: the first parameter is not the socket
async def no_socket(text: str) -> None: ...


@sock.on("message")  # wrong: not async, on a socket
def plain_own(socket: Socket) -> None: ...


@sio.on("connect")  # wrong: no auth parameter
async def connect_without_auth(socket: Socket) -> None: ...


@ns.on("connect")  # wrong: auth is not a str
async def connect_str_auth(socket: Socket, auth: str) -> None: ...


@ns.on("disconnect")  # wrong: no reason
async def disconnect_without_reason(socket: Socket) -> None: ...


@sio.on("disconnecting")  # wrong: the reason is not an int
async def disconnecting_int(socket: Socket, reason: int) -> None: ...


@sock.on("disconnect")  # wrong: not async
def own_disconnect_plain(socket: Socket, reason: str) -> None: ...


@ns.on("error")  # wrong: the error is not a str
async def error_str(socket: Socket, error: str) -> None: ...


@ns.on("error")  # wrong: no socket
async def error_alone(error: Exception) -> None: ...


async def admit_without_auth(socket: Socket) -> None: ...


def admit_plain(socket: Socket, auth: dict[str, Any] | None) -> None: ...


async def screen_socket(socket: Socket, event: str) -> None: ...


async def watch_async(event: str, *args: Any) -> None: ...


sio.use(admit_without_auth)  # wrong: a connect middleware takes auth
ns.use(admit_plain)  # wrong: a connect middleware is async
sock.use(screen_socket)  # wrong: a packet middleware takes (event, args)
sock.on_any(watch_async)  # wrong: a catch-all listener is called, never awaited
sock.on_any_outgoing(watch_async)  # wrong: the same, outgoing


@ns.on_server_side("sync")  # wrong: not async
def sync_plain(*args: Any) -> int:
    return len(args)


# Client: the right shapes (plain or async alike) ----------------------------------------


@client.on("connect")
def connected() -> None: ...


@client.on("disconnect")
async def disconnected(reason: str) -> None: ...


@client.of("/chat").on("connect_error")
def refused(error: ConnectError) -> None: ...


@client.on("message")
async def client_message(text: str, data: bytes) -> str:
    return text


client_call: Coroutine[Any, Any, str] = client_message("hi", b"")
client.on("tick", lambda *args: None)
client.on("connect", connected)
client.of("/chat").on("disconnect", disconnected)
client.on_any(watch)
client.of("/chat").on_any_outgoing(watch)


@client.on_manager("reconnect_attempt")
def reconnecting(attempt: int) -> None: ...


@client.on_manager("reconnect")
async def reconnected(attempt: int) -> None: ...


@client.on_manager("reconnect_error")
def reconnect_error(error: ConnectError) -> None: ...


@client.on_manager("reconnect_failed")
async def reconnect_failed() -> None: ...


client.on_manager("reconnect", reconnecting)
client.on_manager("reconnect_error", refused)


@client.on_manager("open")
def opened() -> None: ...


@client.on_manager("close")
async def closed(reason: str) -> None: ...


@client.on_manager("ping")
def pinged() -> None: ...


@client.on_manager("error")
def failed(error: ConnectError) -> None: ...


@client.on_manager("packet")
async def packet_came(packet: Packet) -> None: ...


client.on_manager("close", disconnected)
client.on_manager("packet", packet_came)
client.on_manager("open", connected)
client.on("disconnect", lambda reason: None)
client.of("/chat").on("connect_error", refused)
on_disconnect = client.on
on_disconnect("disconnect", disconnected)


# Client: the wrong shapes -------------------------------------------------------------


@client.on("connect")  # wrong: connect has no arguments
def connected_with(reason: str) -> None: ...


@client.of("/chat").on("disconnect")  # wrong: disconnect gets the reason
async def disconnected_without() -> None: ...


@client.on("connect_error")  # wrong: the error is a ConnectError
def refused_str(error: int) -> None: ...


client.on_any(watch_async)  # wrong: a catch-all listener is called, never awaited
client.of("/chat").on_any_outgoing(watch_async)  # wrong: the same, outgoing


@client.on_manager("reconnect_attempt")  # wrong: the attempt is an int
def reconnecting_str(attempt: str) -> None: ...


@client.on_manager("reconnect")  # wrong: reconnect gets the attempt
async def reconnected_without() -> None: ...


@client.on_manager("reconnect_error")  # wrong: the error is a ConnectError
def reconnect_error_int(error: int) -> None: ...


@client.on_manager("reconnect_failed")  # wrong: reconnect_failed has no arguments
def reconnect_failed_with(attempt: int) -> None: ...


client.on_manager("hello", watch)  # wrong: not an event of the connection


@client.on_manager("open")  # wrong: open has no arguments
def opened_with(reason: str) -> None: ...


@client.on_manager("close")  # wrong: close gets the reason
async def closed_without() -> None: ...


@client.on_manager("ping")  # wrong: ping has no arguments
def pinged_with(attempt: int) -> None: ...


@client.on_manager("error")  # wrong: the error is a ConnectError
def failed_str(error: str) -> None: ...


@client.on_manager("packet")  # wrong: the packet is a Packet
async def packet_str(packet: str) -> None: ...


client.on_manager("close", connected)  # wrong: close gets the reason, direct form
client.on_manager("packet", refused)  # wrong: a packet is no ConnectError, direct form

# The direct form of on() checks the reserved events' shapes as the decorator does.
client.on("disconnect", connected)  # wrong: disconnect gets the reason
client.of("/chat").on("disconnect", disconnected_without)  # wrong: the same, on a socket
client.on("connect", disconnected)  # wrong: connect has no arguments
client.of("/chat").on("connect_error", reconnecting_str)  # wrong: the error is a ConnectError
client.on("disconnect", lambda: None)  # wrong: a lambda without the reason
on_disconnect("disconnect", connected)  # wrong: through a saved reference to on
