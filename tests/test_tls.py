"""The chat over TLS (``--certfile``, ``--keyfile``) on the suite's front end, and the
one-line refusals of certificates and keys it cannot use.

Independent clients, trusting a CA made for the run (tests/support/tls.py), do a chat round
trip over wss and over https long-polling: python-socketio's AsyncClient (aiohttp under
it) and node's socket.io-client. Chromium does the same in
tests/browser/test_tls_ui.py; the native front end's own TLS behaviours (handshake
deadlines, limits, failed handshakes) are tests/frontend/test_tls.py.
"""

import asyncio
import functools
import ssl
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import socketio
import trio
import trustme
from cryptography.hazmat.primitives import serialization

from benchkit.processes import server_args
from minidiscord import serve
from minidiscord.cli import main
from minidiscord.frontend.tls import TLSError
from minidiscord.sockets import SocketServer
from tests.support.nodeclient import run_node
from tests.support.servers import TEST_SETTINGS, ServerFactory
from tests.support.tls import ServerCertificate

WAIT = 10.0
TRANSPORTS = ["websocket", "polling"]


async def python_round_trip(url: str, transport: str, ca_file: Path) -> dict[str, Any]:
    """Join the chat over ``transport``, send to #general with an ack, and wait for the
    broadcast of it; what the client saw.

    python-socketio's AsyncClient, on asyncio and aiohttp: its blocking client reads and
    writes one TLS socket from two threads (websocket-client under python-engineio), which
    now and then breaks the connection just after it opened (python-engineio issue 461)."""
    # The polling transport's requests and the WebSocket both go through this session.
    trust = ssl.create_default_context(cafile=str(ca_file))
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust))
    client = socketio.AsyncClient(reconnection=False, http_session=http)
    text = f"hello from python over {transport}"
    loop = asyncio.get_running_loop()
    greeted: asyncio.Future[None] = loop.create_future()
    echoed: asyncio.Future[tuple[str, str, str]] = loop.create_future()

    def on_message(channel: str, message: dict[str, Any]) -> None:
        if message["message"] == text and not echoed.done():
            echoed.set_result((channel, message["username"], message["message"]))

    def on_users(_users: Any) -> None:
        if not greeted.done():
            greeted.set_result(None)

    client.on("users", on_users)
    client.on("message:channel", on_message)
    seen: dict[str, Any] = {}
    try:
        await client.connect(
            url, auth={"username": "py"}, transports=[transport], wait_timeout=WAIT
        )
        await asyncio.wait_for(greeted, WAIT)
        seen["ack"] = await client.call("message:channel:send", ("general", text), timeout=WAIT)
        seen["message"] = await asyncio.wait_for(echoed, WAIT)
        seen["transport"] = client.transport()
    finally:
        await client.disconnect()
        await http.close()
    return seen


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_python_socketio_chats_over_tls(
    start_server: ServerFactory, certificate: ServerCertificate, transport: str
) -> None:
    server = await start_server(**certificate.server_options)
    assert server.url.startswith("https://")
    with trio.fail_after(30):
        # Its own asyncio loop, in a worker thread, while trio serves in this one.
        seen = await trio.to_thread.run_sync(
            lambda: asyncio.run(python_round_trip(server.url, transport, certificate.ca_file))
        )
    assert seen["transport"] == transport
    assert set(seen["ack"]) == {"ok", "id"}
    assert seen["message"] == ("general", "py", f"hello from python over {transport}")


@pytest.mark.node
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_node_socketio_client_chats_over_tls(
    start_server: ServerFactory, certificate: ServerCertificate, transport: str
) -> None:
    server = await start_server(**certificate.server_options)
    (seen,) = await run_node(
        "chat_roundtrip.mjs",
        server.url,
        transport,
        "nodejs",
        # What a node deployment does for a private CA (no option in the script).
        env={"NODE_EXTRA_CA_CERTS": str(certificate.ca_file)},
    )
    assert seen["transport"] == transport
    assert set(seen["ack"]) == {"ok", "id"}
    assert (seen["channel"], seen["username"]) == ("general", "nodejs")
    assert seen["text"] == f"hello from node over {transport}"


async def test_a_client_that_does_not_trust_the_certificate_does_not_get_in(
    start_server: ServerFactory, certificate: ServerCertificate
) -> None:
    server = await start_server(**certificate.server_options)
    client = socketio.Client(reconnection=False)  # the system's CAs only
    with pytest.raises(socketio.exceptions.ConnectionError):
        await trio.to_thread.run_sync(
            lambda: client.connect(server.url, auth={"username": "x"}, wait_timeout=WAIT)
        )


async def test_plain_http_to_the_tls_port_is_closed_cleanly(
    start_server: ServerFactory, certificate: ServerCertificate
) -> None:
    server = await start_server(**certificate.server_options)
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    await stream.send_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    with trio.fail_after(10):
        # The end of the stream: no answer, and no reset (which would raise here).
        assert await stream.receive_some(65536) == b""
    await stream.aclose()


async def test_minidiscord_serve_serves_a_socket_server_over_tls(
    nursery: trio.Nursery, certificate: ServerCertificate
) -> None:
    sio = SocketServer()
    shutdown = trio.Event()
    urls: list[str] = await nursery.start(
        functools.partial(
            serve,
            sio,
            host="127.0.0.1",
            port=0,
            frontend=TEST_SETTINGS.frontend,
            shutdown_trigger=shutdown.wait,
            shutdown_timeout=1.0,
            # The key in the certificate's file: no keyfile, on either front end.
            certfile=str(certificate.combined),
        )
    )
    try:
        assert urls[0].startswith("https://127.0.0.1:")
        async with httpx.AsyncClient(verify=certificate.client_context()) as client:
            answer = await client.get(f"{urls[0]}/socket.io/?EIO=4&transport=polling")
        assert answer.status_code == 200
        assert answer.text.startswith('0{"sid":')
    finally:
        shutdown.set()


# Startup: every certificate or key the server cannot use is one line, exit status 2.


def _other_key(directory: Path) -> Path:
    """A valid key of another certificate."""
    path = directory / "other.key"
    trustme.CA().issue_cert("localhost").private_key_pem.write_to_path(str(path))
    return path


def _encrypted_key(certificate: ServerCertificate, directory: Path) -> Path:
    key = serialization.load_pem_private_key(certificate.keyfile.read_bytes(), None)
    path = directory / "encrypted.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    return path


def _not_pem(directory: Path) -> Path:
    path = directory / "notes.txt"
    path.write_text("not a certificate\n")
    return path


CASES: dict[str, tuple[Any, str]] = {
    "missing certificate": (
        lambda c, d: ["--certfile", str(d / "missing.crt"), "--keyfile", str(c.keyfile)],
        "--certfile {d}/missing.crt: no such file",
    ),
    "missing key": (
        lambda c, d: ["--certfile", str(c.certfile), "--keyfile", str(d / "missing.key")],
        "--keyfile {d}/missing.key: no such file",
    ),
    "a directory": (
        lambda c, d: ["--certfile", str(d)],
        "--certfile {d}: a directory, not a PEM file",
    ),
    "key without certificate": (
        lambda c, d: ["--keyfile", str(c.keyfile)],
        "--keyfile needs --certfile: a private key alone cannot serve TLS (give the "
        "certificate chain it belongs to)",
    ),
    "another certificate's key": (
        lambda c, d: ["--certfile", str(c.certfile), "--keyfile", str(_other_key(d))],
        "--keyfile {d}/other.key: this private key is not the one of --certfile {cert}",
    ),
    "certificate without its key": (
        lambda c, d: ["--certfile", str(c.certfile)],
        "--certfile {cert}: cannot load a certificate and its private key from it",
    ),
    "key not PEM": (
        lambda c, d: ["--certfile", str(c.certfile), "--keyfile", str(_not_pem(d))],
        "--keyfile {d}/notes.txt: not a PEM private key without a password",
    ),
    "certificate not PEM": (
        lambda c, d: ["--certfile", str(_not_pem(d)), "--keyfile", str(c.keyfile)],
        "--certfile {d}/notes.txt: not a PEM certificate",
    ),
    "encrypted key": (
        lambda c, d: ["--certfile", str(c.certfile), "--keyfile", str(_encrypted_key(c, d))],
        "--keyfile {d}/encrypted.key: the private key is encrypted",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_certificate_or_key_it_cannot_use_is_one_line(
    case: str,
    certificate: ServerCertificate,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("MINIDISCORD_CERTFILE", "MINIDISCORD_KEYFILE"):
        monkeypatch.delenv(name, raising=False)
    arguments, expected = CASES[case]
    # Refused before the port is opened or the store touched.
    status = main(["--port", "0", "--store", "memory", *arguments(certificate, tmp_path)])
    captured = capsys.readouterr()
    assert status == 2
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    message = expected.format(d=tmp_path, cert=certificate.certfile)
    assert lines[0].startswith(f"minidiscord: error: {message}"), lines[0]
    assert captured.out == ""


def test_tls_startup_errors_are_one_line_from_the_command(tmp_path: Path) -> None:
    result = subprocess.run(
        server_args(0, "--store", "memory", "--certfile", str(tmp_path / "missing.crt")),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"minidiscord: error: --certfile {tmp_path}/missing.crt: no such file"
    ]


def test_workers_refuse_tls_in_one_line(
    certificate: ServerCertificate, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        [
            *("--workers", "2", "--frontend", "native", "--redis-url", "redis://127.0.0.1:1/0"),
            *("--certfile", str(certificate.certfile), "--keyfile", str(certificate.keyfile)),
        ]
    )
    [line] = capsys.readouterr().err.splitlines()
    assert status == 2
    assert line.startswith("minidiscord: error: --workers 2 cannot serve TLS (--certfile):")


async def test_serving_in_process_refuses_the_same_way(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    with pytest.raises(TLSError, match=r"^--certfile .*/missing\.crt: no such file$"):
        await start_server(certfile=str(tmp_path / "missing.crt"))
