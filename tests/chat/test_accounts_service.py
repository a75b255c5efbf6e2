"""The Accounts service without HTTP: throttles refilling on trio's MockClock, and the
password hashing's bounds."""

import pytest
import trio
import trio.lowlevel
import trio.testing

from minidiscord.chat.accounts.hashing import CHEAPEST, Cost, HashingBusy, Passwords
from minidiscord.chat.accounts.memory import MemoryAccounts
from minidiscord.chat.accounts.service import AccountError, Accounts
from minidiscord.chat.models import Role
from minidiscord.limits import Rate
from tests.support.accounts import PASSWORD

ADDRESS = "192.0.2.1"


def accounts(*, login_rate: Rate | None = None, ip_login_rate: Rate | None = None) -> Accounts:
    return Accounts(
        MemoryAccounts(),
        passwords=Passwords(CHEAPEST),
        login_rate=login_rate,
        ip_login_rate=ip_login_rate,
    )


async def attempt(service: Accounts, name: str, password: str, address: str = ADDRESS) -> int:
    """The HTTP status a login would answer (200 when it worked)."""
    try:
        await service.login(name, password, address=address, agent="test")
    except AccountError as error:
        return error.status
    return 200


async def test_wrong_passwords_for_an_account_wait_for_its_bucket_to_refill(
    autojump_clock: trio.testing.MockClock,
) -> None:
    service = accounts(login_rate=Rate(2, 1 / 60))
    await service.create_account("ada", PASSWORD, Role.MEMBER)
    assert await attempt(service, "ada", "wrong one") == 401
    assert await attempt(service, "ADA", "wrong two") == 401  # the same account
    with pytest.raises(AccountError) as throttled:
        await service.login("ada", PASSWORD, address=ADDRESS, agent="test")
    assert throttled.value.status == 429
    assert throttled.value.retry_after == 60
    # From any address: it is the account that is guessed at.
    assert await attempt(service, "ada", PASSWORD, "198.51.100.7") == 429
    await trio.sleep(59)
    assert await attempt(service, "ada", PASSWORD) == 429
    await trio.sleep(1)
    assert await attempt(service, "ada", PASSWORD) == 200
    # Right passwords cost nothing: the bucket refills meanwhile.
    assert await attempt(service, "ada", PASSWORD) == 200


async def test_attempts_from_one_address_wait_for_its_bucket_to_refill(
    autojump_clock: trio.testing.MockClock,
) -> None:
    service = accounts(ip_login_rate=Rate(3, 0.1))
    await service.create_account("ada", PASSWORD, Role.MEMBER)
    assert [await attempt(service, "ada", PASSWORD) for _ in range(3)] == [200, 200, 200]
    assert await attempt(service, "ada", PASSWORD) == 429
    assert await attempt(service, "nobody", PASSWORD) == 429
    # Another address is not throttled by this one.
    assert await attempt(service, "ada", PASSWORD, "198.51.100.7") == 200
    await trio.sleep(10)
    assert await attempt(service, "ada", PASSWORD) == 200
    assert await attempt(service, "ada", PASSWORD) == 429


async def test_hashing_beyond_its_threads_and_queue_is_refused_at_once() -> None:
    # Real cost, so the first hashes are still running when the last one asks.
    passwords = Passwords(Cost(), threads=1, queue=1)
    done: list[str] = []

    async def hash_one() -> None:
        done.append(await passwords.hash(PASSWORD))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(hash_one)
        nursery.start_soon(hash_one)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(HashingBusy):
            await passwords.hash(PASSWORD)
    assert len(done) == 2
    # Once they are done there is room again.
    assert await passwords.verify(done[0], PASSWORD)


async def test_hashing_runs_off_the_event_loop() -> None:
    passwords = Passwords(Cost())
    ticks = 0
    hashed = trio.Event()

    async def tick() -> None:
        nonlocal ticks
        while not hashed.is_set():
            ticks += 1
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(tick)
        encoded = await passwords.hash(PASSWORD)
        hashed.set()
    # Other tasks ran while the hash was computed (in a worker thread).
    assert ticks > 1
    assert encoded.startswith("$argon2id$")
    assert await passwords.verify(encoded, PASSWORD)
    assert not await passwords.verify(encoded, "wrong")
    # An account that does not exist is checked against a decoy, and never matches.
    assert not await passwords.verify(None, PASSWORD)
