"""The server's settings: one frozen object, read from the environment or built by the CLI."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_CORS_ORIGINS = ("http://localhost:5173", "http://localhost:4173")


class SettingsError(ValueError):
    """A setting has a value the server refuses; the message names the option."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8181
    # Origins allowed to use the server cross-site; the server's own origin is always
    # allowed. "*" admits any origin (for the conformance suites and development).
    cors_origins: tuple[str, ...] = DEFAULT_CORS_ORIGINS
    socketio_path: str = "/socket.io/"
    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    max_payload: int = 1_000_000
    connect_timeout: float = 45.0
    # Frames queued for one client before it counts as a slow consumer and is dropped.
    client_buffer: int = 1024
    history_limit: int = 50
    # "sqlite" (durable, the default) or "memory" (tests, throwaway servers).
    store: str = "sqlite"
    db_path: str = "minidiscord.db"
    log_level: str = "info"
    extra_env: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        if "MINIDISCORD_HOST" in env:
            values["host"] = env["MINIDISCORD_HOST"]
        if "MINIDISCORD_PORT" in env:
            values["port"] = parse_port(env["MINIDISCORD_PORT"], "MINIDISCORD_PORT")
        if "MINIDISCORD_CORS_ORIGINS" in env:
            values["cors_origins"] = parse_origins(env["MINIDISCORD_CORS_ORIGINS"])
        if "MINIDISCORD_STORE" in env:
            values["store"] = parse_store(env["MINIDISCORD_STORE"], "MINIDISCORD_STORE")
        if "MINIDISCORD_DB" in env:
            values["db_path"] = env["MINIDISCORD_DB"]
        if "MINIDISCORD_LOG_LEVEL" in env:
            values["log_level"] = env["MINIDISCORD_LOG_LEVEL"]
        return cls(**values)  # type: ignore[arg-type]


def parse_port(text: str, option: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise SettingsError(f"{option}: {text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise SettingsError(f"{option}: {port} is out of range (0-65535)")
    return port


def parse_origins(text: str) -> tuple[str, ...]:
    return tuple(origin.strip() for origin in text.split(",") if origin.strip())


STORE_KINDS = ("sqlite", "memory")


def parse_store(text: str, option: str) -> str:
    if text not in STORE_KINDS:
        raise SettingsError(f"{option}: {text!r} is not a store (choose sqlite or memory)")
    return text
