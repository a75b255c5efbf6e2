"""What one client that opens connections and closes them at once costs the server, and what
a bystander on another address waits meanwhile.

Such a client holds almost nothing, so no cap on open connections stops it: only the rate of
new connections per address does (``--ip-connection-rate``), and only if a refusal costs the
server much less than serving would. The server runs pinned to core 0 with loopback not
trusted as a proxy (so the per-address limits apply to it); on core 1 a bystander from
127.0.0.2 asks ``GET /healthz`` every 20 ms on one kept-alive connection, first alone
(quiet), then while a churning process from 127.0.0.1 connects and closes as fast as it can
(over TLS it does the handshake, as a real client would; refused ones fail it). Reported per
phase: the server's CPU, and in the churn phase its CPU per connection the churner opened.

    python -m scripts.connection_churn --frontend native --tls --duration 8
    python -m scripts.connection_churn --frontend hypercorn --rate off

Figures are for docs/benchmarks.md; nothing asserts them.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchkit.processes import ROOT, free_port, pinning, script_args, server_args, stop, wait_ready
from benchkit.stats import cpu_s, percentile_ms

BYSTANDER_ADDRESS = "127.0.0.2"
# Nothing on loopback is a trusted proxy, so the per-address limits apply to the churner.
UNTRUSTED = "--forwarded-allow-ips", "192.0.2.1"
HEALTH_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
ASK_EVERY = 0.02


def client_context() -> ssl.SSLContext:
    # The certificate is made for the run; the churner and the bystander only need a session.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def churn(port: int, tls: bool, seconds: float) -> dict[str, int]:
    """Open a connection and close it, as fast as possible, for ``seconds``."""
    context = client_context()
    opened = refused = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            sock = socket.create_connection(("127.0.0.1", port))
            if tls:
                sock = context.wrap_socket(sock, server_hostname="localhost")
            sock.close()
            opened += 1
        except OSError:
            # Over TLS a refused connection fails its handshake; plain ones are read by no one.
            refused += 1
    return {"connections": opened + refused, "tls_refused": refused}


def ask(port: int, tls: bool, seconds: float) -> dict[str, Any]:
    """``GET /healthz`` every ASK_EVERY s on one connection for ``seconds``: the latencies."""
    sock = socket.create_connection(("127.0.0.1", port), source_address=(BYSTANDER_ADDRESS, 0))
    if tls:
        sock = client_context().wrap_socket(sock, server_hostname="localhost")
    latencies: list[float] = []
    end = time.monotonic() + seconds
    with sock:
        while time.monotonic() < end:
            started = time.perf_counter()
            sock.sendall(HEALTH_REQUEST)
            answer = b""
            while not answer.endswith(b"ok\n"):
                data = sock.recv(4096)
                if not data:
                    raise RuntimeError(f"the server closed the bystander's connection: {answer!r}")
                answer += data
            latencies.append(time.perf_counter() - started)
            time.sleep(ASK_EVERY)
    return {
        "requests": len(latencies),
        "p50_ms": percentile_ms(latencies, 50),
        "p99_ms": percentile_ms(latencies, 99),
        "max_ms": percentile_ms(latencies, 100),
    }


@contextmanager
def certificate_options(tls: bool) -> Iterator[list[str]]:
    """The server's ``--certfile``/``--keyfile`` for a certificate made now, if ``tls``."""
    if not tls:
        yield []
        return
    import trustme  # a development dependency: only this script's TLS runs need it

    with tempfile.TemporaryDirectory() as directory:
        issued = trustme.CA().issue_cert("localhost", "127.0.0.1")
        certfile, keyfile = Path(directory, "server.crt"), Path(directory, "server.key")
        issued.cert_chain_pems[0].write_to_path(certfile)
        issued.private_key_pem.write_to_path(keyfile)
        yield ["--certfile", str(certfile), "--keyfile", str(keyfile)]


def worker(
    role: str, prefix: Sequence[str], port: int, tls: bool, seconds: float
) -> subprocess.Popen[bytes]:
    """This script as ``role`` (churn or ask) in its own process on ``prefix``'s core."""
    command = [*prefix, *script_args("connection_churn", f"--{role}", str(port))]
    command += ["--duration", f"{seconds:g}", *(["--tls"] if tls else [])]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE)


def result_of(process: subprocess.Popen[bytes], seconds: float) -> dict[str, Any]:
    """What a worker running for ``seconds`` printed (it may take a while to start)."""
    out, _ = process.communicate(timeout=seconds + 30)
    if process.returncode:
        raise RuntimeError(f"a worker failed with status {process.returncode}")
    record: dict[str, Any] = json.loads(out)
    return record


def measure(frontend: str, tls: bool, rate: str | None, seconds: float) -> dict[str, Any]:
    server_prefix, client_prefix = pinning()
    port = free_port()
    limits = ["--ip-connection-rate", rate] if rate is not None else []
    with certificate_options(tls) as certificates:
        options = ["--frontend", frontend, "--store", "memory", "--log-level", "error"]
        command = [
            *server_prefix,
            *server_args(port, *options, *UNTRUSTED, *limits, *certificates, unlimited=False),
        ]
        server = subprocess.Popen(command, cwd=ROOT)
        try:
            scheme = "https" if tls else "http"
            wait_ready(f"{scheme}://127.0.0.1:{port}", server, 20.0, context=client_context())
            phases: dict[str, Any] = {}
            for phase in ("quiet", "churn"):
                before = cpu_s(server.pid) or 0.0
                churner = (
                    worker("churn", client_prefix, port, tls, seconds) if phase == "churn" else None
                )
                record: dict[str, Any] = {
                    "bystander": result_of(
                        worker("ask", client_prefix, port, tls, seconds), seconds
                    )
                }
                if churner is not None:
                    record["churner"] = result_of(churner, seconds)
                record["server_cpu_s"] = round((cpu_s(server.pid) or 0.0) - before, 2)
                phases[phase] = record
        finally:
            stop(server)
    churned = phases["churn"]["churner"]["connections"]
    return {
        "frontend": frontend,
        "tls": tls,
        "rate": rate or "default",
        "seconds": seconds,
        **phases,
        "server_us_per_connection": round(phases["churn"]["server_cpu_s"] / churned * 1e6, 1)
        if churned
        else None,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frontend", choices=("native", "hypercorn"), default="native")
    parser.add_argument("--tls", action="store_true", help="serve and connect over TLS")
    parser.add_argument(
        "--rate",
        help="the server's --ip-connection-rate (BURST:PER_SECOND or off; default its own)",
    )
    parser.add_argument("-d", "--duration", type=float, default=8.0, help="seconds per phase")
    roles = parser.add_mutually_exclusive_group()
    roles.add_argument("--churn", type=int, metavar="PORT", help=argparse.SUPPRESS)
    roles.add_argument("--ask", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.churn is not None:
        print(json.dumps(churn(args.churn, args.tls, args.duration)))
    elif args.ask is not None:
        print(json.dumps(ask(args.ask, args.tls, args.duration)))
    else:
        print(json.dumps(measure(args.frontend, args.tls, args.rate, args.duration)))


if __name__ == "__main__":
    main(sys.argv[1:])
