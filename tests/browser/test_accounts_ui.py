"""The web client's accounts in Chromium: register, log in, its errors (a wrong password, a
throttled account, a taken name, an invite code), log out, a reload that comes back as the
account, the guest path beside it in open mode and not in `--auth accounts`, the badges,
and the "Sessions and password" dialog (revoke one, log out everywhere, change password)."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, expect

from tests.support.admincli import admin

from .conftest import ServerProcess, UserFactory

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"


def start_server(workdir: Path, *options: str) -> Iterator[ServerProcess]:
    workdir.mkdir()
    server = ServerProcess(workdir, options=options)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def invite_only(tmp_path: Path, browser: Browser) -> Iterator[ServerProcess]:
    """A server for registered users only, who register with an invite code."""
    yield from start_server(
        tmp_path / "invite-only", "--auth", "accounts", "--registration", "invite"
    )


@pytest.fixture
def throttled(tmp_path: Path, browser: Browser) -> Iterator[ServerProcess]:
    """A server that takes two wrong passwords per account, then one per 100 s."""
    yield from start_server(tmp_path / "throttled", "--login-rate", "2:0.01")


def database(server: ServerProcess) -> str:
    return str(server.workdir / "minidiscord.db")


def has_login_cookie(page: Page) -> bool:
    return any(cookie["name"] == "minidiscord_session" for cookie in page.context.cookies())


def test_register_log_out_and_log_in_again(open_user: UserFactory) -> None:
    ada = open_user("ada")
    # Open mode offers both paths: an account (Log in, Register) and the guest's Connect.
    for name in ("Log in", "Register", "Connect"):
        expect(ada.page.get_by_role("button", name=name, exact=True)).to_be_visible()
    expect(ada.page.get_by_label("Invite code", exact=True)).to_be_hidden()
    ada.log_in("ada", PASSWORD, register=True)
    ada.expect_presence(online=["ada"], offline=[])
    # A member carries no badge: it is what every account is.
    expect(ada.member("ada").locator(".role-badge")).to_have_count(0)
    ada.send("hello from an account")
    # Stored once echoed: a reload before that could lose it.
    expect(ada.message_text("hello from an account")).to_be_visible()
    # A reload comes back as the account (the cookie), in the channel it was reading.
    ada.page.reload()
    ada.expect_connected_as("ada")
    expect(ada.message_text("hello from an account")).to_be_visible()
    ada.open_settings()
    # The page shows the login form before its log out's answer (which clears the cookie)
    # comes: a reload before that answer could cancel it.
    with ada.page.expect_response(lambda response: response.url.endswith("/api/logout")):
        ada.page.get_by_role("button", name="Log out", exact=True).click()
    expect(ada.page.get_by_text("You logged out.", exact=True)).to_be_visible()
    expect(ada.username_field).to_be_visible()
    # Logged out for good: a reload shows the login form, and the cookie is gone.
    ada.page.reload()
    expect(ada.password_field).to_be_visible()
    expect(ada.messages).to_be_hidden()
    assert not has_login_cookie(ada.page)
    ada.log_in("ada", PASSWORD)
    ada.expect_presence(online=["ada"], offline=[])


def test_login_errors_are_shown_plainly(open_user: UserFactory, throttled: ServerProcess) -> None:
    ada = open_user("ada", url=throttled.url)
    ada.log_in("ada", PASSWORD, register=True)
    ada.open_settings()
    ada.page.get_by_role("button", name="Log out", exact=True).click()
    expect(ada.password_field).to_be_visible()
    # A name that is taken, or one that looks like it.
    ada.username_field.fill("ADA")
    ada.password_field.fill(PASSWORD)
    ada.page.get_by_role("button", name="Register", exact=True).click()
    expect(ada.login_error).to_have_text("The name 'ADA' is taken (or one that looks like it).")
    expect(ada.username_field).to_have_attribute("aria-invalid", "true")
    # An empty password is caught before asking.
    ada.password_field.fill("")
    ada.page.get_by_role("button", name="Log in", exact=True).click()
    expect(ada.login_error).to_have_text("Password cannot be empty.")
    expect(ada.password_field).to_be_focused()
    # Wrong passwords, then the account is throttled and the page says for how long.
    for _ in range(2):
        ada.password_field.fill("not the password")
        ada.password_field.press("Enter")
        expect(ada.login_error).to_have_text("Wrong username or password.")
        ada.login_error.evaluate("node => { node.textContent = '' }")
    ada.password_field.fill(PASSWORD)
    ada.page.get_by_role("button", name="Log in", exact=True).click()
    expect(ada.login_error).to_have_text(
        re.compile(r"^Too many wrong passwords for this account; try again in \d+ s\.$")
    )
    expect(ada.messages).to_be_hidden()


def test_accounts_mode_offers_no_guest_path_and_asks_for_an_invite(
    open_user: UserFactory, invite_only: ServerProcess
) -> None:
    ada = open_user("ada", url=invite_only.url)
    expect(ada.page.get_by_role("button", name="Log in", exact=True)).to_be_visible()
    expect(ada.connect_button).to_be_hidden()
    invite = ada.page.get_by_label("Invite code", exact=True)
    expect(invite).to_be_visible()
    ada.username_field.fill("ada")
    ada.password_field.fill(PASSWORD)
    invite.fill("not-a-code")
    ada.page.get_by_role("button", name="Register", exact=True).click()
    expect(ada.login_error).to_have_text("That invite code is unknown, used or expired.")
    code = admin("--db", database(invite_only), "invite")
    assert code.returncode == 0, code.stderr
    invite.fill(code.stdout.strip())
    ada.page.get_by_role("button", name="Register", exact=True).click()
    ada.expect_connected_as("ada")
    # Enter in the name field alone cannot start a guest here: it asks for the password.
    ada.open_settings()
    ada.page.get_by_role("button", name="Log out", exact=True).click()
    ada.username_field.fill("someone")
    ada.username_field.press("Enter")
    expect(ada.password_field).to_be_focused()
    expect(ada.messages).to_be_hidden()


def test_guests_and_accounts_see_each_others_badges(open_user: UserFactory) -> None:
    ada = open_user("ada")
    ada.log_in("ada", PASSWORD, register=True)
    ada.select("general")
    grace = open_user("grace")
    grace.login("grace")
    grace.select("general")
    grace.send("a guest's words")
    for page in (ada, grace):
        badge = page.member("grace").locator(".role-badge")
        expect(badge).to_have_text("(guest)")
        expect(badge).to_have_attribute("title", "Guest (no account)")
        expect(page.member("ada").locator(".role-badge")).to_have_count(0)
    expect(ada.message_row("a guest's words").locator(".role-badge")).to_have_text("(guest)")
    # A guest may not take an account's name, or one that looks like it.
    other = open_user("other")
    other.username_field.fill("Ada")
    other.connect_button.click()
    expect(other.login_error).to_contain_text("The server refused the connection")
    expect(other.messages).to_be_hidden()


def test_sessions_are_listed_revoked_and_ended_everywhere(
    open_user: UserFactory, chat_server: ServerProcess
) -> None:
    laptop = open_user("laptop")
    laptop.log_in("ada", PASSWORD, register=True)
    phone = open_user("phone", phone=True)
    phone.log_in("ada", PASSWORD)
    laptop.open_settings()
    laptop.page.get_by_role("button", name="Sessions and password", exact=True).click()
    dialog = laptop.page.get_by_role("dialog", name="Your account: ada", exact=True)
    sessions = dialog.locator(".session")
    expect(sessions).to_have_count(2)
    expect(sessions.filter(has_text="(this browser)")).to_have_count(1)
    # The other session (the phone's) is revoked: its tab is let go, its login is over.
    revoke = dialog.get_by_role("button", name="Revoke", exact=False)
    expect(revoke).to_have_count(1)
    revoke.click()
    expect(sessions).to_have_count(1)
    expect(phone.username_field).to_be_visible()
    expect(phone.page.locator("#login-note")).to_contain_text("revoked by its owner")
    # Change password: the new one logs in, the old one no longer does.
    dialog.get_by_label("Current password", exact=True).fill(PASSWORD)
    dialog.get_by_label("New password", exact=True).fill(PASSWORD + "!")
    dialog.get_by_role("button", name="Change password", exact=True).click()
    expect(dialog.get_by_role("status")).to_have_text(
        "Password changed. 0 other sessions were logged out."
    )
    phone.username_field.fill("ada")
    phone.password_field.fill(PASSWORD)
    phone.page.get_by_role("button", name="Log in", exact=True).click()
    expect(phone.login_error).to_have_text("Wrong username or password.")
    phone.log_in("ada", PASSWORD + "!")
    # Log out everywhere: both tabs go back to the login form.
    dialog.get_by_role("button", name="Log out everywhere", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(laptop.page.get_by_text("You logged out everywhere.", exact=True)).to_be_visible()
    expect(phone.username_field).to_be_visible()
    # A reload starts on the login form either way. A page that kept the account fills in
    # "ada" as it loads and keeps it there (connecting, then the chat or the refusal); only
    # one that forgot the account leaves the name empty. And the cookie is gone.
    laptop.page.reload()
    expect(laptop.password_field).to_be_visible()
    expect(laptop.username_field).to_have_value("")
    assert not has_login_cookie(laptop.page)


def test_a_reload_without_the_login_cookie_asks_to_log_in_again(open_user: UserFactory) -> None:
    ada = open_user("ada")
    ada.log_in("ada", PASSWORD, register=True)
    ada.expect_presence(online=["ada"], offline=[])
    # The cookie expired or was cleared while the page still remembers the account: the
    # reload is refused, not let in as a new guest under a made-up name.
    ada.page.context.clear_cookies()
    ada.page.reload()
    expect(ada.login_error).to_have_text(
        "The server refused the connection: you are not logged in any more; log in again"
    )
    expect(ada.password_field).to_be_visible()
    expect(ada.messages).to_be_hidden()
    ada.log_in("ada", PASSWORD)
    ada.expect_presence(online=["ada"], offline=[])


def test_a_guest_connect_after_a_login_ends_the_login_first(open_user: UserFactory) -> None:
    ada = open_user("ada")
    ada.log_in("ada", PASSWORD, register=True)
    ada.disconnect()
    # Connect comes back as the account this browser is logged in as...
    expect(ada.username_field).to_have_value("ada")
    ada.connect_button.click()
    ada.expect_connected_as("ada")
    ada.disconnect()
    # ...and another name is a guest: the login ends, so its cookie cannot speak for the guest.
    ada.login("someone")
    ada.expect_presence(online=["someone"], offline=["ada"])
    expect(ada.member("someone").locator(".role-badge")).to_have_text("(guest)")
    assert not has_login_cookie(ada.page)
