"""RedisStore against a real redis-server: what the store contract cannot say about Redis.

Durability across a SIGKILL of redis-server, bounded failures while it is frozen, the log
entries written in the same step as the state change, several nodes (stores) on one Redis,
and prefixes keeping chats apart.
"""

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import trio

from minidiscord.chat.models import Message, Role, User
from minidiscord.chat.store.base import StoreReadError, StoreWriteError
from minidiscord.chat.store.factory import open_store
from minidiscord.chat.store.redis import CLOCK_REFRESH, HEALTH_TIMEOUT, RedisStore
from minidiscord.chat.store.redisclock import RedisClock
from minidiscord.chat.store.rediskeys import RedisKeys
from minidiscord.chat.store.sqlite import StoreError
from minidiscord.redis.connection import DEFAULT_CALL_TIMEOUT, open_redis
from minidiscord.redis.target import parse_redis_url
from tests.support.redisserver import RedisServer, redis_server
from tests.support.servers import ServerFactory
from tests.support.waiting import wait_until

# Short, so the frozen-server tests take a second or two, not several; other tests keep
# the product's bound (a loaded machine may take more than a short one to reconnect).
BOUND = 1.0
ALICE = User("u-alice", "alice", "/a.png")


@asynccontextmanager
async def running_store(
    redis: RedisServer, prefix: str = "chat", timeout: float = DEFAULT_CALL_TIMEOUT
) -> AsyncIterator[RedisStore]:
    """A RedisStore on ``redis`` (a node), its writer running until the block ends."""
    store = RedisStore.open(parse_redis_url(redis.url), prefix, timeout=timeout)
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        try:
            yield store
        finally:
            await store.close()


async def read_log(redis: RedisServer, prefix: str = "chat") -> list[tuple[str, bytes, Any]]:
    """The log stream as (entry id, kind, payload)."""
    async with open_redis(parse_redis_url(redis.url)) as client:
        entries = await client.xrange(RedisKeys(prefix).log)
    return [
        (_bytes(entry.identifier).decode(), _bytes(fields[b"k"]), orjson.loads(fields[b"d"]))
        for entry in entries
        for fields in [entry.field_values]
    ]


def _bytes(value: str | bytes) -> bytes:
    # The client is opened without decoding: every reply is bytes.
    assert isinstance(value, bytes)
    return value


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    """Until an async condition holds (polled, bounded in time)."""
    with trio.fail_after(timeout):
        while not await check():  # noqa: ASYNC110 - Redis has no event for these
            await trio.sleep(0.02)


async def test_an_acknowledged_message_survives_a_sigkill_of_redis(redis: RedisServer) -> None:
    async with running_store(redis) as store:
        user, session = await store.create_user("alice")
        sent = await store.add_message("general", user, "kept", 1)
        await redis.kill()
        await redis.start()  # on its AOF
        assert await store.recent_messages("general", 5) == [sent]
        assert await store.get_session(session.session_id) == (user, session)
        # Numbering goes on from where it was: ids stay unique and increasing.
        after = await store.add_message("general", user, "next", 2)
        assert after.id > sent.id
        await redis.restart()
        again = await store.add_message("react", user, "and again", 3)
        assert again.id > after.id
        assert [m.id for m in await store.recent_messages("general", 5)] == [sent.id, after.id]
    assert [entry[2]["message"] for entry in await read_log(redis)] == ["kept", "next", "and again"]


async def test_a_message_and_its_log_entry_are_written_together(redis: RedisServer) -> None:
    async with running_store(redis) as store:
        first = await store.add_message("general", ALICE, "hello é", 1_700_000_000_000)
        second = await store.add_message("react", User("u-bob", "bob"), "hi", 5)
    entries = await read_log(redis)
    assert entries == [
        (
            f"0-{first.id}",
            b"message",
            {
                "id": first.id,
                "channel": "general",
                "userId": "u-alice",
                "username": "alice",
                "timestamp": 1_700_000_000_000,
                "message": "hello é",
                "avatar": "/a.png",
            },
        ),
        (
            f"0-{second.id}",
            b"message",
            {
                "id": second.id,
                "channel": "react",
                "userId": "u-bob",
                "username": "bob",
                "timestamp": 5,
                "message": "hi",
            },
        ),
    ]


async def test_a_leave_is_logged_with_the_deletion(redis: RedisServer) -> None:
    async with running_store(redis) as store:
        user, session = await store.create_user("carol", "/c.png")
        # Creating a user is no chat event (coming online is, and the chat logs that).
        assert await read_log(redis) == []
        message = await store.add_message("general", user, "bye", 1)
        assert await store.delete_user(user.user_id) is True
        assert await store.get_session(session.session_id) is None
        assert await store.delete_user(user.user_id) is False
    entries = await read_log(redis)
    assert entries[-1] == (
        f"0-{message.id + 1}",
        b"leave",
        {"userId": user.user_id, "username": "carol", "avatar": "/c.png"},
    )
    # A second delete found nobody: nothing more was logged.
    assert len(entries) == 2
    # The user's keys are gone, sessions included; the message stays.
    keys = RedisKeys("chat")
    async with open_redis(parse_redis_url(redis.url)) as client:
        left = sorted(key.decode() for key in await client.keys("chat:*"))
    assert left == sorted([keys.seq, keys.log, keys.userseq, keys.channel("general")])


async def test_a_deletion_is_logged_in_the_same_step_as_the_removal(redis: RedisServer) -> None:
    async with running_store(redis) as store:
        gone = await store.add_message("general", ALICE, "spam", 1)
        kept = await store.add_message("general", ALICE, "fine", 2)
        assert await store.delete_message("general", gone.id) is True
        assert [m.id for m in await store.recent_messages("general", 10)] == [kept.id]
        # Gone already, or not in that channel: nothing removed, nothing logged.
        assert await store.delete_message("general", gone.id) is False
        assert await store.delete_message("react", kept.id) is False
    entries = await read_log(redis)
    assert entries[-1] == (
        f"0-{kept.id + 1}",
        b"moderation",
        {"do": "delete", "channel": "general", "id": gone.id},
    )
    assert len(entries) == 3


async def test_writes_while_redis_is_frozen_fail_within_the_bound_then_work_again(
    redis: RedisServer,
) -> None:
    async with running_store(redis, timeout=BOUND) as store:
        user, _ = await store.create_user("alice")
        assert await store.healthy() is True
        redis.freeze()
        try:
            with trio.fail_after(BOUND * 4):
                with pytest.raises(StoreWriteError, match=r"did not answer within 1 s"):
                    await store.add_message("general", user, "frozen", 1)
            with trio.fail_after(BOUND * 4):
                # A new connection to a frozen server is accepted by the kernel, then its
                # handshake goes unanswered: "unreachable".
                with pytest.raises(StoreReadError, match=r"did not answer|unreachable"):
                    await store.recent_messages("general", 5)
            with trio.fail_after(HEALTH_TIMEOUT * 2):
                assert await store.healthy() is False
            assert store.trouble is not None
            assert "did not answer" in store.trouble or "unreachable" in store.trouble
        finally:
            redis.thaw()
        message = await store.add_message("general", user, "thawed", 2)
        assert await store.healthy() is True
        assert store.trouble is None
        # The frozen write was sent, and Redis ran it once thawed: past its deadline, so it
        # wrote nothing.
        assert await store.recent_messages("general", 5) == [message]


async def refused_while_frozen(redis: RedisServer, write: Awaitable[object]) -> None:
    """Run ``write`` with Redis frozen: it must fail within the bound (its bytes are with
    Redis by then), and Redis is thawed again."""
    redis.freeze()
    try:
        with trio.fail_after(BOUND * 4):
            with pytest.raises(StoreWriteError, match=r"did not answer within 1 s"):
                await write
    finally:
        redis.thaw()


async def test_a_message_refused_while_redis_was_frozen_is_not_applied_after_the_thaw(
    redis: RedisServer,
) -> None:
    async with running_store(redis, timeout=BOUND) as store:
        user, _ = await store.create_user("alice")
        await refused_while_frozen(redis, store.add_message("general", user, "frozen", 1))
        # Redis reads the abandoned connection's script as soon as it is thawed, long before
        # this write's new connection and handshake: by its answer, the frozen one has run.
        thawed = await store.add_message("general", user, "thawed", 2)
        assert await store.recent_messages("general", 5) == [thawed]
        assert [entry[2]["message"] for entry in await read_log(redis)] == ["thawed"]
        # It took no number either: ids stay dense.
        assert thawed.id == 1


async def test_a_user_refused_while_redis_was_frozen_is_not_created_after_the_thaw(
    redis: RedisServer,
) -> None:
    async with running_store(redis, timeout=BOUND) as store:
        await store.create_user("alice")
        await refused_while_frozen(redis, store.create_user("ghost"))
        await store.create_user("after")
        assert [user.username for user in await store.list_users()] == ["alice", "after"]
        async with open_redis(parse_redis_url(redis.url)) as client:
            assert len(await client.keys("chat:session:*")) == 2


async def test_a_deletion_refused_while_redis_was_frozen_is_not_applied_after_the_thaw(
    redis: RedisServer,
) -> None:
    async with running_store(redis, timeout=BOUND) as store:
        user, session = await store.create_user("alice")
        await refused_while_frozen(redis, store.delete_user(user.user_id))
        await store.create_user("after")
        # The user told "leave failed" is still there, and nobody was told she left.
        assert await store.get_session(session.session_id) == (user, session)
        assert await read_log(redis) == []


async def test_a_write_redis_runs_after_its_deadline_is_refused_and_leaves_nothing(
    redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_store(redis, timeout=BOUND) as store:
        user, _ = await store.create_user("alice")
        # As if Redis's clock were measured far ahead of its true time: every deadline sent
        # has passed when Redis runs the script, while the caller still waits.
        monkeypatch.setattr(RedisClock, "redis_deadline", lambda self, deadline: 0)
        with pytest.raises(StoreWriteError, match=r"after its deadline.*nothing was written"):
            await store.add_message("general", user, "late", 1)
        with pytest.raises(StoreWriteError, match=r"after its deadline.*nothing was written"):
            await store.create_user("late")
        with pytest.raises(StoreWriteError, match=r"after its deadline.*nothing was written"):
            await store.delete_user(user.user_id)
        monkeypatch.undo()
        assert await store.recent_messages("general", 5) == []
        assert [u.username for u in await store.list_users()] == ["alice"]
        assert await read_log(redis) == []
        # The connection is fine: the next write, with a true deadline, goes through.
        assert (await store.add_message("general", user, "in time", 2)).id == 1


async def test_redis_s_clock_is_measured_again_by_a_later_batch(
    redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    readings: list[float] = []
    observe = RedisClock.observe

    def counted(self: RedisClock, reply: list[bytes], received: float) -> None:
        readings.append(received)
        observe(self, reply, received)

    monkeypatch.setattr(RedisClock, "observe", counted)
    async with running_store(redis) as store:
        # Measured once when the writer's connection opened.
        assert len(readings) == 1
        user, _ = await store.create_user("alice")
        # Time passing is the condition here, not a wait for something to happen.
        await trio.sleep(CLOCK_REFRESH)
        await store.add_message("general", user, "later", 1)
        assert len(readings) >= 2
        assert readings[-1] >= readings[0] + CLOCK_REFRESH


async def test_each_caller_hears_within_its_bound_while_the_writer_cannot_connect(
    redis: RedisServer,
) -> None:
    bound = 1.0
    async with running_store(redis, timeout=bound) as store:
        # A restart leaves the writer no connection; frozen, Redis then accepts the next
        # one but never answers its handshake.
        await redis.restart()
        redis.freeze()
        waited: dict[str, float] = {}

        async def send(text: str) -> None:
            started = trio.current_time()
            with pytest.raises(StoreWriteError, match="nothing was written"):
                await store.add_message("general", ALICE, text, 1)
            waited[text] = trio.current_time() - started

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(send, "first")
                # Queued while the writer is stuck opening a connection for the first.
                await trio.sleep(bound / 2)
                nursery.start_soon(send, "second")
        finally:
            redis.thaw()
        # Each within its own bound (give or take a busy machine), not the second after
        # the first's attempt and then a whole attempt of its own.
        assert waited["first"] < bound * 1.3, waited
        assert waited["second"] < bound * 1.3, waited
        assert (await store.add_message("general", ALICE, "thawed", 2)).message == "thawed"


async def test_writes_while_redis_is_down_fail_and_the_store_is_unhealthy(
    redis: RedisServer,
) -> None:
    async with running_store(redis) as store:
        await redis.kill()
        with pytest.raises(StoreWriteError, match="unreachable"):
            await store.create_user("alice")
        with pytest.raises(StoreReadError, match="unreachable"):
            await store.get_session("some-session")
        assert await store.healthy() is False
        await redis.start()
        await eventually(store.healthy)
        user, session = await store.create_user("alice")
        assert await store.get_session(session.session_id) == (user, session)


async def test_a_write_redis_refuses_fails_alone_and_a_refused_read_is_a_read_error(
    redis: RedisServer,
) -> None:
    async with running_store(redis) as store:
        # Someone else's key where a channel's should be: Redis refuses what touches it.
        async with open_redis(parse_redis_url(redis.url)) as client:
            await client.set(RedisKeys("chat").channel("casual"), "not a sorted set")
        results: dict[str, object] = {}

        async def send(channel: str) -> None:
            try:
                results[channel] = await store.add_message(channel, ALICE, channel, 1)
            except StoreWriteError as exc:
                results[channel] = str(exc)

        async with trio.open_nursery() as nursery:
            for channel in ("general", "casual", "react"):
                nursery.start_soon(send, channel)
        assert results["casual"] == (
            "redis refused add_message: the key chat:ch:casual is not a sorted set"
        )
        # The others sent with it (in the same script call) go through, and the refused
        # one left nothing behind: not in the log, no number taken.
        general, react = results["general"], results["react"]
        assert isinstance(general, Message)
        assert isinstance(react, Message)
        assert sorted([general.id, react.id]) == [1, 2]
        assert await store.recent_messages("general", 5) == [general]
        assert await store.recent_messages("react", 5) == [react]
        assert sorted(entry[2]["message"] for entry in await read_log(redis)) == [
            "general",
            "react",
        ]
        with pytest.raises(StoreReadError, match="wrong kind of value"):
            await store.recent_messages("casual", 5)
        with pytest.raises(StoreReadError, match="wrong kind of value"):
            await store.messages_before("casual", 10, 5)


async def test_concurrent_senders_share_round_trips(redis: RedisServer) -> None:
    async with running_store(redis) as store:
        before = store.batches
        async with trio.open_nursery() as nursery:
            for n in range(50):
                nursery.start_soon(store.add_message, "general", ALICE, f"m{n}", n)
        assert len(await store.recent_messages("general", 100)) == 50
        # One pipeline takes all that waited: far fewer round trips than messages.
        assert store.batches - before < 10


async def test_a_batch_is_sent_while_redis_still_works_on_the_previous_one(
    redis: RedisServer,
) -> None:
    async with running_store(redis, timeout=5.0) as store:
        sent: dict[str, int] = {}

        async def send(text: str) -> None:
            sent[text] = (await store.add_message("general", ALICE, text, 1)).id

        redis.freeze()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(send, "first")
                await wait_until(lambda: store.in_flight == 1)
                nursery.start_soon(send, "second")
                # Not held back until the first is answered: both are with Redis.
                await wait_until(lambda: store.in_flight == 2)
                redis.thaw()
        finally:
            redis.thaw()
        assert sent["first"] < sent["second"]
        assert store.in_flight == 0


async def test_a_store_stopped_with_writes_unanswered_fails_them(redis: RedisServer) -> None:
    store = RedisStore.open(parse_redis_url(redis.url), "chat", timeout=5.0)
    errors: list[str] = []

    async def send() -> None:
        try:
            await store.add_message("general", ALICE, "lost?", 1)
        except StoreWriteError as exc:
            errors.append(str(exc))

    try:
        with trio.fail_after(3):
            async with trio.open_nursery() as callers, trio.open_nursery() as writer:
                await writer.start(store.run)
                redis.freeze()
                callers.start_soon(send)
                await wait_until(lambda: store.in_flight == 1)
                # The writer is cancelled (its nursery is): its caller must not wait on.
                writer.cancel_scope.cancel()
    finally:
        redis.thaw()
    assert errors == ["the store stopped; the write may have been applied"]
    await store.close()


async def test_a_store_stopped_while_it_opens_a_connection_fails_the_writes_it_took(
    redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Callers wait shielded (the Store contract): a batch the writer had taken when it was
    # cancelled must still be answered, at once, not at the late backstop in _write.
    store = RedisStore.open(parse_redis_url(redis.url), "chat", timeout=BOUND)
    connecting = trio.Event()

    async def connect_never_answered(client: object) -> None:
        # As a Redis that accepts the connection and never answers TIME on it.
        connecting.set()
        await trio.sleep_forever()

    monkeypatch.setattr(store, "_connect", connect_never_answered)
    outcomes: list[str] = []

    async def send() -> None:
        try:
            await store.set_role(ALICE.user_id, Role.MEMBER)
            outcomes.append("written")
        except StoreWriteError as exc:
            outcomes.append(str(exc))

    async with trio.open_nursery() as callers, trio.open_nursery() as writer:
        # Its first connection times out (logged), so the write needs another.
        await writer.start(store.run)
        connecting = trio.Event()
        callers.start_soon(send)
        await connecting.wait()
        started = trio.current_time()
        writer.cancel_scope.cancel()
    assert outcomes == ["the store stopped before this write was sent"]
    assert trio.current_time() - started < BOUND
    await store.close()


async def test_two_nodes_on_one_redis_see_each_others_users_sessions_and_messages(
    redis: RedisServer,
) -> None:
    async with running_store(redis) as one, running_store(redis) as two:
        alice, alice_session = await one.create_user("alice")
        bob, bob_session = await two.create_user("bob")
        assert await two.get_session(alice_session.session_id) == (alice, alice_session)
        assert await one.get_session(bob_session.session_id) == (bob, bob_session)
        assert await one.list_users() == await two.list_users() == [alice, bob]
        sent = []
        for n in range(6):
            node = one if n % 2 else two
            sent.append(await node.add_message("general", alice if n % 2 else bob, f"m{n}", n))
        assert [m.id for m in sent] == sorted({m.id for m in sent})
        assert await one.recent_messages("general", 10) == sent
        snapshot = await two.snapshot(["general"], 3)
        assert snapshot.messages["general"] == sent[3:]
        assert snapshot.last_id == sent[-1].id
        assert snapshot.users == [alice, bob]
        # One node's leave is the other's: the session no longer restores anywhere.
        assert await two.delete_user(alice.user_id) is True
        assert await one.get_session(alice_session.session_id) is None
        assert await one.delete_user(alice.user_id) is False


async def test_a_prefix_keeps_two_chats_apart_on_one_redis(redis: RedisServer) -> None:
    async with running_store(redis, "blue") as blue, running_store(redis, "green") as green:
        user, session = await blue.create_user("alice")
        await blue.add_message("general", user, "blue's", 1)
        assert await green.get_session(session.session_id) is None
        assert await green.list_users() == []
        assert await green.recent_messages("general", 5) == []
        # Each chat numbers its own messages.
        assert (await green.add_message("general", user, "green's", 1)).id == 1
        assert [m.message for m in await blue.recent_messages("general", 5)] == ["blue's"]
    assert [entry[2]["message"] for entry in await read_log(redis, "green")] == ["green's"]


async def test_last_seen_is_written_within_about_a_second_without_other_writes(
    redis: RedisServer,
) -> None:
    async with running_store(redis) as store:
        user, _ = await store.create_user("alice", seen=10)
        store.note_seen(user.user_id, 5000)

        async def noted() -> bool:
            return (await store.snapshot([], 0)).seen == {user.user_id: 5000}

        await eventually(noted)


async def test_weak_durability_settings_are_logged_at_startup(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="minidiscord.chat.store.redis")
    async with (
        redis_server(tmp_path / "weak", ("--appendonly", "no")) as weak,
        running_store(weak),
    ):
        pass
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        f"redis has appendonly no: acknowledged messages are lost if redis restarts "
        f"(set appendonly yes) (redis at redis://127.0.0.1:{weak.port}/0)"
    ]


async def test_durable_settings_log_no_warning(
    redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="minidiscord.chat.store.redis")
    async with running_store(redis):
        pass
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_opening_a_store_on_an_unreachable_redis_is_one_line_without_password(
    redis: RedisServer,
) -> None:
    url = f"redis://:secret@127.0.0.1:{redis.port}/0"
    await redis.kill()
    with pytest.raises(StoreError) as caught:
        open_store("sqlite", "unused.db", redis=parse_redis_url(url))
    message = str(caught.value)
    assert message.startswith(f"cannot reach redis at redis://127.0.0.1:{redis.port}/0: ")
    assert "secret" not in message
    assert "\n" not in message


async def test_healthz_says_why_redis_is_not_answering(
    redis: RedisServer, start_server: ServerFactory
) -> None:
    server = await start_server(redis_url=parse_redis_url(redis.url), redis_prefix="web")
    async with httpx.AsyncClient() as http:
        response = await http.get(server.url + "/healthz")
        assert (response.status_code, response.text) == (200, "ok\n")
        redis.freeze()
        try:
            response = await http.get(server.url + "/healthz")
        finally:
            redis.thaw()
        assert response.status_code == 503
        assert response.text.startswith(
            f"unavailable: redis did not answer within {HEALTH_TIMEOUT:g} s"
        ), response.text
        response = await http.get(server.url + "/healthz")
        assert response.status_code == 200


async def _script_loads(redis: RedisServer) -> int:
    async with open_redis(parse_redis_url(redis.url)) as client:
        stats = await client.info("commandstats")
    entry = stats.get("cmdstat_script|load") or stats.get("cmdstat_script") or {}
    return int(entry.get("calls", 0)) if isinstance(entry, dict) else 0


async def test_scripts_are_loaded_once_per_connection_and_again_after_a_flush(
    redis: RedisServer,
) -> None:
    async with running_store(redis) as store:
        user, _ = await store.create_user("alice")
        for n in range(20):
            await store.add_message("general", user, f"m{n}", n)
        # One load per script the writer used on its connection, not one per batch.
        assert await _script_loads(redis) <= 2
        async with open_redis(parse_redis_url(redis.url)) as admin:
            await admin.script_flush()
        # The batch that meets the empty cache is refused (nothing written) and says so;
        # the next one loads the scripts again.
        with pytest.raises(StoreWriteError, match="No matching script"):
            await store.add_message("general", user, "lost to the flush", 21)
        sent = await store.add_message("general", user, "after the flush", 22)
        assert [m.message for m in await store.recent_messages("general", 2)] == [
            "m19",
            "after the flush",
        ]
        assert sent.id > 0


async def test_a_snapshot_skipping_online_users_reads_only_the_offline_ones(
    redis: RedisServer,
) -> None:
    # The nodes mirror who is online (P:online, written by cluster presence): a connect
    # snapshot need not read them, and they take no room in the offline users' cut.
    async with running_store(redis) as store:
        users = [(await store.create_user(f"u{n}", seen=100 + n))[0] for n in range(8)]
        # Tied with u5 and u6 at the cut's edge, to check ties among the offline ones.
        store.note_seen(users[1].user_id, 105)
        await store.add_message("general", users[0], "barrier", 0)  # notes are written
        online = [users[7], users[6], users[4], users[2]]
        async with open_redis(parse_redis_url(redis.url)) as client:
            await client.hset(store.keys.online, {u.user_id: 1 for u in online})
            # Every one of them has been shown (a first arrival took their marks).
            await client.delete([store.keys.unshown])
        asked = [users[7].user_id, users[0].user_id]

        snapshot = await store.snapshot([], 0, users_max=2, including=asked, skip_online=True)
        # Offline by recency: u5 (105, newer), u1 (105), u3 (103), u0 (100).
        assert snapshot.users == [users[0], users[1], users[5], users[7]]
        assert snapshot.outside_cut == {users[0].user_id, users[7].user_id}
        assert (await store.snapshot([], 0, skip_online=True)).users == [
            users[0],
            users[1],
            users[3],
            users[5],
        ]
        tail = await store.snapshot([], 0, users_max=10, seen_since=103, skip_online=True)
        assert tail.users == [users[1], users[3], users[5]]
        # Without skipping, the online ones are read and counted as before.
        assert (await store.snapshot([], 0, users_max=2)).users == [users[6], users[7]]


async def test_a_snapshot_skipping_online_users_leaves_out_those_not_yet_shown(
    redis: RedisServer,
) -> None:
    # A user created and not yet shown online (its first arrival not logged) is left out of
    # a cluster connect's snapshot: whoever reads it learns of the user from that arrival.
    async with running_store(redis) as store:
        users = [(await store.create_user(f"u{n}", seen=100 + n))[0] for n in range(6)]
        keys = store.keys
        async with open_redis(parse_redis_url(redis.url)) as client:
            marks = await client.zrange(keys.unshown, 0, -1)
            assert sorted(marks) == sorted(u.user_id.encode() for u in users)
            # u0, u1 and u2 were shown once (and are offline again); u5 is online.
            await client.zrem(keys.unshown, [u.user_id for u in users[:3]])
            await client.zrem(keys.unshown, [users[5].user_id])
            await client.hset(keys.online, {users[5].user_id: 1})
        asked = [users[4].user_id]
        # The newest two offline ones shown: the cut makes room for those left out.
        snapshot = await store.snapshot([], 0, users_max=2, including=asked, skip_online=True)
        assert snapshot.users == [users[1], users[2], users[4]]
        assert snapshot.outside_cut == {users[4].user_id}
        assert (await store.snapshot([], 0, skip_online=True)).users == users[:3]
        tail = await store.snapshot([], 0, users_max=10, seen_since=101, skip_online=True)
        assert tail.users == users[1:3]
        # Every other read lists them: they exist.
        assert await store.list_users() == users
        # Deleting a user takes its mark too.
        assert await store.delete_user(users[3].user_id)
        async with open_redis(parse_redis_url(redis.url)) as client:
            assert await client.zrange(keys.unshown, 0, -1) == (users[4].user_id.encode(),)
