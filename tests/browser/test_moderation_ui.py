"""Moderation and administration in Chromium, with two or three users: a moderator deletes
a message and the member sees it vanish; a time out, a kick and a ban (the banned user's tab
ends and says why); a member sees no moderator controls; a role change shows live; the admin
view lists and searches users, sets roles, bans and unbans, revokes sessions and reads the
audit log. The moderators and admins are made with the real CLI on the server's database."""

import re

import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Locator, expect

from tests.support.admincli import admin

from .chatpage import ChatPage
from .conftest import ServerProcess, UserFactory

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
# tests.test_admin_cli.admin gives create-admin this password.
ADMIN_PASSWORD = "an admin's long password"


def cli(server: ServerProcess, *args: str) -> str:
    done = admin("--db", str(server.workdir / "minidiscord.db"), *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def account(
    open_user: UserFactory, server: ServerProcess, name: str, role: str, *, phone: bool = False
) -> ChatPage:
    """A page logged in as a new account with ``role`` (given by the CLI before its login)."""
    page = open_user(name, phone=phone)
    if role == "admin":
        cli(server, "create-admin", name)
        page.log_in(name, ADMIN_PASSWORD)
        return page
    page.log_in(name, PASSWORD, register=True)
    if role != "member":
        # The role a connection has is the one its connect read: log in again with it.
        page.open_settings()
        page.page.get_by_role("button", name="Log out", exact=True).click()
        cli(server, "set-role", name, role)
        page.log_in(name, PASSWORD)
    return page


def guest(open_user: UserFactory, name: str, channel: str = "general") -> ChatPage:
    page = open_user(name)
    page.login(name)
    page.select(channel)
    return page


def confirm(page: ChatPage, title: str, answer: str, *, reason: str | None = None) -> Locator:
    dialog = page.page.get_by_role("dialog", name=title, exact=True)
    expect(dialog).to_be_visible()
    if reason is not None:
        dialog.get_by_label(re.compile(r"^Reason")).fill(reason)
    dialog.get_by_role("button", name=answer, exact=True).click()
    return dialog


def test_a_moderator_deletes_a_message_and_everyone_sees_it_vanish(
    open_user: UserFactory, chat_server: ServerProcess
) -> None:
    mod = account(open_user, chat_server, "mona", "moderator")
    mod.select("general")
    tom = guest(open_user, "tom")
    ann = guest(open_user, "ann")
    tom.send("a leaked secret")
    tom.send("fine words")
    for page in (mod, tom, ann):
        expect(page.message_text("a leaked secret")).to_be_visible()
    # The member sees no moderator controls (on others' messages, on users).
    expect(ann.page.get_by_role("button", name="Delete message")).to_have_count(0)
    for page in (tom, ann):
        for action in ("Time out", "Kick", "Ban"):
            expect(page.page.get_by_role("button", name=action, exact=True)).to_have_count(0)
    expect(mod.member("mona").locator(".role-badge")).to_have_text("(mod)")
    expect(tom.member("mona").locator(".role-badge")).to_have_text("(mod)")
    row = mod.message_row("a leaked secret")
    row.hover()
    row.get_by_role("button", name="Delete message", exact=True).click()
    # Cancel first: nothing happens.
    dialog = confirm(mod, "Delete this message?", "Cancel")
    expect(dialog).to_be_hidden()
    expect(tom.message_text("a leaked secret")).to_be_visible()
    row.hover()
    row.get_by_role("button", name="Delete message", exact=True).click()
    confirm(mod, "Delete this message?", "Delete", reason="secret")
    for page in (mod, tom, ann):
        expect(page.message_text("a leaked secret")).to_have_count(0)
        expect(page.message_text("fine words")).to_be_visible()
    # A newcomer never sees it either.
    late = guest(open_user, "late")
    expect(late.message_text("fine words")).to_be_visible()
    expect(late.message_text("a leaked secret")).to_have_count(0)


def test_time_out_kick_and_ban_from_the_member_list(
    open_user: UserFactory, chat_server: ServerProcess
) -> None:
    mod = account(open_user, chat_server, "mona", "moderator")
    tom = guest(open_user, "tom")
    eve = account(open_user, chat_server, "eve", "member")
    eve.select("general")
    # Not on oneself, nor on an equal: only the guest's and the member's rows have actions.
    expect(mod.member("mona").get_by_role("button", name="Kick", exact=True)).to_have_count(0)
    mod.member("tom").get_by_role("button", name="Time out", exact=True).click()
    dialog = mod.page.get_by_role("dialog", name="Time out tom?", exact=True)
    dialog.get_by_label("Duration", exact=True).select_option(label="10 minutes")
    confirm(mod, "Time out tom?", "Time out", reason="calm down")
    expect(dialog).to_be_hidden()
    # The focus goes back where it was.
    expect(mod.member("tom").get_by_role("button", name="Time out", exact=True)).to_be_focused()
    tom.send("can I still talk?")
    expect(tom.send_error).to_contain_text("Message not sent: you are timed out until")
    # A kick: the tab goes back to the login form, and may come back.
    mod.member("tom").get_by_role("button", name="Kick", exact=True).click()
    confirm(mod, "Kick tom?", "Kick")
    expect(tom.username_field).to_be_visible()
    expect(tom.page.get_by_text("The server closed the connection.", exact=True)).to_be_visible()
    tom.connect_button.click()
    tom.expect_connected_as("tom")
    # A ban needs a reason; it ends the account's tab, which says why.
    mod.member("eve").get_by_role("button", name="Ban", exact=True).click()
    dialog = confirm(mod, "Ban eve?", "Ban")
    expect(dialog.get_by_role("alert")).to_have_text("Give a reason.")
    confirm(mod, "Ban eve?", "Ban", reason="spam")
    expect(dialog).to_be_hidden()
    expect(eve.username_field).to_be_visible()
    expect(eve.page.locator("#login-note")).to_have_text(
        "The server closed the connection. This account is banned: spam."
    )
    eve.password_field.fill(PASSWORD)
    eve.page.get_by_role("button", name="Log in", exact=True).click()
    expect(eve.login_error).to_have_text("This account is banned: spam.")


def test_a_role_change_shows_live_and_brings_the_controls(
    open_user: UserFactory, chat_server: ServerProcess
) -> None:
    root = account(open_user, chat_server, "root", "admin")
    mia = account(open_user, chat_server, "mia", "member")
    mia.select("general")
    tom = guest(open_user, "tom")
    tom.send("hello")
    expect(mia.message_text("hello")).to_be_visible()
    expect(mia.message_row("hello").get_by_role("button", name="Delete message")).to_have_count(0)
    expect(root.member("root").locator(".role-badge")).to_have_text("(admin)")
    root.open_settings()
    root.page.get_by_role("button", name="Administration", exact=True).click()
    view = root.page.get_by_role("dialog", name="Administration", exact=True)
    row = view.get_by_role("listitem", name="mia", exact=True)
    row.get_by_role("combobox", name="Role of mia", exact=True).select_option("moderator")
    row.get_by_role("button", name="Set role", exact=True).click()
    expect(view.get_by_role("status")).to_have_text("mia is now moderator.")
    # Everyone sees the badge change; mia gets the controls without reconnecting.
    for page in (root, mia, tom):
        expect(page.member("mia").locator(".role-badge")).to_have_text("(mod)")
    expect(mia.message_row("hello").get_by_role("button", name="Delete message")).to_have_count(1)
    expect(mia.member("tom").get_by_role("button", name="Ban", exact=True)).to_be_visible()
    expect(mia.page.get_by_role("button", name="Administration", exact=True)).to_be_hidden()


def test_the_admin_view_searches_bans_unbans_revokes_and_reads_the_audit_log(
    open_user: UserFactory, chat_server: ServerProcess
) -> None:
    root = account(open_user, chat_server, "root", "admin", phone=True)
    mia = account(open_user, chat_server, "mia", "member")
    guest(open_user, "tom")
    root.channels_button.click()
    root.open_settings()
    root.page.get_by_role("button", name="Administration", exact=True).click()
    view = root.page.get_by_role("dialog", name="Administration", exact=True)
    expect(view.locator(".admin-summary")).to_have_text("3 users.")
    search = view.get_by_role("searchbox", name="Search users", exact=True)
    expect(search).to_be_focused()
    search.fill("MI")
    search.press("Enter")
    expect(view.locator(".admin-summary")).to_have_text("1 user matching “MI”.")
    row = view.get_by_role("listitem", name="mia", exact=True)
    expect(row).to_contain_text("online")
    # Revoke mia's sessions: her tab is let go and told why.
    row.get_by_role("button", name="Revoke sessions", exact=True).click()
    confirm(root, "Revoke every session of mia?", "Revoke sessions")
    expect(view.get_by_role("status")).to_have_text("1 session of mia ended.")
    expect(mia.username_field).to_be_visible()
    expect(mia.page.locator("#login-note")).to_contain_text("revoked by an administrator")
    # Ban, then unban, from the view.
    row.get_by_role("button", name="Ban", exact=True).click()
    confirm(root, "Ban mia?", "Ban", reason="flooding")
    expect(row).to_contain_text("banned: flooding")
    row.get_by_role("button", name="Unban", exact=True).click()
    confirm(root, "Unban mia?", "Unban")
    expect(view.get_by_role("status")).to_have_text("mia is no longer banned.")
    expect(row).not_to_contain_text("banned")
    mia.log_in("mia", PASSWORD)
    # The audit log, newest first.
    entries = view.locator(".audit-entry .audit-text")
    expect(entries.nth(0)).to_contain_text("unban mia")
    expect(entries.nth(1)).to_contain_text("ban mia")
    expect(view.locator(".audit-entry").nth(1)).to_contain_text("why: flooding")
    expect(entries.nth(2)).to_contain_text("revoke sessions mia")
    # Guests have no role to set nor sessions to revoke.
    search.fill("tom")
    search.press("Enter")
    tom_row = view.get_by_role("listitem", name="tom", exact=True)
    expect(tom_row.locator(".role-badge")).to_have_text("(guest)")
    expect(tom_row.get_by_role("combobox")).to_have_count(0)
    expect(tom_row.get_by_role("button", name="Revoke sessions")).to_have_count(0)
    view.get_by_role("button", name="Close", exact=True).click()
    expect(view).to_be_hidden()
    expect(root.page.get_by_role("button", name="Settings", exact=True)).to_be_focused()


def test_the_audit_log_pages_older_entries(
    open_user: UserFactory, chat_server: ServerProcess
) -> None:
    root = account(open_user, chat_server, "root", "admin")
    account(open_user, chat_server, "mia", "member")
    root.open_settings()
    root.page.get_by_role("button", name="Administration", exact=True).click()
    view = root.page.get_by_role("dialog", name="Administration", exact=True)
    row = view.get_by_role("listitem", name="mia", exact=True)
    # 21 role changes: one page of the view's log (20) and one more.
    for number in range(21):
        role = "moderator" if number % 2 == 0 else "member"
        row.get_by_role("combobox", name="Role of mia", exact=True).select_option(role)
        row.get_by_role("button", name="Set role", exact=True).click()
        # Said once the list and the log are drawn again (and it differs from the last).
        expect(view.get_by_role("status")).to_have_text(f"mia is now {role}.")
        expect(view.locator(".audit-entry")).to_have_count(min(number + 1, 20))
    entries = view.locator(".audit-entry")
    # Newest first: the last change (the 21st, to moderator), ..., the second (to member).
    expect(entries.nth(0)).to_contain_text("(member -> moderator)")
    expect(entries.nth(19)).to_contain_text("(moderator -> member)")
    older = view.get_by_role("button", name="Load older entries", exact=True)
    older.click()
    expect(entries).to_have_count(21)
    expect(entries.nth(20)).to_contain_text("(member -> moderator)")
    expect(entries.nth(19)).to_contain_text("(moderator -> member)")
    expect(older).to_be_hidden()
