"""Fixtures for the browser tests: a Chromium, chat servers in subprocesses, pages per user.

Playwright's sync API runs its own event loop in the calling thread, so these tests are
plain sync functions and the server runs as `python -m minidiscord` in a subprocess (which
also lets a test restart it). Without Chromium the tests skip, except under CI=true.
"""

import os
import re
import subprocess
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from benchkit.processes import ROOT, free_port, server_args, stop, wait_ready
from tests.support.tls import ServerCertificate

from .chromium import find_chromium, launch
from .support import browser_tests_unavailable, require_playwright

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

    from .chatpage import ChatPage

SERVER_START_TIMEOUT = 20.0
# Long enough for a loaded CI machine, short enough that a hang fails the test quickly.
ACTION_TIMEOUT_MS = 10_000

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def playwright_instance() -> "Iterator[Playwright]":
    require_playwright()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance: "Playwright") -> "Iterator[Browser]":
    executable = find_chromium()
    if executable is None:
        browser_tests_unavailable(
            "no Chromium found (apt-get install chromium, or set MINIDISCORD_CHROMIUM)"
        )
    browser = launch(playwright_instance, executable)
    yield browser
    browser.close()


class ServerProcess:
    """`python -m minidiscord` on a fixed loopback port, which survives restarts."""

    def __init__(
        self,
        workdir: Path,
        *,
        rate_limit: str = "off",
        host: str = "127.0.0.1",
        options: Sequence[str] = (),
        certificate: ServerCertificate | None = None,
    ) -> None:
        """``options``: more of the CLI's, for a test that depends on their values (e.g. a
        cluster's ``--redis-url``); ``certificate``: serve https with it."""
        self.workdir = workdir
        self.certificate = certificate
        if certificate is not None:
            options = (*options, *("--certfile", str(certificate.certfile)))
            options = (*options, *("--keyfile", str(certificate.keyfile)))
        # Test users type faster than people: the per-user rate limit is off unless a test
        # is about it.
        self.rate_limit = rate_limit
        self.host = host
        self.options = tuple(options)
        self.port = free_port()
        # Loopback is among the addresses of any --host this machine can listen on.
        scheme = "http" if certificate is None else "https"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.log_path = workdir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "MINIDISCORD_LOG_LEVEL": "warning"}
        # It runs in its own directory (its database's): the checkout's minidiscord must
        # come first, not whatever copy the environment has installed.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
        options = ("--host", self.host, "--rate-limit", self.rate_limit, *self.options)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                server_args(self.port, *options, unlimited=False),
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            trust = None if self.certificate is None else self.certificate.client_context()
            wait_ready(self.url, self.process, SERVER_START_TIMEOUT, context=trust)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}:\n{self.log_tail()}") from None

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, timeout=10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture
def chat_server(tmp_path: Path, browser: "Browser") -> Iterator[ServerProcess]:
    # Depends on `browser` so that a machine without Chromium skips before starting servers.
    server = ServerProcess(tmp_path)
    server.start()
    yield server
    server.stop()


UserFactory = Callable[..., "ChatPage"]


@pytest.fixture
def open_user(
    browser: "Browser", chat_server: ServerProcess, request: pytest.FixtureRequest
) -> Iterator[UserFactory]:
    """Open the chat page in a fresh browser context (its own storage), one per user."""
    from .chatpage import ChatPage

    pages: list[ChatPage] = []

    def open_page(label: str, *, phone: bool = False, url: str | None = None) -> ChatPage:
        """`url`: the page of another server than `chat_server`, or another way to it."""
        if phone:
            context = browser.new_context(
                viewport={"width": 390, "height": 760}, is_mobile=True, has_touch=True
            )
        else:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        chat = ChatPage(label, context.new_page(), url or chat_server.url)
        pages.append(chat)
        chat.open()
        return chat

    yield open_page

    reports = request.node.stash.get(_REPORTS, {})
    if any(report.failed for report in reports.values()):
        artifacts = request.config.rootpath / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        for chat in pages:
            chat.save_artifacts(artifacts / f"{stem}-{chat.label}")
        (artifacts / f"{stem}-server.log").write_text(chat_server.log_tail(200))
    problems = [problem for chat in pages for problem in chat.problems()]
    for chat in pages:
        chat.page.context.close()
    assert not problems, "the page reported errors:\n" + "\n".join(problems)
