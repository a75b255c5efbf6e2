"""``python -m minidiscord.workers module:app --workers N``: any ASGI app in N processes.

What :func:`minidiscord.run_workers` does, as a command (as ``hypercorn module:app`` is for
hypercorn); a reason not to start is one line and exit status 2.
"""

import argparse
import logging
import sys
from collections.abc import Sequence

from .. import logs
from ..config import SettingsError, parse_port, parse_seconds, parse_workers
from ..frontend.listening import ListenError
from . import WorkersFailed, run_workers


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m minidiscord.workers",
        description="Serve an ASGI app (a SocketServer) from several processes on one port, "
        "every request of a Socket.IO session reaching the process that holds it.",
    )
    parser.add_argument("app", help="the app, as module:attribute")
    parser.add_argument("--workers", default="auto", help="processes (default: one per core)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="8000")
    parser.add_argument("--shutdown-timeout", default="10", metavar="SECONDS")
    args = parser.parse_args(argv)
    try:
        workers = parse_workers(args.workers, "--workers")
        port = parse_port(args.port, "--port")
        shutdown_timeout = parse_seconds(args.shutdown_timeout, "--shutdown-timeout")
        if not logging.getLogger().handlers:
            logs.configure("info", "text")
        run_workers(
            args.app, workers=workers, host=args.host, port=port, shutdown_timeout=shutdown_timeout
        )
    except (SettingsError, ListenError, WorkersFailed) as exc:
        print(f"minidiscord: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
