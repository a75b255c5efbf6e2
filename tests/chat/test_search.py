"""The `search` event (issue 18) on a real server with our trio client: results over the
channels one may read, paging, and bad input costing its sender only."""

from typing import Any

import pytest

from minidiscord.limits import Rate
from tests.support.chatclient import joined
from tests.support.servers import RunningServer, ServerFactory


async def test_search_finds_messages_newest_first_in_every_channel(server: RunningServer) -> None:
    async with (
        joined(server.url, {"username": "ada"}, "ada") as ada,
        joined(server.url, {"username": "bob"}, "bob") as bob,
    ):
        first = await ada.send("general", "the release is on Friday")
        second = await bob.send("react", "Release notes are up")
        await ada.send("casual", "lunch anyone")
        gone = await ada.send("learners", "release secret")
        await ada.call("message:delete", {"channel": "learners", "id": gone["id"]})
        edit = {"channel": "casual", "id": (await ada.send("casual", "relase typo"))["id"]}
        await ada.call("message:edit", {**edit, "text": "release fixed"})
        ack = await bob.call("search", {"query": "Release"})
        assert ack["ok"] is True
        assert [(r["channel"], r["id"]) for r in ack["results"]] == [
            ("casual", edit["id"]),
            ("react", second["id"]),
            ("general", first["id"]),
        ]
        hit = ack["results"][2]
        assert hit == {
            "channel": "general",
            "id": first["id"],
            "userId": ada.session["userId"],
            "username": "ada",
            "timestamp": hit["timestamp"],
            "snippet": "the release is on Friday",
        }
        assert ack["next"] is None
        ack = await bob.call("search", {"query": "release", "channel": "general"})
        assert [r["id"] for r in ack["results"]] == [first["id"]]
        ack = await bob.call("search", {"query": "release friday"})
        assert [r["id"] for r in ack["results"]] == [first["id"]]


async def test_search_pages_back(server: RunningServer) -> None:
    async with joined(server.url, {"username": "ada"}, "ada") as ada:
        sent = [await ada.send("general", f"item {n}") for n in range(7)]
        found: list[int] = []
        ask: dict[str, Any] = {"query": "item", "limit": 3}
        for _ in range(5):
            ack = await ada.call("search", ask)
            found += [r["id"] for r in ack["results"]]
            if ack["next"] is None:
                break
            ask["before"] = ack["next"]
        assert found == [s["id"] for s in reversed(sent)]


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({}, "query must be a string"),
        ({"query": 5}, "query must be a string"),
        ({"query": "  ?! "}, "query has no word to look for"),
        ({"query": "x" * 201}, "query is too long"),
        ({"query": " ".join("abcdefghij")}, "query has too many words"),
        ({"query": "a", "channel": "nowhere"}, "unknown channel 'nowhere'"),
        ({"query": "a", "before": "9"}, "id must be a message's id"),
        ({"query": "a", "limit": 0}, "limit must be a positive integer"),
        ({"query": "a", "limit": True}, "limit must be a positive integer"),
    ],
)
async def test_bad_searches_are_refused(
    server: RunningServer, payload: dict[str, Any], error: str
) -> None:
    async with joined(server.url, {"username": "ada"}, "ada") as ada:
        ack = await ada.call("search", payload)
        assert ack["ok"] is False
        assert error in ack["error"]
        assert (await ada.send("general", "still fine"))["ok"] is True


async def test_searches_are_rate_limited_per_user(start_server: ServerFactory) -> None:
    server = await start_server(history_rate=Rate(2, 0.01))
    async with joined(server.url, {"username": "ada"}, "ada") as ada:
        acks = [await ada.call("search", {"query": "x"}) for _ in range(3)]
        assert [ack["ok"] for ack in acks] == [True, True, False]
        assert acks[2]["retryAfter"] > 0
