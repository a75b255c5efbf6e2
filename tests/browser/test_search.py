"""Search in the web client, in Chromium, with two users: the "Search" field, its results,
and a result that jumps to its message in another channel, loading older history first; a
late reply to an earlier search is not mixed into a newer one's results."""

import re
from collections.abc import Callable

import pytest

from tests.support.pysio import WAIT, Recorder

from .support import require_playwright

require_playwright()

from playwright.sync_api import expect  # noqa: E402

from .chatpage import users_in  # noqa: E402
from .conftest import ServerProcess, UserFactory  # noqa: E402
from .relay import MARKER_USER, Frame, Network, marker_frame  # noqa: E402

pytestmark = pytest.mark.browser


def test_a_search_result_jumps_to_its_message(
    open_user: UserFactory, chat_server: ServerProcess
) -> None:
    # An old message, then more than a greeting's history after it in its channel.
    writer = Recorder("writer")
    writer.client.connect(chat_server.url, auth={"username": "old-timer"}, wait_timeout=WAIT)
    try:
        writer.wait_for("users")
        writer.client.call(
            "message:channel:send", ("learners", "the deploy key is in the vault"), timeout=WAIT
        )
        for n in range(60):
            writer.client.call("message:channel:send", ("learners", f"filler {n}"), timeout=WAIT)
    finally:
        writer.disconnect()
    ada, bob = users_in(open_user, "casual", "ada", "bob")
    bob.select("general")
    bob.send("deploy on friday")
    # Stored once it reaches Ada: before that a search could run ahead of it.
    expect(ada.channel("general")).to_have_attribute("aria-description", "1 unread")

    ada.search("DEPLOY")
    results = ada.search_results
    expect(results.get_by_role("status")).to_have_text("2 messages found.")
    found = results.get_by_role("button", name=re.compile("deploy"))
    expect(found).to_have_count(2)
    expect(found.nth(0)).to_contain_text("#general bob")
    expect(found.nth(0)).to_contain_text("deploy on friday")
    expect(found.nth(1)).to_contain_text("#learners old-timer")

    # The newest: in a channel already loaded.
    found.nth(0).click()
    expect(results).to_be_hidden()
    expect(ada.page.get_by_role("heading", name="#general", exact=True)).to_be_visible()
    expect(ada.message_line("deploy on friday")).to_be_focused()

    # The oldest: beyond the history the greeting brought, paged in to show it.
    ada.search("vault")
    ada.search_results.get_by_role("button", name=re.compile("vault")).click()
    expect(ada.page.get_by_role("heading", name="#learners", exact=True)).to_be_visible()
    expect(ada.message_line("the deploy key is in the vault")).to_be_focused()
    expect(ada.message_line("the deploy key is in the vault")).to_be_in_viewport()

    ada.search("nothing like this")
    expect(ada.search_results.get_by_role("status")).to_have_text("No messages found.")
    ada.page.keyboard.press("Escape")
    expect(ada.search_results).to_be_hidden()


def _search_reply_about(word: str) -> Callable[[Frame], bool]:
    def picks(frame: Frame) -> bool:
        return isinstance(frame, str) and frame.startswith("43") and f'"{word}' in frame

    return picks


def test_a_late_reply_to_an_earlier_search_is_dropped(open_user: UserFactory) -> None:
    ada = open_user("ada")
    network = Network(ada.page)
    ada.login("ada")
    ada.send("alpha release")
    ada.send("beta release")
    expect(ada.message_text("beta release")).to_be_visible()

    # The server answers the first search only after the second.
    network.hold(_search_reply_about("alpha"))
    ada.search("alpha")
    expect(ada.search_results.get_by_role("status")).to_have_text("Searching…")
    ada.search("beta")
    results = ada.search_results
    expect(results.get_by_role("status")).to_have_text("1 message found.")
    assert len(network.held) == 1
    network.release()
    network.inject(marker_frame())
    # Once the page lists the marker it has handled the late reply: and dropped it.
    expect(ada.member(MARKER_USER)).to_have_count(1)
    expect(results.get_by_role("status")).to_have_text("1 message found.")
    found = results.get_by_role("button", name=re.compile("release"))
    expect(found).to_have_count(1)
    expect(found).to_contain_text("beta release")
