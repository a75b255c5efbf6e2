"""Editing and deleting your own messages in the web client, in Chromium, with two users:
the controls by their accessible names (only on one's own messages), the "(edited)" mark
with its time, the confirmation before a delete, and what a reload shows."""

import pytest

from .support import require_playwright

require_playwright()

from playwright.sync_api import expect  # noqa: E402

from .chatpage import users_in  # noqa: E402
from .conftest import UserFactory  # noqa: E402

pytestmark = pytest.mark.browser


def test_an_author_edits_and_deletes_and_the_other_user_sees_it(open_user: UserFactory) -> None:
    ada, bob = users_in(open_user, "general", "ada", "bob")
    ada.send("helo wrold")
    bob.send("bob was here")
    for user in (ada, bob):
        expect(user.message_text("helo wrold")).to_be_visible()
        expect(user.message_text("bob was here")).to_be_visible()
    # Each sees the controls on their own message only.
    for user, own, other in (
        (ada, "helo wrold", "bob was here"),
        (bob, "bob was here", "helo wrold"),
    ):
        for name in ("Edit message", "Delete message"):
            expect(
                user.message_line(own).get_by_role("button", name=name, exact=True)
            ).to_have_count(1)
            expect(
                user.message_line(other).get_by_role("button", name=name, exact=True)
            ).to_have_count(0)

    ada.edit_message("helo wrold", "hello **world**")
    edited_at = ada.message_line("hello world").locator("time.edited").get_attribute("datetime")
    assert edited_at is not None
    assert edited_at.endswith("Z")
    for user in (ada, bob):
        expect(user.message_text("hello world")).to_be_visible()
        expect(user.message_line("hello world").locator("strong")).to_have_text("world")
        mark = user.message_line("hello world").locator("time.edited")
        expect(mark).to_have_text("(edited)")
        expect(mark).to_have_attribute("datetime", edited_at)
        expect(user.message_text("helo wrold")).to_have_count(0)
    # A refused edit stays open with the reason; Escape leaves it.
    line = ada.message_line("hello world")
    line.hover()
    line.get_by_role("button", name="Edit message", exact=True).click()
    field = line.get_by_role("textbox", name="Edit message text", exact=True)
    field.fill("x" * 2001)
    field.press("Enter")
    expect(line.get_by_role("alert")).to_contain_text("Not edited: message is too long")
    field.press("Escape")
    expect(field).to_have_count(0)
    expect(ada.message_text("hello world")).to_be_visible()

    # A reload (history from the server) shows the current text, marked edited.
    bob.page.reload()
    bob.expect_connected_as("bob")
    bob.select("general")
    expect(bob.message_line("hello world").locator("time.edited")).to_have_text("(edited)")

    # Deleting asks first: Cancel keeps it, Delete takes it away for both.
    ada.delete_message("hello world", confirm=False)
    expect(ada.message_text("hello world")).to_be_visible()
    ada.delete_message("hello world")
    for user in (ada, bob):
        expect(user.message_text("hello world")).to_have_count(0)
        expect(user.message_text("bob was here")).to_be_visible()


# Who sees "Edit message" and "Delete message" on whose message: the page's one rule each.
MAY = """async () => {
  const { mayEdit, mayDelete } = await import("/web/edits.js");
  const own = { id: 1, userId: "me", username: "me", message: "x", timestamp: 0 };
  const other = { ...own, userId: "them" };
  const system = { ...own, system: true };
  const as = (role) => ({ userId: "me", username: "me", role });
  return ["guest", "member", "moderator", "admin"].map((role) => [
    role,
    [own, other, system].map((m) => [mayEdit(m, as(role)), mayDelete(m, as(role))]),
  ]);
}"""


def test_authors_edit_and_delete_their_own_and_moderators_delete_any(
    open_user: UserFactory,
) -> None:
    page = open_user("ada")
    expect(page.username_field).to_be_visible()  # the page's modules are loaded
    may = dict(page.page.evaluate(MAY))
    # [own, someone else's, a system line] -> [may edit, may delete]
    assert may == {
        "guest": [[True, True], [False, False], [False, False]],
        "member": [[True, True], [False, False], [False, False]],
        "moderator": [[True, True], [False, True], [False, False]],
        "admin": [[True, True], [False, True], [False, False]],
    }
