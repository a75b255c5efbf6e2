"""Channels and direct messages in Chromium: a moderator makes, renames and archives a
channel and sets its topic; members see it live; two users talk in a conversation that a
third never sees, with an unread count in the "Direct messages" region."""

import os
import subprocess
import sys

import pytest

from .support import require_playwright

require_playwright()

from playwright.sync_api import expect  # noqa: E402

from .conftest import ServerProcess, UserFactory  # noqa: E402

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"


def make_moderator(server: ServerProcess, name: str) -> None:
    """An admin account on the server's database, as its operator would make one."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "minidiscord",
            "admin",
            "--db",
            "minidiscord.db",
            "create-admin",
            name,
        ],
        cwd=server.workdir,
        env={**os.environ, "MINIDISCORD_ADMIN_PASSWORD": PASSWORD},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_a_moderator_makes_a_channel_that_members_see_live(
    open_user: UserFactory, chat_server: ServerProcess
) -> None:
    make_moderator(chat_server, "sam")
    sam = open_user("sam")
    sam.log_in_account("sam", PASSWORD)
    ada = open_user("ada")
    ada.login("ada")
    # Only moderators and admins get the button.
    expect(ada.new_channel_button).to_be_hidden()
    sam.create_channel("design", "pixels and type")
    expect(sam.page.get_by_text("pixels and type", exact=True)).to_be_visible()
    expect(ada.channel("design")).to_be_visible()
    ada.select("design")
    expect(ada.page.get_by_text("pixels and type", exact=True)).to_be_visible()
    ada.send("hello design")
    expect(sam.message_text("hello design")).to_be_visible()

    sam.page.get_by_role("button", name="Rename channel", exact=True).click()
    field = sam.page.get_by_role("textbox", name="Channel name", exact=True).last
    field.fill("visual")
    sam.page.get_by_role("button", name="Save", exact=True).click()
    expect(ada.page.get_by_role("heading", name="#visual", exact=True)).to_be_visible()
    expect(ada.channel("visual")).to_be_visible()

    sam.page.get_by_role("button", name="Archive channel", exact=True).click()
    expect(ada.message_field).to_be_disabled()
    expect(ada.message_field).to_have_attribute(
        "placeholder", "This channel is archived: it is read-only."
    )
    expect(ada.message_text("hello design")).to_be_visible()


def test_a_direct_conversation_is_seen_by_its_two_members_only(open_user: UserFactory) -> None:
    ada = open_user("ada")
    ada.login("ada")
    bob = open_user("bob")
    bob.login("bob")
    eve = open_user("eve")
    eve.login("eve")
    for page in (ada, bob, eve):
        expect(page.direct_messages).to_be_visible()
    ada.message_user("bob")
    ada.send("psst, bob")
    expect(ada.message_text("psst, bob")).to_be_visible()
    # Bob is elsewhere: the conversation appears with its unread count.
    expect(bob.conversation("ada")).to_be_visible()
    expect(bob.conversation("ada")).to_have_attribute("aria-description", "1 unread")
    bob.conversation("ada").click()
    expect(bob.page.get_by_role("heading", name="@ada", exact=True)).to_be_visible()
    expect(bob.message_text("psst, bob")).to_be_visible()
    expect(bob.conversation("ada")).not_to_have_attribute("aria-description", "1 unread")
    bob.send("hi ada")
    expect(ada.message_text("hi ada")).to_be_visible()
    # A public line after them: once eve has it, she would have had the others.
    bob.select("general")
    bob.send("public")
    eve.select("general")
    expect(eve.message_text("public")).to_be_visible()
    expect(eve.direct_messages.get_by_role("button")).to_have_count(0)
    expect(eve.page.get_by_text("psst, bob", exact=True)).to_have_count(0)
    # A reload comes back to the conversation, its history read from the server.
    ada.page.reload()
    expect(ada.page.get_by_role("heading", name="@bob", exact=True)).to_be_visible()
    expect(ada.message_text("psst, bob")).to_be_visible()
    expect(ada.message_text("hi ada")).to_be_visible()
    # Listed after a reload while elsewhere too.
    bob.page.reload()
    bob.expect_connected_as("bob")
    bob.conversation("ada").click()
    expect(bob.message_text("psst, bob")).to_be_visible()
    expect(bob.message_text("hi ada")).to_be_visible()
