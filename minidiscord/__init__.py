"""minidiscord: a real-time chat server speaking Socket.IO v4 on trio and hypercorn."""

__version__ = "0.1.0"
