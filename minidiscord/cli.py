"""The ``minidiscord`` command: read the settings, then serve the app on trio."""

import argparse
import contextlib
import functools
import logging
import os
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata

import trio

from . import logs
from .app import ChatApp, create_app
from .chat import stages
from .chat.accounts import admin
from .chat.accounts.factory import open_accounts
from .chat.store.factory import StoreError, store_for
from .config import OPTIONS, Settings, SettingsError, default_of
from .frontend.hosting import serve
from .frontend.listening import ListenError, open_listening_sockets
from .frontend.tls import TLSError, server_context
from .runtime import tune_garbage_collector
from .workers import WorkersFailed, run_chat_workers

logger = logging.getLogger("minidiscord")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minidiscord",
        description="A small Discord: a real-time chat server speaking Socket.IO v4.",
        epilog="Every option can also be set with its environment variable; "
        "a flag wins over the environment. Accounts: `minidiscord admin --help`.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    for option in OPTIONS:
        parser.add_argument(
            option.flag,
            dest=option.field,
            metavar=option.metavar,
            action="append" if option.repeatable else "store",
            help=f"{option.help} ({option.env}; default: {default_of(option)})",
        )
    return parser


def _version() -> str:
    try:
        return metadata.version("minidiscord")
    except metadata.PackageNotFoundError:
        return "(not installed: no package metadata; pip install -e . gives it)"


def settings_from(argv: Sequence[str] | None, environ: Mapping[str, str]) -> Settings:
    flags = vars(build_parser().parse_args(argv))
    return Settings.from_env(environ).updated(flags, use="flag")


async def serve_forever(app: ChatApp, sockets: Sequence[socket.socket]) -> None:
    settings = app.settings

    async def until_signalled() -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                logger.info("%s: shutting down", signal.Signals(signum).name)
                break
        # Close every client's transport before the front end stops, so that clients see a
        # clean close (and reconnect) instead of a dropped connection.
        await app.engine.drain(settings.shutdown_timeout)

    async with trio.open_nursery() as nursery:
        urls = await nursery.start(
            functools.partial(serve, app, settings, until_signalled, sockets=sockets)
        )
        store = "memory" if settings.store == "memory" else f"sqlite at {settings.db_path}"
        if settings.redis_url is not None:
            store = f"redis at {settings.redis_url} (prefix {settings.redis_prefix})"
        logger.info(
            "minidiscord listening on %s (transports: polling, websocket; store: %s; "
            "front end: %s)",
            ", ".join(urls),
            store,
            settings.frontend,
        )
    logger.info("minidiscord stopped")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["admin"]:
        return admin.main(arguments[1:])
    # Every reason not to start is one line naming what and why, before anything is served
    # or logged as listening; all of them exit 2, as argparse does for a bad flag.
    with contextlib.ExitStack() as cleanup:
        try:
            settings = settings_from(argv, os.environ)
            if settings.workers > 1:
                check_workers(settings)
            # Read here only to be refused early: the front end loads them again to serve.
            server_context(settings.certfile, settings.keyfile)
            # The port first: a port in use usually means another instance runs, whose
            # database this one must not open.
            sockets = open_listening_sockets(settings.host, settings.port)
            for sock in sockets:
                cleanup.callback(sock.close)
            if settings.workers > 1:
                # Each worker opens its own store: this process only routes connections.
                return _run_workers(settings, argv, sockets)
            store = store_for(settings)
            # After the chat store, which takes the file's lock and migrates it.
            account_store = open_accounts(settings)
        except (SettingsError, TLSError, ListenError, StoreError) as exc:
            print(f"minidiscord: error: {exc}", file=sys.stderr)
            return 2
        logs.configure(settings.log_level, settings.log_format)
        app = create_app(settings, store, account_store)
        tune_garbage_collector()
        stages.start_from_env()
        trio.run(serve_forever, app, sockets)
    return 0


def check_workers(settings: Settings) -> None:
    """Raise SettingsError (one line) when the chat cannot run in ``settings.workers``
    processes."""
    flag = f"--workers {settings.workers}"
    if settings.redis_url is None:
        raise SettingsError(
            f"{flag} needs --redis-url: without it the chat's state (rooms, presence, the "
            "store) lives in one process, and each worker would be a separate chat"
        )
    if settings.frontend != "native":
        raise SettingsError(
            f"{flag} needs --frontend native: the workers serve connections the parent "
            "accepted, which only the native front end takes (hypercorn --workers: see README)"
        )
    if settings.certfile is not None:
        raise SettingsError(
            f"{flag} cannot serve TLS (--certfile): the parent routes each connection by its "
            "first request line, which TLS hides from it; terminate TLS in a proxy in front "
            "of the workers, or serve TLS from one process"
        )


def _run_workers(
    settings: Settings, argv: Sequence[str] | None, sockets: list[socket.socket]
) -> int:
    logs.configure(settings.log_level, settings.log_format)
    describe = (
        f"{settings.workers} workers (transports: polling, websocket; store: redis; "
        "front end: native)"
    )
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        run_chat_workers(settings, arguments, sockets, describe)
    except WorkersFailed as exc:
        print(f"minidiscord: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
