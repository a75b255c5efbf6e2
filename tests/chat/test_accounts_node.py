"""Accounts with node's socket.io-client (tests/node/accounts.mjs): a token in the auth."""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.support.servers import ServerFactory

SCRIPT = Path(__file__).parent.parent / "node" / "accounts.mjs"

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
    pytest.mark.skipif(
        not (SCRIPT.parent / "node_modules" / "socket.io-client").is_dir(),
        reason="run `npm install` in tests/node",
    ),
]


async def run(url: str, username: str) -> dict[str, dict[str, Any]]:
    with trio.fail_after(30):
        result = await trio.run_process(
            ["node", str(SCRIPT), url, username],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    lines = [json.loads(line) for line in result.stdout.decode().splitlines() if line]
    assert result.returncode == 0, (lines, result.stderr.decode()[-2000:])
    return {line["step"]: line for line in lines}


@pytest.mark.parametrize("auth", ["open", "accounts"])
async def test_node_registers_and_connects_with_its_token(
    start_server: ServerFactory, auth: str
) -> None:
    server = await start_server(auth=auth)
    steps = await run(server.url, "nodeuser")
    assert steps["registered"] == {"step": "registered", "status": 201, "role": "member"}
    assert steps["session"] == {
        "step": "session",
        "username": "nodeuser",
        "role": "member",
        "same": True,
    }
    assert steps["sent"]["ack"]["ok"] is True
    if auth == "open":
        assert steps["anonymous"]["joined"] == "guest"
    else:
        assert steps["anonymous"]["refused"] == "this server is for registered users: log in first"
