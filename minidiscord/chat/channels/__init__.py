"""Channels beyond the original five, and direct conversations (issue 18)."""
