"""Reactions in the web client, in Chromium, with three users: "Add reaction" and its picker,
the counts everyone sees (pressed for one's own), toggling by clicking, and a reload."""

import pytest

from .support import require_playwright

require_playwright()

from playwright.sync_api import expect  # noqa: E402

from .chatpage import users_in  # noqa: E402
from .conftest import UserFactory  # noqa: E402

pytestmark = pytest.mark.browser


def test_reactions_are_added_counted_and_toggled_for_everyone(open_user: UserFactory) -> None:
    ada, bob, cy = users_in(open_user, "general", "ada", "bob", "cy")
    ada.send("we shipped")
    for user in (ada, bob, cy):
        expect(user.message_text("we shipped")).to_be_visible()
        # Anyone may react to any message.
        line = user.message_line("we shipped")
        expect(line.get_by_role("button", name="Add reaction", exact=True)).to_have_count(1)

    bob.add_reaction("we shipped", "🎉")
    for user in (ada, bob, cy):
        expect(user.reaction("we shipped", "🎉")).to_have_accessible_name("🎉 1")
    expect(bob.reaction("we shipped", "🎉")).to_have_attribute("aria-pressed", "true")
    expect(ada.reaction("we shipped", "🎉")).to_have_attribute("aria-pressed", "false")
    expect(ada.reaction("we shipped", "🎉")).to_have_attribute("title", "bob reacted with 🎉")

    # Clicking a count joins it; clicking one's own takes it back.
    ada.reaction("we shipped", "🎉").click()
    cy.add_reaction("we shipped", "👍")
    for user in (ada, bob, cy):
        expect(user.reaction("we shipped", "🎉")).to_have_accessible_name("🎉 2")
        expect(user.reaction("we shipped", "👍")).to_have_accessible_name("👍 1")
    expect(ada.reaction("we shipped", "🎉")).to_have_attribute("aria-pressed", "true")
    bob.reaction("we shipped", "🎉").click()
    for user in (ada, bob, cy):
        expect(user.reaction("we shipped", "🎉")).to_have_accessible_name("🎉 1")
    expect(bob.reaction("we shipped", "🎉")).to_have_attribute("aria-pressed", "false")
    cy.reaction("we shipped", "👍").click()
    for user in (ada, bob, cy):
        expect(user.reaction("we shipped", "👍")).to_have_count(0)

    # The picker closes with Escape, without reacting.
    line = cy.message_line("we shipped")
    line.hover()
    line.get_by_role("button", name="Add reaction", exact=True).click()
    picker = line.get_by_role("dialog", name="Pick a reaction", exact=True)
    expect(picker).to_be_visible()
    cy.page.keyboard.press("Escape")
    expect(picker).to_have_count(0)
    expect(line.get_by_role("button", name="Add reaction", exact=True)).to_be_focused()

    # History carries them: a reload shows the same counts.
    cy.page.reload()
    cy.expect_connected_as("cy")
    cy.select("general")
    expect(cy.reaction("we shipped", "🎉")).to_have_accessible_name("🎉 1")
    expect(cy.reaction("we shipped", "🎉")).to_have_attribute("title", "ada reacted with 🎉")
