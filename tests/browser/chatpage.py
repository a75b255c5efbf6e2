"""One user's chat page in the browser, driven through the accessible names of its controls."""

import re
from pathlib import Path

from playwright.sync_api import ConsoleMessage, Error, Locator, Page, expect

# Chromium logs failed WebSocket connections while a server is down; that is expected.
_EXPECTED_CONSOLE = re.compile(r"WebSocket connection to .* failed")


class ChatPage:
    def __init__(self, label: str, page: Page, url: str) -> None:
        self.label = label
        self.page = page
        self.url = url
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        page.on("pageerror", self._on_page_error)
        page.on("console", self._on_console)

    def _on_page_error(self, error: Error) -> None:
        self.page_errors.append(str(error))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not _EXPECTED_CONSOLE.search(message.text):
            self.console_errors.append(message.text)

    def problems(self) -> list[str]:
        return [f"{self.label}: {text}" for text in self.page_errors + self.console_errors]

    def save_artifacts(self, stem: Path) -> None:
        try:
            self.page.screenshot(path=str(stem) + ".png", full_page=True)
        except Error as error:  # a crashed page still leaves its console log
            self.console_errors.append(f"screenshot failed: {error}")
        log = [f"pageerror: {e}" for e in self.page_errors]
        log += [f"console: {e}" for e in self.console_errors]
        if log:
            Path(str(stem) + ".log").write_text("\n".join(log))

    def open(self) -> None:
        self.page.goto(self.url + "/")

    # -- locators --------------------------------------------------------------------

    @property
    def username_field(self) -> Locator:
        return self.page.get_by_role("textbox", name="Username", exact=True)

    @property
    def connect_button(self) -> Locator:
        return self.page.get_by_role("button", name="Connect", exact=True)

    @property
    def message_field(self) -> Locator:
        return self.page.get_by_role("textbox", name="Message", exact=True)

    @property
    def messages(self) -> Locator:
        return self.page.get_by_role("region", name="Messages", exact=True)

    @property
    def status(self) -> Locator:
        return self.page.locator("#connection-status")

    def channel(self, name: str) -> Locator:
        return self.page.get_by_role("button", name=f"#{name}", exact=True)

    def message_text(self, text: str) -> Locator:
        return self.messages.locator(".message:not(.system) .text").filter(
            has_text=re.compile("^" + re.escape(text) + "$")
        )

    def system_line(self, text: str) -> Locator:
        return self.messages.locator(".message.system .text").filter(
            has_text=re.compile("^" + re.escape(text) + "$")
        )

    def online_users(self) -> Locator:
        return self.page.locator("#online-list .member-name")

    def offline_users(self) -> Locator:
        return self.page.locator("#offline-list .member-name")

    # -- actions -----------------------------------------------------------------------

    def login(self, name: str) -> None:
        self.username_field.fill(name)
        self.connect_button.click()
        self.expect_connected_as(name)

    def expect_connected_as(self, name: str) -> None:
        expect(self.page.get_by_text(f"You are connected as {name}.", exact=True)).to_be_visible()

    def select(self, channel: str) -> None:
        self.channel(channel).click()
        expect(self.channel(channel)).to_have_attribute("aria-current", "true")

    def send(self, text: str) -> None:
        self.message_field.fill(text)
        self.message_field.press("Enter")

    def open_settings(self) -> None:
        self.page.get_by_role("button", name="Settings", exact=True).click()

    def disconnect(self) -> None:
        self.open_settings()
        self.page.get_by_role("button", name="Disconnect", exact=True).click()

    def leave(self) -> None:
        self.open_settings()
        self.page.get_by_role("button", name="Leave Server", exact=True).click()

    def expect_presence(self, *, online: list[str], offline: list[str]) -> None:
        online_heading = f"ONLINE -- {len(online)}"
        offline_heading = f"OFFLINE -- {len(offline)}"
        expect(self.page.get_by_role("heading", name=online_heading, exact=True)).to_be_visible()
        expect(self.page.get_by_role("heading", name=offline_heading, exact=True)).to_be_visible()
        expect(self.online_users()).to_have_text(_by_name(online))
        expect(self.offline_users()).to_have_text(_by_name(offline))


def _by_name(names: list[str]) -> list[str | re.Pattern[str]]:
    """Names in the order the page lists them (case-insensitive)."""
    ordered: list[str] = sorted(names, key=str.casefold)
    return list(ordered)
