"""Moderation: deleting messages, timeouts, kicks, bans, roles, and the audit log."""
