"""``minidiscord admin``: account administration on the configured store, whether a server
runs on it or not (SQLite: its own connection beside the server's; Redis: shared anyway).

    minidiscord admin create-admin USERNAME [--password-file PATH]
    minidiscord admin invite
    minidiscord admin users [SEARCH] [--limit N]
    minidiscord admin set-role USERNAME admin|moderator|member
    minidiscord admin ban (USERNAME | --user-id ID) --reason TEXT
    minidiscord admin unban (USERNAME | --user-id ID) [--reason TEXT]
    minidiscord admin revoke-sessions USERNAME
    minidiscord admin prune-guests --days N
    minidiscord admin audit [--limit N] [--before ID] [--prune]

A password is never a flag (flags show in ``ps`` and shell history): it is read from
``--password-file``, else from ``MINIDISCORD_ADMIN_PASSWORD``, else prompted for twice.
The store options are the server's (``--db``, ``--store``, ``--redis-url``,
``--redis-prefix`` and their environment variables). Everything done here is done as the
operator (``moderation.service.OPERATOR``) and written to the audit log like a moderator's
action. What running servers must do about it (a banned user's tabs let go, a revoked
session's tabs ended, a role change told to everyone, pruned guests dropped from the users
list) is put in their ``Outbox`` (moderation/effects.py): on Redis the cluster log, which
every node reads at once; on SQLite the outbox table, which the server reads every second
(moderation/upkeep.py). Exit codes: 0 done, 1 refused (the reason on one line), 2 a usage
or store problem.
"""

import argparse
import getpass
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import trio

from ...config import OPTIONS, Settings, SettingsError
from ...redis.connection import open_redis
from ..cluster.effects import LogOutbox
from ..models import Role
from ..moderation.directory import Directory, StoreDirectory, matching
from ..moderation.effects import Outbox, kicked, logged_out, role_changed
from ..moderation.service import (
    OPERATOR,
    AuditRetention,
    Moderation,
    ModerationError,
    Person,
)
from ..notices import clock_time
from ..store.base import StoreReadError, StoreWriteError
from ..store.factory import store_for
from ..store.sqlite import StoreError
from .factory import accounts_for, open_accounts
from .service import INVITE_SECONDS, AccountError, Accounts
from .sqlite import SqliteAccounts
from .store import AccountStore

PASSWORD_ENV = "MINIDISCORD_ADMIN_PASSWORD"
# The server's options that say where the store is, and how much audit log it keeps.
STORE_OPTIONS = ("store", "db_path", "redis_url", "redis_prefix", "audit_days", "audit_entries")


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
    users = commands.add_parser("users", help="list users, or those whose name or id has SEARCH")
    users.add_argument("search", nargs="?")
    users.add_argument("--limit", type=_positive, default=50, metavar="N")
    role = commands.add_parser("set-role", help="set an account's role")
    role.add_argument("username")
    role.add_argument("role", choices=("admin", "moderator", "member"))
    ban = commands.add_parser("ban", help="ban an account (or a guest, by --user-id)")
    _target_arguments(ban)
    ban.add_argument("--reason", required=True)
    unban = commands.add_parser("unban", help="lift a ban")
    _target_arguments(unban)
    unban.add_argument("--reason", default="")
    revoke = commands.add_parser("revoke-sessions", help="end every login session of an account")
    revoke.add_argument("username")
    prune = commands.add_parser("prune-guests", help="remove guests not seen for N days")
    prune.add_argument("--days", type=_positive, required=True, metavar="N")
    audit = commands.add_parser("audit", help="show the audit log, newest first")
    audit.add_argument("--limit", type=_positive, default=50, metavar="N")
    audit.add_argument("--before", type=_positive, metavar="ID", help="entries older than ID")
    audit.add_argument(
        "--prune",
        action="store_true",
        help="drop the entries past --audit-days / --audit-entries first (as the server does)",
    )
    return parser


def _target_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("username", nargs="?", help="an account's name")
    target.add_argument("--user-id", metavar="ID", help="a guest's user id")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {value}")
    return value


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
        # Redis: the chat store too (no lock there), for the users, and the cluster log for
        # the running nodes; SQLite: the account store's own connection reaches the users
        # (the chat store's lock is the server's) and the outbox the running server reads.
        chat = store_for(settings) if settings.redis_url is not None else None
    except (SettingsError, StoreError, AdminError) as exc:
        print(f"minidiscord admin: error: {exc}", file=sys.stderr)
        return 2
    accounts = accounts_for(settings, store)
    client = open_redis(settings.redis_url) if settings.redis_url is not None else None
    directory: Directory = StoreDirectory(chat) if chat is not None else _sqlite(store)
    outbox: Outbox = (
        LogOutbox(client, settings.redis_prefix) if client is not None else _sqlite(store)
    )
    tools = Tools(accounts, Moderation(accounts), directory, outbox, settings.audit_retention)

    async def sessions_ended(digests: frozenset[bytes]) -> None:
        await outbox.publish(logged_out(digests))

    accounts.on_sessions_ended(sessions_ended)

    async def run() -> str | AccountError | ModerationError:
        # The log's client is opened around the nursery, so it closes outside its
        # cancelled scope.
        async with AsyncExitStack() as stack:
            if client is not None:
                await stack.enter_async_context(client)
            return await in_nursery()

    async def in_nursery() -> str | AccountError | ModerationError:
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            if chat is not None:
                await nursery.start(chat.run)
            try:
                return await work(tools)
            except (AccountError, ModerationError) as exc:
                # Returned, not raised: out of the nursery it would come wrapped in a group.
                return exc
            except (StoreReadError, StoreWriteError) as exc:
                return ModerationError(f"the store failed: {exc}")
            finally:
                if chat is not None:
                    await chat.close()
                await store.close()
                nursery.cancel_scope.cancel()

    outcome = trio.run(run)
    if isinstance(outcome, AccountError | ModerationError):
        print(f"minidiscord admin: error: {outcome.message}", file=sys.stderr)
        return 1
    print(outcome)
    return 0


@dataclass(frozen=True, slots=True)
class Tools:
    """What a subcommand works with."""

    accounts: Accounts
    moderation: Moderation
    directory: Directory
    # Where what the running servers must apply goes.
    outbox: Outbox
    audit_retention: AuditRetention


Work = Callable[[Tools], Awaitable[str]]


def _sqlite(store: AccountStore) -> SqliteAccounts:
    assert isinstance(store, SqliteAccounts), "the memory store is refused before this"
    return store


def create_admin(args: argparse.Namespace, environ: Mapping[str, str]) -> Work:
    password = _password(args.password_file, environ)

    async def work(tools: Tools) -> str:
        account = await tools.accounts.create_account(args.username, password, Role.ADMIN)
        return f"created administrator {account.username!r}"

    return work


def invite(args: argparse.Namespace, environ: Mapping[str, str]) -> Work:
    async def work(tools: Tools) -> str:
        code, _ = await tools.moderation.make_invite(OPERATOR)
        return code

    return work


def users(args: argparse.Namespace, environ: Mapping[str, str]) -> Work:
    async def work(tools: Tools) -> str:
        found = matching(await tools.directory.listed(), args.search)
        lines = [f"{len(found)} users" + (f" matching {args.search!r}" if args.search else "")]
        for entry in found[: args.limit]:
            user = entry.user
            seen = "never" if entry.last_seen == 0 else clock_time(entry.last_seen)
            person = await tools.moderation.person(user.user_id, user.username, user.role)
            ban = await tools.moderation.banned(person.subject)
            banned = "" if ban is None else f"  banned: {ban.reason}"
            lines.append(f"{user.user_id}  {person.role.value:9}  {seen}  {user.username}{banned}")
        if len(found) > args.limit:
            lines.append(f"... and {len(found) - args.limit} more (--limit)")
        return "\n".join(lines)

    return work


def set_role(args: argparse.Namespace, environ: Mapping[str, str]) -> Work:
    async def work(tools: Tools) -> str:
        target = await tools.moderation.account_named(args.username)
        role = await tools.moderation.set_role(OPERATOR, target, args.role)
        if target.user_id is not None:  # else it never connected: no chat user yet
            await tools.directory.set_user_role(target.user_id, role)
            await tools.outbox.publish(role_changed(target.user_id, role))
        return f"{target.name!r} is now {role.value}"

    return work


async def _target(tools: Tools, args: argparse.Namespace) -> Person:
    if args.user_id is not None:
        return await tools.moderation.person(args.user_id, args.user_id, Role.GUEST)
    return await tools.moderation.account_named(args.username)


def ban(args: argparse.Namespace, environ: Mapping[str, str]) -> Work:
    async def work(tools: Tools) -> str:
        target = await _target(tools, args)
        made = await tools.moderation.ban(OPERATOR, target, args.reason)
        if target.user_id is not None:
            # Every open tab of the user goes (an account's sessions also ended above).
            await tools.outbox.publish(kicked(target.user_id))
        return f"banned {target.name!r}: {made.reason}"

    return work


def unban(args: argparse.Namespace, environ: Mapping[str, str]) -> Work:
    async def work(tools: Tools) -> str:
        target = await _target(tools, args)
        await tools.moderation.unban(OPERATOR, target, args.reason)
        return f"unbanned {target.name!r}"

    return work


def revoke_sessions(args: argparse.Namespace, environ: Mapping[str, str]) -> Work:
    async def work(tools: Tools) -> str:
        target = await tools.moderation.account_named(args.username)
        ended = await tools.moderation.revoke_sessions(OPERATOR, target)
        return f"ended {ended} sessions of {target.name!r}"

    return work


def prune_guests(args: argparse.Namespace, environ: Mapping[str, str]) -> Work:
    async def work(tools: Tools) -> str:
        gone = await tools.moderation.prune_guests(OPERATOR, tools.directory, args.days)
        return f"removed {len(gone)} guests not seen for {args.days} days"

    return work


def audit(args: argparse.Namespace, environ: Mapping[str, str]) -> Work:
    async def work(tools: Tools) -> str:
        pruned = ""
        if args.prune:
            gone = await tools.moderation.prune_audit(tools.audit_retention)
            retention = tools.audit_retention
            pruned = (
                f"pruned {gone} entries (kept {retention.days} days, at most "
                f"{retention.entries} entries)\n"
            )
        entries = await tools.moderation.audit(OPERATOR, args.before, args.limit)
        if not entries:
            return pruned + "the audit log has no entries" + (" there" if args.before else "")
        return pruned + "\n".join(
            f"#{e.id}  {clock_time(e.at)}  {e.actor}  {e.action.value}  {e.target}"
            + (f"  ({e.detail})" if e.detail else "")
            + (f"  why: {e.reason}" if e.reason else "")
            for e in entries
        )

    return work


COMMANDS: dict[str, Callable[[argparse.Namespace, Mapping[str, str]], Work]] = {
    "create-admin": create_admin,
    "invite": invite,
    "users": users,
    "set-role": set_role,
    "ban": ban,
    "unban": unban,
    "revoke-sessions": revoke_sessions,
    "prune-guests": prune_guests,
    "audit": audit,
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
