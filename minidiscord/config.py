"""The server's settings: one frozen object, read from flags and MINIDISCORD_* variables.

Every option is declared once in :data:`OPTIONS`, which drives the environment reader,
the command line (``minidiscord --help``) and the README's options table.
"""

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal, TypeVar, get_args

from .addresses import TrustedProxies
from .chat.accounts.hashing import Cost
from .chat.accounts.service import REGISTRATION_MODES, AuthMode, Registration
from .chat.accounts.sessions import DEFAULT_ABSOLUTE_SECONDS, DEFAULT_IDLE_SECONDS
from .chat.moderation.service import DEFAULT_AUDIT_DAYS, DEFAULT_AUDIT_ENTRIES, AuditRetention
from .limits import Rate, SettingsFormatError, parse_rate
from .redis.target import RedisTarget, RedisURLError, parse_redis_url

# Settings that take one of a few words: the type names the words, the tuple lists them.
StoreKind = Literal["sqlite", "memory"]
Frontend = Literal["hypercorn", "native"]
LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["text", "json"]
STORE_KINDS: tuple[StoreKind, ...] = get_args(StoreKind)
FRONTENDS: tuple[Frontend, ...] = get_args(Frontend)
LOG_LEVELS: tuple[LogLevel, ...] = get_args(LogLevel)
LOG_FORMATS: tuple[LogFormat, ...] = get_args(LogFormat)
AUTH_MODES: tuple[AuthMode, ...] = get_args(AuthMode)
DEFAULT_CORS_ORIGINS = ("http://localhost:5173", "http://localhost:4173")
DEFAULT_FORWARDED_ALLOW_IPS = ("127.0.0.1", "::1")
DEFAULT_RATE_LIMIT = Rate(10, 1.0)
DEFAULT_CLIENT_PACKET_RATE = Rate(100, 20.0)
DEFAULT_IP_CONNECT_RATE = Rate(100, 50.0)
# New TCP connections per address: a session takes one to three (polling, then WebSocket),
# so three times the session rate.
DEFAULT_IP_CONNECTION_RATE = Rate(300, 100.0)
# A NAT'd office of a few dozen people stays clear of these (see the README).
DEFAULT_HISTORY_RATE = Rate(10, 2.0)
DEFAULT_IP_NEW_USER_RATE = Rate(50, 0.05)
DEFAULT_IP_MESSAGE_RATE = Rate(100, 10.0)
# Wrong passwords per account: 5, then one a minute; attempts per address: 20, then one
# every 5 s (a NAT'd office logging in on Monday morning stays clear).
DEFAULT_LOGIN_RATE = Rate(5, 1 / 60)
DEFAULT_IP_LOGIN_RATE = Rate(20, 0.2)
DEFAULT_PASSWORD_COST = Cost()


class SettingsError(ValueError):
    """A setting has a value the server refuses; the message names the option."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8181
    # Origins allowed to use the server cross-site; the server's own origin is always
    # allowed. "*" admits any origin (for the conformance suites and development).
    cors_origins: tuple[str, ...] = DEFAULT_CORS_ORIGINS
    # "sqlite" (durable, the default) or "memory" (tests, throwaway servers).
    store: StoreKind = "sqlite"
    db_path: str = "minidiscord.db"
    history_limit: int = 50
    socketio_path: str = "/socket.io/"
    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    max_payload: int = 1_000_000
    # A session that has not joined a namespace by then is closed (half-open sessions
    # expire quickly: they prove nothing and cost as much as real ones).
    connect_timeout: float = 45.0
    # Frames, and bytes, held for one client before it counts as a slow consumer and is
    # dropped; bytes held for all the clients of one address.
    client_buffer: int = 1024
    client_buffer_bytes: int = 2 * 1024 * 1024
    ip_buffer_bytes: int = 64 * 1024 * 1024
    # Packets of any kind (events, acks, pongs) one connection may send.
    client_packet_rate: Rate | None = DEFAULT_CLIENT_PACKET_RATE
    # How long a graceful shutdown waits for clients to be closed before it gives up.
    shutdown_timeout: float = 10.0
    # Chat messages per user: a burst, then a steady rate (None: unlimited).
    rate_limit: Rate | None = DEFAULT_RATE_LIMIT
    # New sessions per client address, and sessions open at once per address.
    ip_connect_rate: Rate | None = DEFAULT_IP_CONNECT_RATE
    ip_max_sessions: int | None = 1000
    # History pages per user; new users and chat messages per client address.
    history_rate: Rate | None = DEFAULT_HISTORY_RATE
    ip_new_user_rate: Rate | None = DEFAULT_IP_NEW_USER_RATE
    ip_message_rate: Rate | None = DEFAULT_IP_MESSAGE_RATE
    # Offline users in the `users` list a client gets on connect (None: all of them).
    users_listed_offline: int | None = 1000
    # Connection state recovery: seconds a dropped client may take to come back and get
    # what it missed (0: off).
    recovery_window: float = 120.0
    # Seconds a user whose last connection dropped still counts as online, so a blip does
    # not flicker their presence for others (0: offline at once).
    presence_grace: float = 3.0
    # TCP connections open at once per client address, counted at accept time (trusted
    # proxies exempt): twice the sessions, as a polling session holds a GET and a POST.
    ip_max_connections: int | None = 2000
    ip_connection_rate: Rate | None = DEFAULT_IP_CONNECTION_RATE
    # Sessions open at once on this server; handshakes beyond it get 503.
    max_connections: int = 20_000
    log_level: LogLevel = "info"
    log_format: LogFormat = "text"
    # What speaks HTTP and WebSocket: the native trio front end (the default: faster
    # fan-out, direct sends) or hypercorn (ASGI; HTTP/2), one flag away.
    frontend: Frontend = "native"
    # TLS (https and wss) on either front end: the certificate chain and its private key,
    # PEM files (None: plain HTTP; the key may be in the certificate's file).
    certfile: str | None = None
    keyfile: str | None = None
    # Peers whose Forwarded / X-Forwarded-For headers name the real client (reverse
    # proxies): addresses or networks, or "*" for any peer.
    forwarded_allow_ips: tuple[str, ...] = DEFAULT_FORWARDED_ALLOW_IPS
    # Host names the server answers to besides localhost names, IP literals and --host
    # ("*" for any; ".example.com" for a domain and its subdomains).
    allowed_hosts: tuple[str, ...] = ()
    # When set, GET /metrics needs "Authorization: Bearer <token>".
    metrics_token: str | None = None
    # Cluster mode: the Redis server every node of the chat shares (None: one process).
    redis_url: RedisTarget | None = None
    # What every key this chat keeps in Redis starts with, so chats can share a server.
    redis_prefix: str = "minidiscord"
    # Cluster mode: seconds after a node's last heartbeat before the others presume it dead
    # and its users (not connected elsewhere) go offline.
    node_timeout: float = 10.0
    # Processes serving one port (a parent routes each connection to its session's worker).
    workers: int = 1
    # Who may connect: anyone as a guest (open) or only logged-in accounts; who may register.
    auth: AuthMode = "open"
    registration: Registration = "open"
    # Login sessions end this long after their last use, and this long after the login.
    session_idle: float = DEFAULT_IDLE_SECONDS
    session_lifetime: float = DEFAULT_ABSOLUTE_SECONDS
    # Wrong passwords per account, and login or registration attempts per address.
    login_rate: Rate | None = DEFAULT_LOGIN_RATE
    ip_login_rate: Rate | None = DEFAULT_IP_LOGIN_RATE
    # argon2id's parameters (no option: the defaults are RFC 9106's; tests make it cheap).
    password_cost: Cost = DEFAULT_PASSWORD_COST
    # The audit log keeps entries this many days, and at most this many of them.
    audit_days: int = DEFAULT_AUDIT_DAYS
    audit_entries: int = DEFAULT_AUDIT_ENTRIES

    @property
    def audit_retention(self) -> AuditRetention:
        return AuditRetention(self.audit_days, self.audit_entries)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        return cls().updated(environ if environ is not None else os.environ, use="env")

    def updated(self, values: Mapping[str, Any], *, use: str) -> "Settings":
        """These settings with the options found in ``values``.

        ``use="env"`` reads ``MINIDISCORD_*`` names; ``use="flag"`` reads argparse
        destinations (already split, lists for repeatable flags).
        """
        changes: dict[str, Any] = {}
        for option in OPTIONS:
            key = option.env if use == "env" else option.field
            raw = values.get(key)
            if raw is None:
                continue
            name = option.env if use == "env" else option.flag
            if use == "flag" and isinstance(raw, list):
                changes[option.field] = tuple(raw)
            else:
                changes[option.field] = option.parse(str(raw), name)
        return replace(self, **changes)


def parse_port(text: str, option: str) -> int:
    port = _integer(text, option, "a port number")
    if not 0 <= port <= 65535:
        raise SettingsError(f"{option}: {port} is out of range (0-65535)")
    return port


def parse_positive_int(text: str, option: str) -> int:
    value = _integer(text, option, "a whole number")
    if value < 1:
        raise SettingsError(f"{option}: {value} must be at least 1")
    return value


def parse_seconds(text: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{option}: {text!r} is not a number of seconds") from None
    if not 0 < value < 1e6:
        raise SettingsError(f"{option}: {text} must be a positive number of seconds")
    return value


def parse_seconds_or_off(text: str, option: str) -> float:
    """Seconds, where 0 turns the feature off."""
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{option}: {text!r} is not a number of seconds") from None
    if not 0 <= value < 1e6:
        raise SettingsError(f"{option}: {text} must be 0 (off) or a positive number of seconds")
    return value


def parse_origins(text: str, option: str = "MINIDISCORD_CORS_ORIGINS") -> tuple[str, ...]:
    origins = tuple(origin.strip() for origin in text.split(",") if origin.strip())
    if not origins:
        raise SettingsError(f"{option}: give at least one origin")
    return origins


def parse_proxies(text: str, option: str = "MINIDISCORD_FORWARDED_ALLOW_IPS") -> tuple[str, ...]:
    entries = tuple(entry.strip() for entry in text.split(",") if entry.strip())
    try:
        TrustedProxies(entries)
    except ValueError as exc:
        raise SettingsError(f"{option}: {exc}") from None
    return entries


def parse_names(text: str, option: str = "MINIDISCORD_ALLOWED_HOSTS") -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise SettingsError(f"{option}: give at least one host name")
    return names


def parse_rate_option(text: str, option: str) -> Rate | None:
    try:
        return parse_rate(text)
    except SettingsFormatError as exc:
        raise SettingsError(f"{option}: {exc}") from None


def parse_workers(text: str, option: str) -> int:
    """A number of worker processes, or "auto" for one per core."""
    if text.strip().lower() == "auto":
        return os.cpu_count() or 1
    return parse_positive_int(text, option)


def parse_limit(text: str, option: str) -> int | None:
    return None if text.strip().lower() == "off" else parse_positive_int(text, option)


def parse_text(text: str, option: str) -> str:
    if not text.strip():
        raise SettingsError(f"{option}: must not be empty")
    return text


def parse_redis(text: str, option: str) -> RedisTarget:
    try:
        return parse_redis_url(text)
    except RedisURLError as exc:
        raise SettingsError(f"{option}: {exc}") from None


def parse_key_prefix(text: str, option: str) -> str:
    if (
        not text
        or len(text) > 64
        or not all(c.isascii() and c.isprintable() and c != " " for c in text)
    ):
        raise SettingsError(
            f"{option}: {text!r} is not 1-64 printable ASCII characters without spaces"
        )
    return text


Word = TypeVar("Word", bound=str)


def choice(*choices: Word) -> Callable[[str, str], Word]:
    """A parser that takes one of ``choices`` and returns it typed as such."""

    def parse(text: str, option: str) -> Word:
        for word in choices:
            if word == text:
                return word
        raise SettingsError(f"{option}: {text!r} is not one of {', '.join(choices)}")

    return parse


parse_store = choice(*STORE_KINDS)
parse_frontend = choice(*FRONTENDS)
parse_auth = choice(*AUTH_MODES)
parse_registration = choice(*REGISTRATION_MODES)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_lifetime(text: str, option: str) -> float:
    """A duration: seconds, or a number with s, m, h or d (``14d``); up to ten years."""
    number, unit = text.strip(), "s"
    if number[-1:].lower() in _UNITS:
        number, unit = number[:-1], number[-1].lower()
    try:
        value = float(number) * _UNITS[unit]
    except ValueError:
        raise SettingsError(f"{option}: {text!r} is not a duration (e.g. 3600, 12h, 14d)") from None
    if not 0 < value <= 10 * 365 * 86400:
        raise SettingsError(f"{option}: {text} must be a positive duration of at most 10 years")
    return value


def _integer(text: str, option: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise SettingsError(f"{option}: {text!r} is not {what}") from None


@dataclass(frozen=True, slots=True)
class Option:
    field: str
    flag: str
    env: str
    parse: Callable[[str, str], Any]
    help: str
    metavar: str
    repeatable: bool = False


OPTIONS: tuple[Option, ...] = (
    Option("host", "--host", "MINIDISCORD_HOST", parse_text, "address to listen on", "HOST"),
    Option("port", "--port", "MINIDISCORD_PORT", parse_port, "port to listen on", "PORT"),
    Option(
        "cors_origins",
        "--cors-origin",
        "MINIDISCORD_CORS_ORIGINS",
        parse_origins,
        "a browser origin allowed to connect (repeatable; the environment variable takes a "
        "comma-separated list); '*' allows any; the server's own origin is always allowed",
        "ORIGIN",
        repeatable=True,
    ),
    Option(
        "store",
        "--store",
        "MINIDISCORD_STORE",
        parse_store,
        "sqlite or memory (not used with --redis-url: Redis is then the store)",
        "KIND",
    ),
    Option("db_path", "--db", "MINIDISCORD_DB", parse_text, "the SQLite database file", "PATH"),
    Option(
        "history_limit",
        "--history-limit",
        "MINIDISCORD_HISTORY_LIMIT",
        parse_positive_int,
        "messages per channel sent on connect",
        "N",
    ),
    Option(
        "ping_interval",
        "--ping-interval",
        "MINIDISCORD_PING_INTERVAL",
        parse_seconds,
        "seconds between heartbeats",
        "SECONDS",
    ),
    Option(
        "ping_timeout",
        "--ping-timeout",
        "MINIDISCORD_PING_TIMEOUT",
        parse_seconds,
        "seconds a client has to answer a heartbeat",
        "SECONDS",
    ),
    Option(
        "max_payload",
        "--max-payload",
        "MINIDISCORD_MAX_PAYLOAD",
        parse_positive_int,
        "largest message or polling body a client may send, in bytes",
        "BYTES",
    ),
    Option(
        "connect_timeout",
        "--connect-timeout",
        "MINIDISCORD_CONNECT_TIMEOUT",
        parse_seconds,
        "seconds a new connection has to join a namespace",
        "SECONDS",
    ),
    Option(
        "client_buffer",
        "--client-buffer",
        "MINIDISCORD_CLIENT_BUFFER",
        parse_positive_int,
        "frames queued for one client before it is dropped as a slow consumer",
        "FRAMES",
    ),
    Option(
        "client_buffer_bytes",
        "--client-buffer-bytes",
        "MINIDISCORD_CLIENT_BUFFER_BYTES",
        parse_positive_int,
        "bytes queued or being written for one client before it is dropped as a slow consumer",
        "BYTES",
    ),
    Option(
        "ip_buffer_bytes",
        "--ip-buffer-bytes",
        "MINIDISCORD_IP_BUFFER_BYTES",
        parse_positive_int,
        "bytes held for all the clients of one address; past it the one holding the most is "
        "dropped",
        "BYTES",
    ),
    Option(
        "client_packet_rate",
        "--client-packet-rate",
        "MINIDISCORD_CLIENT_PACKET_RATE",
        parse_rate_option,
        "packets of any kind one connection may send: BURST:PER_SECOND, or off; past it the "
        "client is told, then disconnected",
        "RATE",
    ),
    Option(
        "shutdown_timeout",
        "--shutdown-timeout",
        "MINIDISCORD_SHUTDOWN_TIMEOUT",
        parse_seconds,
        "seconds a graceful shutdown waits for clients to be closed",
        "SECONDS",
    ),
    Option(
        "rate_limit",
        "--rate-limit",
        "MINIDISCORD_RATE_LIMIT",
        parse_rate_option,
        "chat messages per user: BURST:PER_SECOND, or off",
        "RATE",
    ),
    Option(
        "ip_connect_rate",
        "--ip-connect-rate",
        "MINIDISCORD_IP_CONNECT_RATE",
        parse_rate_option,
        "new sessions per client address: BURST:PER_SECOND, or off",
        "RATE",
    ),
    Option(
        "ip_max_sessions",
        "--ip-max-sessions",
        "MINIDISCORD_IP_MAX_SESSIONS",
        parse_limit,
        "sessions open at once per client address, or off",
        "N",
    ),
    Option(
        "history_rate",
        "--history-rate",
        "MINIDISCORD_HISTORY_RATE",
        parse_rate_option,
        "channel:history pages per user: BURST:PER_SECOND, or off",
        "RATE",
    ),
    Option(
        "ip_new_user_rate",
        "--ip-new-user-rate",
        "MINIDISCORD_IP_NEW_USER_RATE",
        parse_rate_option,
        "new users (not restored sessions) per client address, and (counted apart) new "
        "accounts: BURST:PER_SECOND, or off",
        "RATE",
    ),
    Option(
        "ip_message_rate",
        "--ip-message-rate",
        "MINIDISCORD_IP_MESSAGE_RATE",
        parse_rate_option,
        "chat messages per client address, all its users together: BURST:PER_SECOND, or off",
        "RATE",
    ),
    Option(
        "users_listed_offline",
        "--users-listed-offline",
        "MINIDISCORD_USERS_LISTED_OFFLINE",
        parse_limit,
        "offline users in the users list sent on connect: the N most recently seen within "
        "30 days, or off for every user",
        "N",
    ),
    Option(
        "recovery_window",
        "--recovery-window",
        "MINIDISCORD_RECOVERY_WINDOW",
        parse_seconds_or_off,
        "seconds a client whose connection dropped may take to reconnect and get back its "
        "socket and every event it missed (connection state recovery); 0 turns it off",
        "SECONDS",
    ),
    Option(
        "presence_grace",
        "--presence-grace",
        "MINIDISCORD_PRESENCE_GRACE",
        parse_seconds_or_off,
        "seconds a user whose last connection dropped still shows online to others, so a "
        "blip causes no user:disconnect/user:connect; 0 shows them offline at once",
        "SECONDS",
    ),
    Option(
        "ip_max_connections",
        "--ip-max-connections",
        "MINIDISCORD_IP_MAX_CONNECTIONS",
        parse_limit,
        "TCP connections open at once per client address, or off (trusted proxies are "
        "exempt); more get HTTP 429 and are closed; one address never gets more than half of "
        "what the file limit allows",
        "N",
    ),
    Option(
        "ip_connection_rate",
        "--ip-connection-rate",
        "MINIDISCORD_IP_CONNECTION_RATE",
        parse_rate_option,
        "new TCP connections per client address: BURST:PER_SECOND, or off (trusted proxies "
        "are exempt); more get HTTP 429 and are closed (over TLS, closed before the handshake)",
        "RATE",
    ),
    Option(
        "max_connections",
        "--max-connections",
        "MINIDISCORD_MAX_CONNECTIONS",
        parse_positive_int,
        "sessions open at once on this server; more get HTTP 503",
        "N",
    ),
    Option(
        "log_level",
        "--log-level",
        "MINIDISCORD_LOG_LEVEL",
        choice(*LOG_LEVELS),
        "debug, info, warning or error",
        "LEVEL",
    ),
    Option(
        "log_format",
        "--log-format",
        "MINIDISCORD_LOG_FORMAT",
        choice(*LOG_FORMATS),
        "text, or json for one object per line",
        "FORMAT",
    ),
    Option(
        "frontend",
        "--frontend",
        "MINIDISCORD_FRONTEND",
        parse_frontend,
        "what serves HTTP and WebSocket: native (trio + h11 + wsproto, faster fan-out; "
        "no HTTP/2), or hypercorn",
        "NAME",
    ),
    Option(
        "certfile",
        "--certfile",
        "MINIDISCORD_CERTFILE",
        parse_text,
        "serve TLS (https, wss) with this certificate chain (PEM; the server's certificate "
        "first), on either front end",
        "PATH",
    ),
    Option(
        "keyfile",
        "--keyfile",
        "MINIDISCORD_KEYFILE",
        parse_text,
        "the private key of --certfile (PEM, unencrypted; default: in the --certfile file)",
        "PATH",
    ),
    Option(
        "forwarded_allow_ips",
        "--forwarded-allow-ips",
        "MINIDISCORD_FORWARDED_ALLOW_IPS",
        parse_proxies,
        "proxies (addresses or networks, comma-separated; '*' for any) whose "
        "Forwarded / X-Forwarded-For headers name the client; every per-address limit and "
        "log line then uses that client's address",
        "ADDRS",
    ),
    Option(
        "allowed_hosts",
        "--allowed-hosts",
        "MINIDISCORD_ALLOWED_HOSTS",
        parse_names,
        "host names the server answers to (comma-separated; '.example.com' for a domain and "
        "its subdomains; '*' for any), besides localhost names, IP addresses and --host; "
        "other Host headers get 400 (DNS rebinding)",
        "HOSTS",
    ),
    Option(
        "metrics_token",
        "--metrics-token",
        "MINIDISCORD_METRICS_TOKEN",
        parse_text,
        "a secret that GET /metrics must present as 'Authorization: Bearer TOKEN' "
        "(default: /metrics is open)",
        "TOKEN",
    ),
    Option(
        "redis_url",
        "--redis-url",
        "MINIDISCORD_REDIS_URL",
        parse_redis,
        "cluster mode: redis://HOST:PORT/DB (or rediss://, unix://) shared by every node of "
        "the chat, which is then its store and message bus (default: one process)",
        "URL",
    ),
    Option(
        "redis_prefix",
        "--redis-prefix",
        "MINIDISCORD_REDIS_PREFIX",
        parse_key_prefix,
        "what every key of this chat in Redis starts with (chats sharing a Redis server "
        "need different ones)",
        "PREFIX",
    ),
    Option(
        "node_timeout",
        "--node-timeout",
        "MINIDISCORD_NODE_TIMEOUT",
        parse_seconds,
        "cluster mode: seconds without a heartbeat after which a node is presumed dead and "
        "its users not connected to another node go offline for everyone",
        "SECONDS",
    ),
    Option(
        "auth",
        "--auth",
        "MINIDISCORD_AUTH",
        parse_auth,
        "open: anyone may chat as a guest under a name no account holds; accounts: only "
        "logged-in users may connect",
        "MODE",
    ),
    Option(
        "registration",
        "--registration",
        "MINIDISCORD_REGISTRATION",
        parse_registration,
        "who may register an account: open (anyone), invite (with a code from "
        "`minidiscord admin invite`) or closed (only `minidiscord admin`)",
        "MODE",
    ),
    Option(
        "session_idle",
        "--session-idle",
        "MINIDISCORD_SESSION_IDLE",
        parse_lifetime,
        "a session (a login's or a guest's) ends after this long unused (seconds, or with "
        "s, m, h, d)",
        "DURATION",
    ),
    Option(
        "session_lifetime",
        "--session-lifetime",
        "MINIDISCORD_SESSION_LIFETIME",
        parse_lifetime,
        "a session ends this long after the login (a guest's: its first connect), however "
        "much it is used",
        "DURATION",
    ),
    Option(
        "login_rate",
        "--login-rate",
        "MINIDISCORD_LOGIN_RATE",
        parse_rate_option,
        "wrong passwords per account (BURST:PER_SECOND, or off); checked before the "
        "password, so a throttled account refuses even the right one until it refills",
        "RATE",
    ),
    Option(
        "ip_login_rate",
        "--ip-login-rate",
        "MINIDISCORD_IP_LOGIN_RATE",
        parse_rate_option,
        "login and registration attempts per client address (BURST:PER_SECOND, or off)",
        "RATE",
    ),
    Option(
        "audit_days",
        "--audit-days",
        "MINIDISCORD_AUDIT_DAYS",
        parse_positive_int,
        "the audit log keeps entries this many days (the server prunes it hourly; "
        "`minidiscord admin audit --prune` at once)",
        "N",
    ),
    Option(
        "audit_entries",
        "--audit-entries",
        "MINIDISCORD_AUDIT_ENTRIES",
        parse_positive_int,
        "the audit log keeps at most this many entries, the newest",
        "N",
    ),
    Option(
        "workers",
        "--workers",
        "MINIDISCORD_WORKERS",
        parse_workers,
        "processes serving the port, or auto for one per core; above 1 needs --redis-url "
        "and --frontend native, and serves no TLS (a parent hands each connection to its "
        "session's worker)",
        "N",
    ),
)

assert {option.field for option in OPTIONS} <= {f.name for f in fields(Settings)}


def default_of(option: Option) -> str:
    value = getattr(Settings(), option.field)
    if value is None:
        return "off"
    return (", ".join(value) or "none") if isinstance(value, tuple) else str(value)
