"""Accounts with node's socket.io-client (tests/node/accounts.mjs): a token in the auth."""

import pytest

from tests.support.nodeclient import by_step, run_node
from tests.support.servers import ServerFactory

pytestmark = pytest.mark.node


@pytest.mark.parametrize("auth", ["open", "accounts"])
async def test_node_registers_and_connects_with_its_token(
    start_server: ServerFactory, auth: str
) -> None:
    server = await start_server(auth=auth)
    steps = by_step(await run_node("accounts.mjs", server.url, "nodeuser"))
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
