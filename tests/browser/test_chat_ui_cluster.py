"""The web page with its users on two nodes of a cluster (one redis-server): the chat looks
the same as on one server.

Besides this module's own story, two of test_chat_ui.py's scenarios where pages meet
(messages and the unread marker across channels; history and the join) are collected here
again with the pages taking turns between the two nodes. Its presence and leave scenarios
are this module's story; paging older messages in crosses nodes only in the store, which
tests/chat/test_chat_e2e.py's two-node layout covers; the others concern one page (login,
layout, settings, refusals), where the cluster changes nothing.
"""

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchkit.redis import running_redis
from tests.support.redisserver import kept_in_memory, redis_server_executable

from .support import require_playwright

require_playwright()

from playwright.sync_api import Browser, expect  # noqa: E402

from .chatpage import ChatPage  # noqa: E402
from .conftest import ServerProcess, UserFactory  # noqa: E402

# Collected here again, on this module's fixtures: pages on both nodes.
from .test_chat_ui import (  # noqa: E402, F401
    test_a_new_user_sees_the_history_and_others_see_the_join,
    test_messages_reach_everyone_in_the_channel_and_mark_it_unread,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def redis_url(tmp_path: Path, browser: Browser) -> Iterator[str]:
    """A private redis-server (a process; these tests are sync) for the nodes."""
    redis_server_executable()  # skips (or fails in CI) without one
    with kept_in_memory(tmp_path / "redis"), running_redis(tmp_path / "redis") as (url, _):
        yield url


@pytest.fixture
def chat_server(tmp_path: Path, redis_url: str) -> Iterator[ServerProcess]:
    """Node A of the cluster (the pages' default server)."""
    (tmp_path / "a").mkdir()
    server = ServerProcess(tmp_path / "a", options=("--redis-url", redis_url))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def node_b(tmp_path: Path, redis_url: str, chat_server: ServerProcess) -> Iterator[ServerProcess]:
    (tmp_path / "b").mkdir()
    server = ServerProcess(tmp_path / "b", options=("--redis-url", redis_url))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def open_user(open_user: UserFactory, node_b: ServerProcess) -> UserFactory:
    """The conftest's pages, taking turns between node A and node B (the first on A); a
    page given its ``url`` goes there and takes its turn all the same."""
    turns = itertools.count()

    def open_page(label: str, *, phone: bool = False, url: str | None = None) -> ChatPage:
        on_b = next(turns) % 2 == 1
        return open_user(label, phone=phone, url=url or (node_b.url if on_b else None))

    return open_page


def test_users_on_two_nodes_chat_and_see_each_other_come_and_go(
    open_user: UserFactory, node_b: ServerProcess
) -> None:
    alice = open_user("alice")
    alice.login("alice")
    bob = open_user("bob", url=node_b.url)
    bob.login("bob")
    alice.expect_presence(online=["alice", "bob"], offline=[])
    bob.expect_presence(online=["alice", "bob"], offline=[])
    expect(alice.system_line("bob has joined the server!")).to_have_count(1)

    alice.select("general")
    bob.select("general")
    alice.send("hello from node a")
    expect(bob.message_text("hello from node a")).to_be_visible()
    bob.send("hello from node b")
    expect(alice.message_text("hello from node b")).to_be_visible()

    bob.disconnect()
    alice.expect_presence(online=["alice"], offline=["bob"])
    bob.connect_button.click()
    bob.expect_connected_as("bob")
    alice.expect_presence(online=["alice", "bob"], offline=[])

    bob.leave()
    alice.select("welcome")  # where presence is told
    expect(alice.system_line("bob has left the server.")).to_be_visible()
    alice.expect_presence(online=["alice"], offline=[])
