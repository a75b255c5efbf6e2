"""Skip (locally) or fail (under CI=true) when the browser tests cannot run on this machine."""

import importlib.util
from typing import NoReturn

from tests.support.requirements import unavailable


def browser_tests_unavailable(reason: str) -> NoReturn:
    """Skip the current test or module with `reason`, but fail it in CI."""
    unavailable("browser tests", reason)


def require_playwright() -> None:
    """Call at the top of a browser test module, before importing playwright."""
    if importlib.util.find_spec("playwright") is None:
        browser_tests_unavailable("the playwright package is not installed")
