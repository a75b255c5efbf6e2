"""Unread state on the server: each user's read position per channel (issue 18)."""
