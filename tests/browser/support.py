"""Skip (locally) or fail (under CI=true) when the browser tests cannot run on this machine."""

import importlib.util
import os
from typing import NoReturn

import pytest


def browser_tests_unavailable(reason: str) -> NoReturn:
    """Skip the current test or module with `reason`, but fail it in CI."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}", allow_module_level=True)


def require_playwright() -> None:
    """Call at the top of a browser test module, before importing playwright."""
    if importlib.util.find_spec("playwright") is None:
        browser_tests_unavailable("the playwright package is not installed")
