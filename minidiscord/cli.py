"""The ``minidiscord`` command: read the settings, then serve the app on trio."""

import argparse
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence

import trio

from . import logs
from .app import ChatApp, create_app
from .chat.store.factory import StoreError, open_store
from .config import OPTIONS, Settings, SettingsError, default_of
from .frontend.hosting import serve
from .runtime import tune_garbage_collector

logger = logging.getLogger("minidiscord")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minidiscord",
        description="A small Discord: a real-time chat server speaking Socket.IO v4.",
        epilog="Every option can also be set with its environment variable; "
        "a flag wins over the environment.",
    )
    for option in OPTIONS:
        parser.add_argument(
            option.flag,
            dest=option.field,
            metavar=option.metavar,
            action="append" if option.repeatable else "store",
            help=f"{option.help} ({option.env}; default: {default_of(option)})",
        )
    return parser


def settings_from(argv: Sequence[str] | None, environ: Mapping[str, str]) -> Settings:
    flags = vars(build_parser().parse_args(argv))
    return Settings.from_env(environ).updated(flags, use="flag")


async def serve_forever(app: ChatApp) -> None:
    settings = app.settings
    store = "memory" if settings.store == "memory" else f"sqlite at {settings.db_path}"
    logger.info(
        "minidiscord listening on http://%s:%d (transports: polling, websocket; store: %s; "
        "front end: %s)",
        settings.host,
        settings.port,
        store,
        settings.frontend,
    )

    async def until_signalled() -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                logger.info("%s: shutting down", signal.Signals(signum).name)
                break
        # Close every client's transport before hypercorn stops, so that clients see a
        # clean close (and reconnect) instead of a dropped connection.
        await app.engine.drain(settings.shutdown_timeout)

    await serve(app, settings, until_signalled)
    logger.info("minidiscord stopped")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = settings_from(argv, os.environ)
    except SettingsError as exc:
        print(f"minidiscord: error: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    try:
        app = create_app(settings, open_store(settings.store, settings.db_path))
    except StoreError as exc:
        print(f"minidiscord: error: {exc}", file=sys.stderr)
        return 2
    tune_garbage_collector()
    try:
        trio.run(serve_forever, app)
    except OSError as exc:
        # Typically the port is taken: one line, not a traceback.
        print(
            f"minidiscord: error: cannot serve on {settings.host}:{settings.port}: {exc}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
