"""The page's Socket.IO WebSockets relayed through ``page.route_web_socket``, so that a
test can do to them what a network or a slow server would: cut them, refuse new ones, hold
back the server's frames and let them go later. It can also put a frame of its own in the
server's stream (a marker: once the page shows it, every frame before it was handled)."""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .support import require_playwright

require_playwright()

from playwright.sync_api import Page, WebSocketRoute  # noqa: E402

Frame = str | bytes


@dataclass
class Connection:
    """One WebSocket of the page, relayed to the server, with the frames each way."""

    page_side: WebSocketRoute
    server_side: WebSocketRoute
    sent: list[Frame] = field(default_factory=list)
    received: list[Frame] = field(default_factory=list)

    def socket_io(self, frames: list[Frame], packet: str) -> list[Any]:
        """The JSON of the Socket.IO packets of type ``packet`` ("0" CONNECT, "2" EVENT)
        among ``frames`` (text frames of Engine.IO MESSAGE packets)."""
        prefix = "4" + packet
        return [
            json.loads(frame[len(prefix) :] or "null")
            for frame in frames
            if isinstance(frame, str) and frame.startswith(prefix)
        ]


class Network:
    """The page's Socket.IO WebSockets, relayed by playwright so that the test can cut them
    or hold back what the server sends."""

    def __init__(self, page: Page) -> None:
        self.connections: list[Connection] = []
        self.down = False
        # Frames from the server that the page gets only at release(), in order.
        self.held: list[Frame] = []
        self._holding: Callable[[Frame], bool] = lambda _frame: False
        page.route_web_socket(re.compile(r"/socket\.io/"), self._route)

    def _route(self, page_side: WebSocketRoute) -> None:
        if self.down:
            # Never reaches the server: the page sees its new WebSocket close at once.
            page_side.close()
            return
        server_side = page_side.connect_to_server()
        connection = Connection(page_side, server_side)

        def to_server(message: Frame) -> None:
            connection.sent.append(message)
            server_side.send(message)

        def to_page(message: Frame) -> None:
            connection.received.append(message)
            if self._holding(message):
                self.held.append(message)
            else:
                page_side.send(message)

        page_side.on_message(to_server)
        server_side.on_message(to_page)
        self.connections.append(connection)

    def fail(self) -> None:
        """The network fails: the open WebSocket closes at both ends, new ones fail."""
        self.down = True
        current = self.connections[-1]
        # A browser may close a WebSocket only with 1000 or 3000-4999 (another code throws
        # and closes nothing): the server sees a close, as a proxy dropping us would show.
        current.server_side.close()
        current.page_side.close()

    def recover(self) -> None:
        self.down = False

    def hold(self, which: Callable[[Frame], bool]) -> None:
        """Keep the server's frames that ``which`` picks from the page until release()."""
        self._holding = which

    def release(self) -> None:
        """The held frames reach the page (on the current connection), and no more are held."""
        self._holding = lambda _frame: False
        held, self.held = self.held, []
        for frame in held:
            self.connections[-1].page_side.send(frame)

    def inject(self, frame: Frame) -> None:
        """A frame as if from the server, after everything the page got so far."""
        self.connections[-1].page_side.send(frame)


def channel_list_reply(frame: Frame) -> bool:
    """The server's answer to the page's ``channel:list`` (an ack with the conversations)."""
    return isinstance(frame, str) and frame.startswith("43") and '"conversations"' in frame


def read_list_reply(frame: Frame) -> bool:
    """The server's answer to the page's ``read:list`` (an ack with the read positions)."""
    return isinstance(frame, str) and frame.startswith("43") and '"reads"' in frame


# A user only a marker frame announces: once the page lists it, it has handled every frame
# the server sent before the marker.
MARKER_USER = "relay-marker"


def marker_frame() -> str:
    return "42" + json.dumps(["user:join", {"userId": MARKER_USER, "username": MARKER_USER}])
