"""The page's own Socket.IO client, run in Chromium against a scripted fake WebSocket.

The full stack is covered by the UI tests; these pin the protocol corners a live server
rarely shows: acks and their timeouts, heartbeat loss, refusals, binary packets, backoff.
"""

from pathlib import Path
from typing import Any

import pytest

from .support import require_playwright

require_playwright()

from .conftest import UserFactory  # noqa: E402

pytestmark = pytest.mark.browser

HARNESS = (Path(__file__).parent / "socketio_harness.js").read_text()


@pytest.fixture
def run(open_user: UserFactory) -> Any:
    page = open_user("harness").page

    def run_scenario(name: str) -> Any:
        return page.evaluate(HARNESS, name)

    return run_scenario


def test_handshake_sends_auth_answers_pings_and_holds_early_events(run: Any) -> None:
    record = run("handshake")
    assert record["url"] == "ws://127.0.0.1:9/socket.io/?EIO=4&transport=websocket"
    assert record["beforeConnect"] == {"connected": False, "sent": ['40{"sessionId":"s-1"}']}
    assert record["connected"] is True
    assert record["id"] == "sio-1"
    assert record["sent"] == ['40{"sessionId":"s-1"}', "3"]
    assert record["events"] == [["connect", None], ["early", 1]]


def test_acks_time_out_fail_on_disconnect_and_answer_the_server(run: Any) -> None:
    record = run("acks")
    results = record["results"]
    assert results["answered"] == [None, {"ok": True, "id": 7}]
    assert results["timedOut"] == "operation has timed out"
    assert results["plain"] == ["a", "b"]
    assert results["tooLarge"] == "payload too large"
    assert results["lost"] == "socket has been disconnected"
    sent = record["sent"]
    assert '420["ask",1]' in sent
    assert '422["plain","x"]' in sent
    assert "435[42]" in sent
    # Too large for the server's maxPayload: refused locally, never sent.
    assert not any('"big"' in frame for frame in sent)


def test_a_lost_transport_reconnects_with_backoff_until_disconnect(run: Any) -> None:
    record = run("reconnect")
    assert record["events"] == [
        ["connect", None],
        ["disconnect", "transport close"],
        ["reconnect_attempt", 1],
        ["connect_error", "transport close"],
        ["reconnect_attempt", 2],
        ["connect", None],
        ["disconnect", "io client disconnect"],
    ]
    assert record["afterReconnect"] == {
        "connected": True,
        "id": "sio-2",
        "auth": '40{"username":"ann"}',
    }
    assert record["lastSent"] == "41"
    assert record["sockets"] == 3
    assert record["active"] is False


def test_a_server_that_stops_pinging_is_detected(run: Any) -> None:
    record = run("ping-timeout")
    assert record["events"][:3] == [
        ["connect", None],
        ["disconnect", "ping timeout"],
        ["reconnect_attempt", 1],
    ]
    assert record["active"] is True
    assert record["closed"] is True


def test_a_server_side_disconnect_is_final(run: Any) -> None:
    record = run("server-disconnect")
    assert record["events"] == [["connect", None], ["disconnect", "io server disconnect"]]
    assert record["active"] is False
    assert record["sockets"] == 1


def test_a_refused_connection_is_reported_and_not_retried(run: Any) -> None:
    record = run("refused")
    assert record["events"] == [["connect_error", "username is reserved"]]
    assert record["active"] is False
    assert record["sockets"] == 1


def test_a_malformed_packet_drops_the_connection_and_reconnects(run: Any) -> None:
    record = run("malformed")
    assert record["events"][:3] == [
        ["connect", None],
        ["disconnect", "parse error"],
        ["reconnect_attempt", 1],
    ]
    assert record["active"] is True


def test_binary_attachments_are_reassembled_and_sent(run: Any) -> None:
    record = run("binary")
    assert record["beforeAttachment"] is None
    assert record["received"] == ["a.bin", [1, 2, 3]]
    assert record["frames"] == ['451-["upload",{"_placeholder":true,"num":0}]', [9, 8]]


def test_packet_codec_and_backoff_bounds(run: Any) -> None:
    record = run("codec")
    assert record["decoded"] == [
        {
            "type": 2,
            "nsp": "/",
            "id": None,
            "data": ["message:channel", "general", {"id": 1}],
            "attachments": 0,
        },
        {"type": 3, "nsp": "/admin", "id": 12, "data": [{"ok": True}], "attachments": 0},
        {"type": 4, "nsp": "/", "id": None, "data": {"message": "nope"}, "attachments": 0},
    ]
    assert all(error == "ProtocolError" for _, error in record["errors"]), record["errors"]
    assert record["encoded"] == [['40{"sessionId":"s"}'], ['42/admin,5["e","x"]'], ["41"]]
    low_high = record["delays"]
    # Doubling from 1 s with ±50 % jitter, never above the 5 s cap.
    assert low_high[0] == [500, pytest.approx(1500, abs=1)]
    assert low_high[1] == [1000, pytest.approx(3000, abs=1)]
    assert low_high[2] == [2000, 5000]
    assert all(low >= 2500 and high == 5000 for low, high in low_high[3:])


def test_connection_state_recovery_sends_pid_and_last_offset_and_reads_recovered(
    run: Any,
) -> None:
    record = run("recovery")
    assert record["first"] == {"recovered": False, "offset": "o-2"}
    # The reconnect asks for the session back, with the last offset seen and the auth.
    assert record["recovering"] == '40{"pid":"p-1","offset":"o-2","username":"ann"}'
    assert record["second"] == {"recovered": True, "id": "sio-1", "offset": "o-3"}
    assert record["third"]["recovered"] is False
    assert record["third"]["id"] == "sio-2"
    assert record["third"]["auth"] == '40{"pid":"p-1","offset":"o-3","username":"ann"}'
    # Handlers get the arguments as sent, the offset last, as with the reference client.
    assert record["got"] == [[1, "o-1"], [2, "o-2"], [3, "o-3"]]
