"""What the README says works under ``hypercorn --workers N`` (no sticky routing): clients
that open with WebSocket and never poll, each session one connection in one worker."""

from pathlib import Path

import pytest
import trio

from benchkit.processes import HANDSHAKE, free_port
from minidiscord.client import Client
from tests.support.processes import plain_hypercorn
from tests.support.workers import STICKY_APP, sid_worker

pytestmark = pytest.mark.slow

CLIENTS = 8
ROUNDS = 4


async def test_websocket_only_clients_work_under_hypercorns_own_workers(tmp_path: Path) -> None:
    port = free_port()
    served: list[tuple[str, set[int]]] = []

    async def client(index: int) -> None:
        async with Client(transports=("websocket",), reconnection=False).connect(url) as sio:
            pids = set()
            for round_ in range(ROUNDS):
                (who,) = await sio.call("whoami", timeout=10)
                pids.add(who["pid"])
                assert await sio.call("echo", index, round_, timeout=10) == [index, round_]
            sid = sio.engine_sid
            assert sid is not None
            served.append((sid, pids))

    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "hypercorn.log"
    async with plain_hypercorn(port, log, "--workers", "2", target=STICKY_APP, probe=HANDSHAKE):
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                for index in range(CLIENTS):
                    nursery.start_soon(client, index)
    assert len(served) == CLIENTS
    for sid, pids in served:
        assert len(pids) == 1, (sid, pids)  # the whole session in one process
        # hypercorn's workers are not ours: their session ids carry no worker number.
        with pytest.raises(AssertionError):
            sid_worker(sid)
    assert "Session ID unknown" not in log.read_text()
