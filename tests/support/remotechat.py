"""A chat client on another simulated host: a process that runs ``ChatClient`` and speaks
JSON lines with the test, which reads its events as it reads an in-process client's.

The test side is :class:`RemoteChatClient` (``async with remote_chat(host, url, auth)``);
the process side is this module run as ``python -m tests.support.remotechat URL AUTH``: it
joins with ``AUTH`` (JSON), then writes every event it receives to stdout as
``{"event": NAME, "args": [...]}`` and answers each stdin line ``{"id": N, "call": EVENT,
"args": [...]}`` with ``{"id": N, "result": ...}`` (or ``{"id": N, "error": "..."}``).
Closing its stdin disconnects it and ends it.
"""

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import trio

from benchkit.processes import ROOT

from .chatclient import ChatClient
from .eventlog import WAIT, EventLog


class RemoteChatClient(EventLog):
    """The test's view of a chat client running as a process (on any host)."""

    def __init__(self, name: str, process: trio.Process) -> None:
        super().__init__(name)
        self._process = process
        self._calls = 0
        self._answers: dict[int, trio.MemorySendChannel[dict[str, Any]]] = {}

    async def _read(self) -> None:
        assert self._process.stdout is not None
        buffered = b""
        async for chunk in self._process.stdout:
            buffered += chunk
            *lines, buffered = buffered.split(b"\n")
            for line in lines:
                self._take(json.loads(line))
        self._record("exited")

    def _take(self, line: dict[str, Any]) -> None:
        if "event" in line:
            self._record(line["event"], *line["args"])
            return
        answer = self._answers.pop(line["id"], None)
        if answer is not None:
            answer.send_nowait(line)

    async def call(self, event: str, *args: Any) -> Any:
        """Emit with an ack on the remote client; its ack's argument."""
        assert self._process.stdin is not None
        self._calls += 1
        number = self._calls
        send, receive = trio.open_memory_channel[dict[str, Any]](1)
        self._answers[number] = send
        request = {"id": number, "call": event, "args": list(args)}
        await self._process.stdin.send_all(json.dumps(request).encode() + b"\n")
        with trio.fail_after(WAIT * 2):
            answer = await receive.receive()
        if "error" in answer:
            raise AssertionError(f"{self.name}: {event} failed: {answer['error']}")
        return answer["result"]

    async def send(self, channel: Any, text: Any) -> Any:
        return await self.call("message:channel:send", channel, text)


@asynccontextmanager
async def remote_chat(
    command_prefix: Sequence[str], url: str, auth: dict[str, Any], name: str = "remote"
) -> AsyncIterator[RemoteChatClient]:
    """A chat client process, started with ``command_prefix`` (e.g. ``host.command([])``:
    on that host) joined to ``url``; greeted (``users`` received) when the block starts,
    disconnected and ended when it ends."""
    process = await trio.lowlevel.open_process(
        [*command_prefix, sys.executable, "-m", "tests.support.remotechat", url, json.dumps(auth)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    client = RemoteChatClient(name, process)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client._read)
            await client.wait_for("users")
            yield client
            assert process.stdin is not None
            await process.stdin.aclose()
            with trio.move_on_after(WAIT):
                await process.wait()
            nursery.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()


# The process side ----------------------------------------------------------------------


async def _serve(url: str, auth: dict[str, Any]) -> None:
    out = trio.lowlevel.FdStream(sys.stdout.fileno())
    lines: trio.MemorySendChannel[bytes]
    lines, outgoing = trio.open_memory_channel[bytes](1000)

    async def write() -> None:
        async for line in outgoing:
            await out.send_all(line)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(write)
        client = ChatClient(url, "remote", nursery=nursery)
        client.listen(
            lambda event, *args: lines.send_nowait(
                json.dumps({"event": event, "args": list(args)}).encode() + b"\n"
            )
        )
        await client.connect(auth)
        async for request in _requests():
            nursery.start_soon(_answer, client, request, lines)
        await client.close()
        nursery.cancel_scope.cancel()


async def _requests() -> AsyncIterator[dict[str, Any]]:
    stdin = trio.lowlevel.FdStream(sys.stdin.fileno())
    buffered = b""
    async for chunk in stdin:
        buffered += chunk
        *complete, buffered = buffered.split(b"\n")
        for line in complete:
            yield json.loads(line)


async def _answer(
    client: ChatClient, request: dict[str, Any], lines: trio.MemorySendChannel[bytes]
) -> None:
    try:
        reply = {
            "id": request["id"],
            "result": await client.call(request["call"], *request["args"]),
        }
    except Exception as exc:  # the test hears of any failure, with its reason
        reply = {"id": request["id"], "error": repr(exc)}
    lines.send_nowait(json.dumps(reply).encode() + b"\n")


if __name__ == "__main__":
    trio.run(_serve, sys.argv[1], json.loads(sys.argv[2]))
