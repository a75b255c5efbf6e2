"""minidiscord: a real-time chat server speaking Socket.IO v4 on trio and hypercorn.

Its Socket.IO layer is usable on its own: :class:`minidiscord.sockets.SocketServer` is an
ASGI app, :func:`minidiscord.serve` serves it from a trio program, and
:func:`minidiscord.run_workers` from several processes on one port.
"""

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["run_workers", "serve"]

if TYPE_CHECKING:
    from .serving import serve
    from .workers import run_workers


def __getattr__(name: str) -> Any:
    # Imported on first use: ``import minidiscord.protocol`` (the codecs alone) need not
    # load the front ends and hypercorn.
    if name == "serve":
        from .serving import serve

        return serve
    if name == "run_workers":
        from .workers import run_workers

        return run_workers
    raise AttributeError(f"module 'minidiscord' has no attribute {name!r}")
