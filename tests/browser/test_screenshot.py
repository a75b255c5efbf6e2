"""scripts/screenshot.py, which makes the README's docs/screenshot.png, still works."""

import struct
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from benchkit.processes import ROOT, script_args

from .support import require_playwright

require_playwright()

pytestmark = pytest.mark.browser

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_the_screenshot_script_shows_two_users_chatting(browser: Browser, tmp_path: Path) -> None:
    # `browser` only makes a machine without Chromium skip (or fail in CI) as the others do.
    out = tmp_path / "shot.png"
    result = subprocess.run(
        script_args("screenshot", "--out", str(out)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == f"wrote {out}"
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    assert (width, height) == (1280, 720)
