"""The chat application: users, sessions, channels and messages on the Socket.IO layer."""

from .models import CHANNELS, WELCOME_CHANNEL, Message, Session, User

__all__ = ["CHANNELS", "WELCOME_CHANNEL", "Message", "Session", "User"]
