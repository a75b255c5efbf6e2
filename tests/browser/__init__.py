"""Tests of the built-in web client: its file server, and the page in a real Chromium."""
