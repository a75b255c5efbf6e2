"""Full-text search over the messages a user may read (issue 18)."""
