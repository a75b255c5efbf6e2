"""The original React client's way of using node's socket.io-client, against a rate limit.

It sends without ack callbacks and shows only messages: every message of a burst must come
back to it as the message or as a System line saying it was not sent; a client sending
with ack callbacks gets its refusals in the acks and no System line; nobody else sees
either. The client side is tests/node/original_client.mjs.
"""

import json
from typing import Any

import pytest
import trio

from minidiscord.config import Settings
from minidiscord.limits import Rate
from tests.support.layouts import ChatFactory
from tests.support.servers import ServerFactory

from .test_node_story import HERE, NODE_ENV

SCRIPT = HERE.parent / "node" / "original_client.mjs"
BURST = 18
LONG_NAME = "Maximiliane Alexandra Montgomery-Smythe"

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(NODE_ENV is None, reason="node with socket.io-client is not installed"),
]


async def run_script(url: str, *other_urls: str) -> dict[str, Any]:
    """The script's clients on the server at ``url``, or taking turns between it and the
    other nodes of its cluster."""
    assert NODE_ENV is not None
    with trio.fail_after(60):
        result = await trio.run_process(
            ["node", str(SCRIPT), url, str(BURST), *other_urls],
            env=NODE_ENV,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    seen: dict[str, Any] = json.loads(result.stdout.decode().splitlines()[-1])
    return seen


def accounted_for(seen: dict[str, Any]) -> tuple[list[int], list[int]]:
    """Which sends of the burst came back as the message, which as a System line."""
    shown = [int(text.removeprefix("burst ")) for text in seen["own"]]
    told = []
    for line in seen["system"]:
        assert line.endswith(" s."), line
        assert "was not sent: you are sending too fast; try again in " in line, line
        told.append(int(line.split("“burst ", 1)[1].split("”", 1)[0]))
    return shown, told


# Ten, then none for the length of the test: exactly eight are refused.
TEN_THEN_NONE = Rate(burst=10, per_second=0.001)


@pytest.mark.parametrize(
    ("rate", "layout"),
    [
        (TEN_THEN_NONE, 1),
        # The watcher on another node than the React client: what it sees of the burst
        # (and never a System line) comes through the cluster's log.
        (TEN_THEN_NONE, 2),
        # The server's default: how many pass depends on the machine's speed.
        (Settings().rate_limit, 1),
    ],
    ids=["ten-then-none-one node", "ten-then-none-two nodes", "default-one node"],
)
async def test_a_burst_without_acks_is_all_shown(
    start_chat: ChatFactory, rate: Rate | None
) -> None:
    assert rate is not None
    nodes = await start_chat(rate_limit=rate)
    seen = await run_script(*(node.url for node in nodes))

    # The name was shortened, not refused (the React login ignores CONNECT_ERROR).
    assert seen["session"]["username"] == LONG_NAME[:32]

    shown, told = accounted_for(seen["react"])
    assert sorted(shown + told) == list(range(BURST)), seen["react"]
    assert shown == sorted(shown)
    assert told, "the burst was meant to meet the rate limit"
    if rate.per_second < 1:
        assert shown == list(range(10))

    acker = seen["acker"]
    assert acker["system"] == []
    refused = [ack for ack in acker["acks"] if not ack["ok"]]
    assert refused
    assert all(ack["retryAfter"] > 0 for ack in refused)
    assert len(acker["own"]) == BURST - len(refused)

    watcher = seen["watcher"]
    assert watcher["marker"]["ok"] is True
    assert watcher["system"] == []
    assert watcher["own"] == [f"burst {n}" for n in shown]
    # Nobody else heard of the poser.
    assert not any("System" in line for line in watcher["own"])


async def test_a_refused_name_is_shown_to_the_react_client_in_its_first_channel(
    start_server: ServerFactory,
) -> None:
    server = await start_server()
    turned_away = (await run_script(server.url))["turnedAway"]
    # "connect" opens the React client's chat; CONNECT_ERROR it would have ignored.
    assert turned_away["events"][:2] == ["connect", "channels"]
    assert "session" not in turned_away["events"]
    assert turned_away["firstChannel"] == [
        "System: You have not joined the chat: username 'System' is reserved."
        " Press Leave Server to go back and try again."
    ]
    assert turned_away["events"][-1] == "disconnect"
