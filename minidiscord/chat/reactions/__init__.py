"""Reactions on messages (issue 18): which emoji, who reacted, bounded, on every store."""
