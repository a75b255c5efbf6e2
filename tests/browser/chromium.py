"""Debian's Chromium, headless, through playwright: the one way the browser tests and
scripts/screenshot.py start a browser (never a browser playwright downloads)."""

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium() -> str | None:
    """`MINIDISCORD_CHROMIUM` if set (and a file), else the first Chromium on the PATH."""
    configured = os.environ.get("MINIDISCORD_CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    for candidate in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


def launch(playwright: "Playwright", executable: str) -> "Browser":
    return playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
