"""Skip (locally) or fail (under CI=true) a test whose real parts this machine lacks.

CI installs every part (Chromium, redis-server): there, a missing one is a broken setup,
never a reason to pass quietly."""

import os
from typing import NoReturn

import pytest


def unavailable(what: str, reason: str) -> NoReturn:
    """Skip the current test or module (``what`` tests cannot run: ``reason``), but fail it
    in CI."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"{what} skipped: {reason}", allow_module_level=True)
