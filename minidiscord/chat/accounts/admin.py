"""``minidiscord admin``: account administration on the configured store, whether a server
runs on it or not (SQLite: its own connection beside the server's; Redis: shared anyway).

    minidiscord admin create-admin USERNAME [--password-file PATH]
    minidiscord admin invite

A password is never a flag (flags show in ``ps`` and shell history): it is read from
``--password-file``, else from ``MINIDISCORD_ADMIN_PASSWORD``, else prompted for twice.
The store options are the server's (``--db``, ``--store``, ``--redis-url``,
``--redis-prefix`` and their environment variables). The next subcommands (roles, bans,
sessions, pruning, the audit log) go beside these in ``COMMANDS``.
"""

import argparse
import getpass
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

import trio

from ...config import OPTIONS, Settings, SettingsError
from ..models import Role
from ..store.sqlite import StoreError
from .factory import accounts_for, open_accounts
from .service import INVITE_SECONDS, AccountError, Accounts

PASSWORD_ENV = "MINIDISCORD_ADMIN_PASSWORD"
# The server's options that say where the store is.
STORE_OPTIONS = ("store", "db_path", "redis_url", "redis_prefix")


class AdminError(Exception):
    """Why the command cannot run; one line for the user."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minidiscord admin", description="Administer accounts on the configured store."
    )
    for option in OPTIONS:
        if option.field in STORE_OPTIONS:
            parser.add_argument(
                option.flag, dest=option.field, metavar=option.metavar, help=option.help
            )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    create = commands.add_parser(
        "create-admin", help="create an administrator account (the first one, typically)"
    )
    create.add_argument("username")
    create.add_argument(
        "--password-file",
        metavar="PATH",
        help=f"read the password from this file (else ${PASSWORD_ENV}, else a prompt)",
    )
    commands.add_parser(
        "invite", help=f"print a new invite code (one use, valid {INVITE_SECONDS // 86400} days)"
    )
    return parser


def main(argv: Sequence[str], environ: Mapping[str, str] = os.environ) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(environ).updated(
            {field: getattr(args, field) for field in STORE_OPTIONS}, use="flag"
        )
        if settings.redis_url is None and settings.store == "memory":
            raise AdminError(
                "the memory store lives inside the server process: administer a server "
                "on sqlite (--db) or redis (--redis-url)"
            )
        command = COMMANDS[args.command]
        work = command(args, environ)
        store = open_accounts(settings)
    except (SettingsError, StoreError, AdminError) as exc:
        print(f"minidiscord admin: error: {exc}", file=sys.stderr)
        return 2
    accounts = accounts_for(settings, store)

    async def run() -> str | AccountError:
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            try:
                return await work(accounts)
            except AccountError as exc:
                # Returned, not raised: out of the nursery it would come wrapped in a group.
                return exc
            finally:
                await store.close()
                nursery.cancel_scope.cancel()

    outcome = trio.run(run)
    if isinstance(outcome, AccountError):
        print(f"minidiscord admin: error: {outcome.message}", file=sys.stderr)
        return 1
    print(outcome)
    return 0


Work = Callable[[Accounts], Awaitable[str]]


def create_admin(args: argparse.Namespace, environ: Mapping[str, str]) -> Work:
    password = _password(args.password_file, environ)

    async def work(accounts: Accounts) -> str:
        account = await accounts.create_account(args.username, password, Role.ADMIN)
        return f"created administrator {account.username!r}"

    return work


def invite(args: argparse.Namespace, environ: Mapping[str, str]) -> Work:
    async def work(accounts: Accounts) -> str:
        return await accounts.create_invite("cli")

    return work


COMMANDS: dict[str, Callable[[argparse.Namespace, Mapping[str, str]], Work]] = {
    "create-admin": create_admin,
    "invite": invite,
}


def _password(path: str | None, environ: Mapping[str, str]) -> str:
    if path is not None:
        try:
            return Path(path).read_text().rstrip("\r\n")
        except OSError as exc:
            raise AdminError(f"cannot read the password file {path}: {exc.strerror}") from None
    if PASSWORD_ENV in environ:
        return environ[PASSWORD_ENV]
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise AdminError("the two passwords differ")
    return first
