"""Several hosts on this machine: Linux network namespaces joined by a virtual switch.

Each host is a namespace with one interface on the switch (a bridge in a namespace of its
own) and an address 127.77.0.N: loopback-range addresses that never leave the machine,
routed between the namespaces (``route_localnet``; each host's own ``lo`` keeps only
127.0.0.1, so 127.77.0.0/24 goes to the switch). A process runs on a host through
``ip netns exec``; its clients on the same host reach it at 127.0.0.1. Cutting a host's
cable (its switch port down) is a partition: it still serves its own clients, but reaches
no other host, and no other host reaches it.

Creating namespaces needs root (CAP_NET_ADMIN): without it the tests skip with the reason,
in CI too (a machine that cannot make namespaces cannot run them at all).
"""

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
import trio

NETWORK = "127.77.0"
_runs = itertools.count()


@dataclass(frozen=True)
class Host:
    """One simulated host: its namespace, its address on the switch, its switch port."""

    namespace: str
    address: str
    port_on_switch: str
    switch: str

    def command(self, args: Sequence[str]) -> list[str]:
        """``args`` run on this host."""
        return ["ip", "netns", "exec", self.namespace, *args]

    async def cut(self) -> None:
        """Unplug this host from the switch (a partition: both ways, nothing is refused,
        packets are simply lost, as with a dead link)."""
        await _ip("-n", self.switch, "link", "set", self.port_on_switch, "down")

    async def mend(self) -> None:
        await _ip("-n", self.switch, "link", "set", self.port_on_switch, "up")


def namespaces_unavailable() -> str | None:
    """Why this machine cannot simulate hosts, or None when it can."""
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    return None


async def _ip(*args: str) -> None:
    result = await trio.run_process(
        ["ip", *args], capture_stdout=True, capture_stderr=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.decode().strip()}")


async def _make_host(switch: str, name: str, port: str, address: str) -> Host:
    await _ip("netns", "add", name)
    await _ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", name)
    await _ip("link", "set", port, "netns", switch)
    await _ip("-n", switch, "link", "set", port, "master", "br0")
    await _ip("-n", switch, "link", "set", port, "up")
    await _ip("-n", name, "link", "set", "lo", "up")
    # The host's lo answers for 127.0.0.1 only, so the rest of 127/8 can be routed out.
    await _ip("-n", name, "route", "del", "local", "127.0.0.0/8", "dev", "lo", "table", "local")
    await _ip(
        "-n", name, "route", "replace", "local", "127.0.0.1/32", "dev", "lo", "table", "local"
    )
    for interface in ("all", "eth0"):
        await trio.run_process(
            [
                "ip",
                "netns",
                "exec",
                name,
                "sysctl",
                "-qw",
                f"net.ipv4.conf.{interface}.route_localnet=1",
            ]
        )
    await _ip("-n", name, "addr", "add", f"{address}/24", "dev", "eth0")
    await _ip("-n", name, "link", "set", "eth0", "up")
    return Host(name, address, port, switch)


@asynccontextmanager
async def virtual_hosts(count: int) -> AsyncIterator[list[Host]]:
    """``count`` hosts on one switch, removed (with every process still in them) when the
    block ends. Skips the test when namespaces cannot be made here."""
    reason = namespaces_unavailable()
    if reason is not None:
        pytest.skip(f"multi-host tests skipped: {reason}")
    tag = f"md{os.getpid() % 100000}x{next(_runs)}"
    switch = f"{tag}sw"
    made: list[str] = []
    try:
        await _ip("netns", "add", switch)
        made.append(switch)
        await _ip("-n", switch, "link", "add", "br0", "type", "bridge")
        await _ip("-n", switch, "link", "set", "br0", "up")
        hosts = []
        for number in range(1, count + 1):
            name = f"{tag}h{number}"
            made.append(name)
            hosts.append(await _make_host(switch, name, f"{tag}p{number}", f"{NETWORK}.{number}"))
        yield hosts
    finally:
        with trio.CancelScope(shield=True):
            for name in reversed(made):
                await _kill_everything_in(name)
                await trio.run_process(
                    ["ip", "netns", "del", name], check=False, stderr=subprocess.DEVNULL
                )


async def _kill_everything_in(namespace: str) -> None:
    found = await trio.run_process(
        ["ip", "netns", "pids", namespace],
        capture_stdout=True,
        check=False,
        stderr=subprocess.DEVNULL,
    )
    for pid in found.stdout.split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
