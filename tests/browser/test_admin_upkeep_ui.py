"""The admin view's invites and guest pruning in Chromium: an admin makes an invite code,
copies it, and a newcomer registers with it on an invite-only server; the admin prunes the
guests not seen for some days (after a confirmation) and they leave the member list."""

import re
import sqlite3
import time
from contextlib import closing

import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import expect

from .conftest import ServerProcess, UserFactory
from .test_moderation_ui import PASSWORD, account, confirm, guest

pytestmark = pytest.mark.browser

TEN_DAYS_MS = 10 * 24 * 3600 * 1000


def test_the_admin_view_makes_an_invite_code_and_prunes_guests(
    open_user: UserFactory, chat_server: ServerProcess
) -> None:
    old = guest(open_user, "old")
    old.page.context.close()
    # As if "old" had last come ten days ago (with the server stopped: its own note of when
    # "old" was seen is written by then); it comes back taking registrations by invite.
    chat_server.stop()
    with closing(sqlite3.connect(chat_server.workdir / "minidiscord.db")) as conn, conn:
        long_ago = int(time.time() * 1000) - TEN_DAYS_MS
        conn.execute("UPDATE users SET last_seen = ? WHERE username = 'old'", (long_ago,))
    chat_server.options = (*chat_server.options, "--registration", "invite")
    chat_server.start()
    root = account(open_user, chat_server, "root", "admin")
    tom = guest(open_user, "tom")
    for page in (root, tom):
        expect(page.member("old")).to_have_count(1)
    root.open_settings()
    root.page.get_by_role("button", name="Administration", exact=True).click()
    view = root.page.get_by_role("dialog", name="Administration", exact=True)
    status = view.get_by_role("status")

    # An invite code, shown to copy; a newcomer registers with it.
    code_field = view.get_by_role("textbox", name="New invite code", exact=True)
    expect(code_field).to_be_hidden()
    view.get_by_role("button", name="Make invite code", exact=True).click()
    expect(status).to_have_text("An invite code was made.")
    expect(code_field).to_be_visible()
    expect(code_field).to_be_focused()
    expect(code_field).to_have_attribute("readonly", "")
    expect(view.locator("#admin-invite-expires")).to_contain_text("One registration, until")
    code = code_field.input_value()
    assert len(code) >= 40
    root.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    view.get_by_role("button", name="Copy", exact=True).click()
    expect(status).to_have_text("The invite code is copied.")
    assert root.page.evaluate("navigator.clipboard.readText()") == code
    ada = open_user("ada")
    ada.username_field.fill("ada")
    ada.password_field.fill(PASSWORD)
    ada.page.get_by_label("Invite code", exact=True).fill(code)
    ada.page.get_by_role("button", name="Register", exact=True).click()
    ada.expect_connected_as("ada")

    # Pruning: a bad number is refused before asking; a good one asks first.
    days = view.get_by_role("spinbutton", name="Guests not seen for (days)", exact=True)
    prune = view.get_by_role("button", name="Prune guests", exact=True)
    days.fill("0")
    prune.click()
    expect(status).to_have_text("Days must be a whole number from 1 to 3650.")
    expect(days).to_be_focused()
    days.fill("5")
    prune.click()
    dialog = confirm(root, "Prune guests?", "Prune guests")
    expect(dialog).to_be_hidden()
    expect(status).to_have_text("1 guest removed.")
    expect(days).to_be_focused()
    for page in (root, tom):
        expect(page.member("old")).to_have_count(0)
        expect(page.member("tom")).to_have_count(1)
    expect(view.get_by_role("listitem", name="old", exact=True)).to_have_count(0)
    newest = view.locator(".audit-entry").nth(0)
    expect(newest.locator(".audit-text")).to_have_text(
        re.compile(r"^root \(admin .*\): prune guests 1 guests$")
    )
    expect(newest).to_contain_text("(not seen for 5 days)")
