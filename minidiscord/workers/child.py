"""A worker process's program: ``python -m minidiscord.workers.child``, started by the parent.

It builds the app (the chat from the ``minidiscord`` command's own arguments and
environment, or any ASGI app named ``module:attribute``), makes every session id carry its
worker number, tells the parent it is ready and serves what the parent hands over. A reason
not to start goes to the parent as one line (the parent prints the first, once), not as a
line from every worker.
"""

import argparse
import contextlib
import importlib
import logging
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import replace

import trio

from .. import logs
from ..asgi_io import ASGIApp
from ..config import Settings
from ..engine import EngineServer
from ..engine.sids import set_worker
from ..runtime import tune_garbage_collector
from .channel import Channel
from .worker import serve_worker


class StartupError(Exception):
    """This worker cannot start; the message is one line."""


def load_app(target: str) -> ASGIApp:
    """The object ``module:attribute`` names (as hypercorn and uvicorn take an app)."""
    module_name, colon, attribute = target.partition(":")
    if not colon or not module_name or not attribute:
        raise StartupError(f"{target!r} is not module:attribute")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StartupError(f"cannot import {module_name!r}: {exc}") from None
    app = getattr(module, attribute, None)
    if not callable(app):
        raise StartupError(f"{module_name!r} has no ASGI app named {attribute!r}")
    app_: ASGIApp = app
    return app_


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m minidiscord.workers.child")
    parser.add_argument("--worker", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--channel-fd", type=int, required=True)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--app", help="module:attribute of an ASGI app")
    what.add_argument("--chat", action="store_true", help="the chat; its arguments follow --")
    parser.add_argument("--shutdown-timeout", type=float, default=10.0)
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def _chat(argv: Sequence[str]) -> tuple[ASGIApp, Settings, EngineServer]:
    # Imported here: a worker serving another app need not load the chat.
    from ..app import create_app
    from ..chat.accounts.factory import open_accounts
    from ..chat.store.factory import StoreError, store_for
    from ..cli import settings_from
    from ..config import SettingsError

    try:
        settings = settings_from(argv, os.environ)
        store = store_for(settings)
        account_store = open_accounts(settings)
    except (SettingsError, StoreError) as exc:
        raise StartupError(str(exc)) from None
    logs.configure(settings.log_level, settings.log_format)
    app = create_app(settings, store, account_store)
    return app, settings, app.engine


def _any_app(target: str, shutdown_timeout: float) -> tuple[ASGIApp, Settings, EngineServer | None]:
    from ..serving import _EngineHolder, _tuned_to

    app = load_app(target)
    if not logging.getLogger().handlers:
        # The app's module did not set up logging: log as the minidiscord command does.
        logs.configure("info", "text")
    settings = Settings(frontend="native", shutdown_timeout=shutdown_timeout)
    engine = app.engine if isinstance(app, _EngineHolder) else None
    return app, (settings if engine is None else _tuned_to(settings, engine)), engine


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    channel_socket = socket.socket(fileno=args.channel_fd)
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    set_worker(args.worker)
    engine: EngineServer | None
    try:
        if args.chat:
            app, settings, engine = _chat(rest)
        else:
            app, settings, engine = _any_app(args.app, args.shutdown_timeout)
    except StartupError as exc:
        trio.run(_report_failure, channel_socket, str(exc))
        return 2
    settings = replace(settings, frontend="native")
    tune_garbage_collector()
    channel = Channel(channel_socket)
    trio.run(serve_worker, app, settings, engine, args.worker, args.workers, channel)
    return 0


async def _report_failure(channel_socket: socket.socket, reason: str) -> None:
    try:
        await Channel(channel_socket).send_failed(reason)
    except Exception:
        # No parent to tell: this process's own output is all that is left.
        print(f"minidiscord: error: {reason}", file=sys.stderr)
    with contextlib.suppress(OSError):
        channel_socket.close()


if __name__ == "__main__":
    sys.exit(main())
