"""The web client's connection in Chromium: reload keeps the session, reconnects after a restart."""

import pytest

from .support import require_playwright

require_playwright()

from playwright.sync_api import expect  # noqa: E402

from .conftest import ServerProcess, UserFactory  # noqa: E402

pytestmark = pytest.mark.browser

# Reconnect backoff is capped at 5 s; leave room for a slow machine.
RECONNECT_TIMEOUT_MS = 20_000


def test_reloading_the_page_keeps_the_session(open_user: UserFactory) -> None:
    alice = open_user("alice")
    alice.login("alice")
    bob = open_user("bob")
    bob.login("bob")
    alice.select("general")
    alice.send("before the reload")
    expect(alice.message_text("before the reload")).to_be_visible()
    session_id = alice.page.evaluate("localStorage.getItem('minidiscord.sessionId')")
    assert session_id

    alice.page.reload()
    # No login form to fill: the stored session is restored as the same user.
    alice.expect_connected_as("alice")
    assert alice.page.evaluate("localStorage.getItem('minidiscord.sessionId')") == session_id
    alice.select("general")
    expect(alice.message_text("before the reload")).to_be_visible()
    bob.expect_presence(online=["alice", "bob"], offline=[])
    alice.send("after the reload")
    bob.select("general")
    expect(bob.message_text("after the reload")).to_be_visible()


def test_the_page_reconnects_after_the_server_restarts(
    open_user: UserFactory, chat_server: ServerProcess
) -> None:
    alice = open_user("alice")
    alice.login("alice")
    bob = open_user("bob")
    bob.login("bob")

    chat_server.stop()
    for user in (alice, bob):
        expect(user.status).to_be_visible()
        expect(user.status).to_contain_text("Reconnecting")
    chat_server.start()

    for user, name in ((alice, "alice"), (bob, "bob")):
        expect(user.status).to_be_hidden(timeout=RECONNECT_TIMEOUT_MS)
        user.expect_connected_as(name)
    alice.select("general")
    bob.select("general")
    alice.send("we are back")
    expect(bob.message_text("we are back")).to_be_visible()
    bob.expect_presence(online=["alice", "bob"], offline=[])


def test_sending_while_offline_keeps_the_text_and_says_so(
    open_user: UserFactory, chat_server: ServerProcess
) -> None:
    alice = open_user("alice")
    alice.login("alice")
    chat_server.stop()
    expect(alice.status).to_contain_text("Reconnecting")
    alice.send("into the void")
    expect(alice.page.get_by_role("alert").filter(has_text="offline")).to_be_visible()
    expect(alice.message_field).to_have_value("into the void")
