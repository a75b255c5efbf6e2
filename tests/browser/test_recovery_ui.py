"""The built-in page survives a dropped connection through connection state recovery, in
Chromium: the messages sent meanwhile show once each, in order, and nobody saw the user go
offline.

Playwright's offline emulation does not close a WebSocket that is already open (Chromium
keeps it; the page would only notice at its ping timeout), so the page's WebSocket goes
through ``page.route_web_socket``: the test closes both of its sides as a network failure
would, and refuses new ones for as long as the network is "down"."""

from pathlib import Path

import pytest

from .support import require_playwright

require_playwright()

from playwright.sync_api import Page, expect  # noqa: E402

from .conftest import ServerProcess, UserFactory  # noqa: E402
from .relay import Connection, Network  # noqa: E402

pytestmark = pytest.mark.browser

RECONNECT_TIMEOUT_MS = 20_000


def wait_for_read_echo(page: Page, connection: Connection, text: str) -> None:
    """Wait until the server has told this connection that the page read the message ``text``.

    The page marks what it shows as read (throttled, so up to a second later); the server's
    ``read`` echo to the user's sockets is then a real event, and one the recovery would
    replay if the network failed first."""
    for _ in range(200):
        events = connection.socket_io(connection.received, "2")
        ids = [
            e[2]["id"] for e in events if e[0] == "message:channel" and e[2].get("message") == text
        ]
        if ids and any(e[0] == "read" and e[1].get("id", 0) >= ids[0] for e in events):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"the page never marked {text!r} read")


def watch_offline_list(page: Page) -> None:
    """Record, in the page, every name ever shown in the offline list."""
    page.evaluate(
        """() => {
            window.everOffline = new Set();
            const list = document.getElementById("offline-list");
            const note = () => {
                for (const item of list.querySelectorAll(".member-name")) {
                    window.everOffline.add(item.textContent);
                }
            };
            note();
            new MutationObserver(note).observe(list, { childList: true, subtree: true });
        }"""
    )


def test_the_page_recovers_a_dropped_connection_with_every_message_once(
    open_user: UserFactory, tmp_path: Path
) -> None:
    # Recovery and the presence grace are on by default; said here because the test needs
    # them, with a grace no slow machine's reconnection outlasts.
    server = ServerProcess(
        tmp_path / "recovery", options=("--recovery-window", "120", "--presence-grace", "60")
    )
    server.workdir.mkdir()
    server.start()
    try:
        alice = open_user("alice", url=server.url)
        network = Network(alice.page)
        alice.login("alice")
        bob = open_user("bob", url=server.url)
        bob.login("bob")
        for user in (alice, bob):
            user.select("general")
        alice.send("before the drop")
        expect(bob.message_text("before the drop")).to_be_visible()
        bob.expect_presence(online=["alice", "bob"], offline=[])
        watch_offline_list(bob.page)
        (first,) = network.connections
        (connected,) = first.socket_io(first.received, "0")
        wait_for_read_echo(alice.page, first, "before the drop")

        network.fail()
        expect(alice.status).to_contain_text("Reconnecting")
        missed = [f"sent while alice was away {n}" for n in range(1, 4)]
        for text in missed:
            bob.send(text)
        # Each went through the server (bob shows his own once it broadcast them).
        for text in missed:
            expect(bob.message_text(text)).to_be_visible()
        expect(alice.message_text(missed[0])).to_have_count(0)

        network.recover()
        expect(alice.status).to_be_hidden(timeout=RECONNECT_TIMEOUT_MS)
        alice.expect_connected_as("alice")
        texts = alice.messages.locator(".message:not(.system) .text")
        expect(texts).to_have_text(["before the drop", *missed])

        # It was a recovery: the page asked with its pid and last offset, got its socket id
        # back, and the missed messages came replayed, with no new history or users list.
        again = network.connections[-1]
        (asked,) = again.socket_io(again.sent, "0")
        assert asked["pid"] == connected["pid"]
        assert isinstance(asked["offset"], str)
        (answer,) = again.socket_io(again.received, "0")
        assert answer["sid"] == connected["sid"]
        events = again.socket_io(again.received, "2")
        assert [event[0] for event in events][:3] == ["message:channel"] * 3
        assert [event[2]["message"] for event in events[:3]] == missed
        assert not [event for event in events if event[0] in ("channels", "users", "session")]

        # Nobody saw alice go: bob's offline list never showed her.
        assert bob.page.evaluate("[...window.everOffline]") == []
        bob.expect_presence(online=["alice", "bob"], offline=[])

        # And the connection is a working one, both ways.
        alice.send("back again")
        expect(bob.message_text("back again")).to_be_visible()
        bob.send("welcome back")
        expect(alice.message_text("welcome back")).to_be_visible()
        expect(texts).to_have_text(["before the drop", *missed, "back again", "welcome back"])
    finally:
        server.stop()
