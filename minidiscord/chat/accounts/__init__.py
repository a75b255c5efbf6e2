"""Accounts: registered names with passwords, their login sessions, roles and invites."""
