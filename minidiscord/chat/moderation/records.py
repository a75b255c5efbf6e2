"""What moderation keeps: bans and the audit log's entries."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    """Every moderation action (the audit log's ``action``)."""

    DELETE_MESSAGE = "delete message"
    TIMEOUT = "timeout"
    KICK = "kick"
    BAN = "ban"
    UNBAN = "unban"
    SET_ROLE = "set role"
    REVOKE_SESSIONS = "revoke sessions"
    PRUNE_GUESTS = "prune guests"
    CHANGE_CHANNEL = "change channel"
    MAKE_INVITE = "make invite"


@dataclass(frozen=True, slots=True)
class Ban:
    """A ban of ``subject``: an account's id (it cannot log in or connect), or a guest's
    user id (its session cannot connect)."""

    subject: str
    reason: str
    banned_by: str
    created: int  # ms since the epoch


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who (``actor``) did what (``action``) to whom (``target``), when (``at``, ms) and why
    (``reason``); ``detail`` says the rest (a message's id and channel, a role, a time).
    ``id`` is given by the store, increasing: the log is paged by it, newest first."""

    at: int
    actor: str
    action: Action
    target: str
    reason: str = ""
    detail: str = ""
    id: int = 0

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "actor": self.actor,
            "action": self.action.value,
            "target": self.target,
            "reason": self.reason,
            "detail": self.detail,
        }
