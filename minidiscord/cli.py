"""The ``minidiscord`` command: read the settings, then serve the app with hypercorn on trio."""

import argparse
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from .app import ChatApp, create_app
from .chat.store.factory import StoreError, open_store
from .config import Settings, SettingsError, parse_port, parse_store

logger = logging.getLogger("minidiscord")


def build_parser() -> argparse.ArgumentParser:
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="minidiscord",
        description="A small Discord: a real-time chat server speaking Socket.IO v4.",
        epilog="Every option can also be set with its MINIDISCORD_* environment variable; "
        "a flag wins over the environment.",
    )
    parser.add_argument(
        "--host", help=f"address to listen on (MINIDISCORD_HOST, default {defaults.host})"
    )
    parser.add_argument(
        "--port", help=f"port to listen on (MINIDISCORD_PORT, default {defaults.port})"
    )
    parser.add_argument(
        "--cors-origin",
        action="append",
        dest="cors_origins",
        metavar="ORIGIN",
        help="a browser origin allowed to connect, repeatable; '*' allows any "
        "(MINIDISCORD_CORS_ORIGINS, comma-separated; default "
        f"{', '.join(defaults.cors_origins)} and the server's own origin)",
    )
    parser.add_argument(
        "--store",
        help=f"where users and messages live: sqlite or memory "
        f"(MINIDISCORD_STORE, default {defaults.store})",
    )
    parser.add_argument(
        "--db",
        metavar="PATH",
        help=f"the SQLite database file (MINIDISCORD_DB, default ./{defaults.db_path})",
    )
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help=f"log verbosity (MINIDISCORD_LOG_LEVEL, default {defaults.log_level})",
    )
    return parser


def settings_from(argv: Sequence[str] | None, environ: Mapping[str, str]) -> Settings:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env(environ)
    if args.host is not None:
        settings = replace(settings, host=args.host)
    if args.port is not None:
        settings = replace(settings, port=parse_port(args.port, "--port"))
    if args.cors_origins:
        settings = replace(settings, cors_origins=tuple(args.cors_origins))
    if args.store is not None:
        settings = replace(settings, store=parse_store(args.store, "--store"))
    if args.db is not None:
        settings = replace(settings, db_path=args.db)
    if args.log_level is not None:
        settings = replace(settings, log_level=args.log_level)
    return settings


def hypercorn_config(settings: Settings) -> Config:
    config = Config()
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    config.bind = [f"{host}:{settings.port}"]
    config.accesslog = None
    # Engine.IO's heartbeat already finds dead peers; the host's keep-alive timeout would
    # only cut idle long-polling requests short.
    config.keep_alive_timeout = max(settings.ping_interval + settings.ping_timeout, 5.0)
    config.websocket_max_message_size = settings.max_payload + 1
    return config


async def _until_signalled() -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            logger.info("received %s, shutting down", signal.Signals(signum).name)
            return


async def serve_forever(app: ChatApp) -> None:
    settings = app.settings
    config = hypercorn_config(settings)
    store = "memory" if settings.store == "memory" else f"sqlite at {settings.db_path}"
    logger.info(
        "minidiscord listening on http://%s:%d (transports: polling, websocket; store: %s)",
        settings.host,
        settings.port,
        store,
    )
    await serve(app, config, shutdown_trigger=_until_signalled)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = settings_from(argv, os.environ)
    except SettingsError as exc:
        print(f"minidiscord: error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        app = create_app(settings, open_store(settings.store, settings.db_path))
    except StoreError as exc:
        print(f"minidiscord: error: {exc}", file=sys.stderr)
        return 2
    trio.run(serve_forever, app)
    return 0


if __name__ == "__main__":
    sys.exit(main())
