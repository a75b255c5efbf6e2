"""minidiscord: a real-time chat server speaking Socket.IO v4 on trio and hypercorn.

Its Socket.IO layer is usable on its own: :class:`minidiscord.sockets.SocketServer` is an
ASGI app, and :func:`minidiscord.serve` serves it from a trio program.
"""

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["serve"]

if TYPE_CHECKING:
    from .serving import serve


def __getattr__(name: str) -> Any:
    # Imported on first use: ``import minidiscord.protocol`` (the codecs alone) need not
    # load the front ends and hypercorn.
    if name == "serve":
        from .serving import serve

        return serve
    raise AttributeError(f"module 'minidiscord' has no attribute {name!r}")
