"""One user's chat page in the browser, driven through the accessible names of its controls."""

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import ConsoleMessage, Error, Locator, Page, expect

# How long a login may take to show its user connected.
CONNECT_TIMEOUT_MS = 15_000
# Chromium logs failed WebSocket connections while a server is down; that is expected.
_EXPECTED_CONSOLE = re.compile(r"WebSocket connection to .* failed")
# And every refusal of the accounts' API (a wrong password is a 401), which the page shows.
_API_REFUSAL = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d")


def _expected(message: ConsoleMessage) -> bool:
    if _EXPECTED_CONSOLE.search(message.text):
        return True
    return bool(_API_REFUSAL.match(message.text)) and "/api/" in message.location.get("url", "")


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
        if message.type == "error" and not _expected(message):
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

    @property
    def channels_button(self) -> Locator:
        """The phone layout's button that opens the channel drawer."""
        return self.page.get_by_role("button", name="Channels", exact=True)

    @property
    def members_button(self) -> Locator:
        return self.page.get_by_role("button", name="Members", exact=True)

    @property
    def leave_dialog(self) -> Locator:
        return self.page.get_by_role("dialog", name="Leave the server?", exact=True)

    @property
    def send_error(self) -> Locator:
        return self.page.locator("#send-error")

    def channel(self, name: str) -> Locator:
        return self.page.get_by_role("button", name=f"#{name}", exact=True)

    def message_text(self, text: str) -> Locator:
        return self.messages.locator(".message:not(.system) .text").filter(
            has_text=re.compile("^" + re.escape(text) + "$")
        )

    def message_line(self, text: str) -> Locator:
        """The whole line (controls included) of the message whose text is ``text``."""
        exactly = self.page.locator(".text").filter(
            has_text=re.compile("^" + re.escape(text) + "$")
        )
        return self.messages.locator(".message:not(.system)").filter(has=exactly)

    @property
    def delete_dialog(self) -> Locator:
        return self.page.get_by_role("dialog", name="Delete this message?", exact=True)

    def system_line(self, text: str) -> Locator:
        return self.messages.locator(".message.system .text").filter(
            has_text=re.compile("^" + re.escape(text) + "$")
        )

    @property
    def typing_indicator(self) -> Locator:
        """Who else types in the channel shown ("ada is typing...")."""
        return self.page.locator("#typing-indicator")

    def online_users(self) -> Locator:
        return self.page.locator("#online-list .member-name")

    def offline_users(self) -> Locator:
        return self.page.locator("#offline-list .member-name")

    @property
    def direct_messages(self) -> Locator:
        return self.page.get_by_role("region", name="Direct messages", exact=True)

    @property
    def new_channel_button(self) -> Locator:
        return self.page.get_by_role("button", name="New channel", exact=True)

    def conversation(self, name: str) -> Locator:
        return self.direct_messages.get_by_role("button", name=f"@{name}", exact=True)

    # -- actions -----------------------------------------------------------------------

    def login(self, name: str) -> None:
        self.username_field.fill(name)
        self.connect_button.click()
        self.expect_connected_as(name)

    def log_in_account(self, name: str, password: str) -> None:
        """Log in to an account through the page's own origin (its cookie then names the
        account at connect), then connect as it."""
        status = self.page.evaluate(
            """async ([username, password]) => (await fetch("/api/login", {
                method: "POST",
                headers: {"content-type": "application/json"},
                body: JSON.stringify({username, password}),
            })).status""",
            [name, password],
        )
        assert status == 200, status
        self.login(name)

    def create_channel(self, name: str, topic: str = "") -> None:
        self.new_channel_button.click()
        form = self.page.get_by_role("form", name="New channel", exact=True)
        form.get_by_role("textbox", name="Channel name", exact=True).fill(name)
        form.get_by_role("textbox", name="Topic", exact=True).fill(topic)
        form.get_by_role("button", name="Create", exact=True).click()
        expect(self.page.get_by_role("heading", name=f"#{name}", exact=True)).to_be_visible()

    def message_user(self, name: str) -> None:
        """Open the direct conversation with ``name`` from the member list."""
        self.page.get_by_role("button", name=f"Message {name}", exact=True).click()
        expect(self.page.get_by_role("heading", name=f"@{name}", exact=True)).to_be_visible()

    @property
    def password_field(self) -> Locator:
        return self.page.get_by_label("Password", exact=True)

    @property
    def login_error(self) -> Locator:
        return self.page.locator("#login-error")

    def log_in(self, name: str, password: str, *, register: bool = False) -> None:
        """Log in (or register) as an account; the chat opens."""
        self.username_field.fill(name)
        self.password_field.fill(password)
        button = "Register" if register else "Log in"
        self.page.get_by_role("button", name=button, exact=True).click()
        self.expect_connected_as(name)

    def member(self, name: str) -> Locator:
        """A user's row in the member list."""
        return self.page.locator("#members-panel li.member").filter(
            has=self.page.locator(".member-name", has_text=re.compile(f"^{re.escape(name)}$"))
        )

    def message_row(self, text: str) -> Locator:
        """The line of the message whose text is ``text`` (its actions included)."""
        exactly = re.compile("^" + re.escape(text) + "$")
        return self.messages.locator(".message:not(.system)").filter(
            has=self.page.locator(".text", has_text=exactly)
        )

    def expect_connected_as(self, name: str) -> None:
        # A connect is the page's longest wait on the server (a polling handshake, the
        # upgrade, the greeting's lists): on a CI machine busy with the other workers, one
        # was not shown within expect's 5 s (and passed in every run here). A connect that
        # never comes still fails.
        expect(self.page.get_by_text(f"You are connected as {name}.", exact=True)).to_be_visible(
            timeout=CONNECT_TIMEOUT_MS
        )

    def select(self, channel: str) -> None:
        self.channel(channel).click()
        # The header, not the list: on a phone the list's drawer closes on the choice.
        expect(self.page.get_by_role("heading", name=f"#{channel}", exact=True)).to_be_visible()

    def send(self, text: str) -> None:
        self.message_field.fill(text)
        self.message_field.press("Enter")

    def edit_message(self, text: str, new_text: str) -> None:
        """Edit (through "Edit message") one's own message ``text`` into ``new_text``."""
        line = self.message_line(text)
        line.hover()
        line.get_by_role("button", name="Edit message", exact=True).click()
        field = line.get_by_role("textbox", name="Edit message text", exact=True)
        field.fill(new_text)
        field.press("Enter")

    def delete_message(self, text: str, *, confirm: bool = True) -> None:
        """ "Delete message" on one's own message ``text``, then Delete or Cancel."""
        line = self.message_line(text)
        line.hover()
        line.get_by_role("button", name="Delete message", exact=True).click()
        answer = "Delete" if confirm else "Cancel"
        self.delete_dialog.get_by_role("button", name=answer, exact=True).click()
        expect(self.delete_dialog).to_be_hidden()

    def reaction(self, text: str, emoji: str) -> Locator:
        """The count of ``emoji`` under the message ``text`` (a toggle button)."""
        name = re.compile("^" + re.escape(emoji) + r" \d+$")
        return self.message_line(text).get_by_role("button", name=name)

    def add_reaction(self, text: str, emoji: str) -> None:
        """ "Add reaction" on the message ``text``, then ``emoji`` in the picker."""
        line = self.message_line(text)
        line.hover()
        line.get_by_role("button", name="Add reaction", exact=True).click()
        picker = line.get_by_role("dialog", name="Pick a reaction", exact=True)
        picker.get_by_role("button", name=emoji, exact=True).click()
        expect(picker).to_have_count(0)

    @property
    def search_results(self) -> Locator:
        return self.page.get_by_role("region", name="Search results", exact=True)

    def search(self, query: str) -> None:
        field = self.page.get_by_role("searchbox", name="Search", exact=True)
        field.fill(query)
        field.press("Enter")

    def type(self, text: str) -> None:
        """Type into the message box key by key, as a person does (without sending)."""
        self.message_field.press_sequentially(text)

    def open_settings(self) -> None:
        self.page.get_by_role("button", name="Settings", exact=True).click()

    def disconnect(self) -> None:
        self.open_settings()
        self.page.get_by_role("button", name="Disconnect", exact=True).click()

    def leave(self, *, confirm: bool = True) -> None:
        """Leave Server, then answer the confirmation: Leave, or Cancel."""
        self.open_settings()
        self.page.get_by_role("button", name="Leave Server", exact=True).click()
        answer = "Leave" if confirm else "Cancel"
        self.leave_dialog.get_by_role("button", name=answer, exact=True).click()
        expect(self.leave_dialog).to_be_hidden()

    def expect_presence(self, *, online: list[str], offline: list[str]) -> None:
        online_heading = f"ONLINE -- {len(online)}"
        offline_heading = f"OFFLINE -- {len(offline)}"
        expect(self.page.get_by_role("heading", name=online_heading, exact=True)).to_be_visible()
        expect(self.page.get_by_role("heading", name=offline_heading, exact=True)).to_be_visible()
        expect(self.online_users()).to_have_text(_by_name(online))
        expect(self.offline_users()).to_have_text(_by_name(offline))

    # -- measurements ----------------------------------------------------------------------

    def contrast_ratio(self, target: Locator, pseudo: str | None = None) -> float:
        """WCAG contrast of ``target``'s text (or its ``pseudo`` element's, e.g.
        "::placeholder") against what is painted behind it, from the computed styles:
        every ancestor's background and opacity counts."""
        layers: list[tuple[str, float]] = target.evaluate(_PAINTED_LAYERS, pseudo)
        backdrop = (1.0, 1.0, 1.0)  # the canvas, under everything
        *boxes, (text_colour, _) = layers
        behind = _paint(backdrop, boxes)
        with_text = _paint(backdrop, [*boxes, (text_colour, 1.0)])
        return _contrast(_luminance(with_text), _luminance(behind))

    def clipped_focus_ring(self) -> list[str]:
        """Where the focus ring of the focused control (or of the nearest ancestor that
        draws it, as the message box's form does) is cut off: by an ancestor that clips
        its overflow, or by the window. Empty when the whole ring shows."""
        found: list[str] = self.page.evaluate(_FOCUS_RING_CLIPS)
        return found


# The element's own colour, then its and its ancestors' (background, opacity), outermost first.
_PAINTED_LAYERS = """(element, pseudo) => {
  const boxes = [];
  for (let node = element; node; node = node.parentElement) {
    const style = getComputedStyle(node);
    boxes.unshift([style.backgroundColor, Number(style.opacity)]);
  }
  return [...boxes, [getComputedStyle(element, pseudo).color, 1]];
}"""

_FOCUS_RING_CLIPS = """() => {
  const focused = document.activeElement;
  // Between the last control and the first, Tab visits the browser itself.
  if (!focused || focused === document.body) return [];
  let ringOwner = focused;
  while (ringOwner && getComputedStyle(ringOwner).outlineStyle === "none") {
    ringOwner = ringOwner.parentElement;
  }
  const name = (node) =>
    node.id ? "#" + node.id : [node.tagName.toLowerCase(), ...node.classList].join(".");
  if (!ringOwner) return [name(focused) + " draws no focus ring"];
  const style = getComputedStyle(ringOwner);
  const grow = parseFloat(style.outlineWidth) + parseFloat(style.outlineOffset);
  const box = ringOwner.getBoundingClientRect();
  const ring = {
    left: box.left - grow, top: box.top - grow, right: box.right + grow, bottom: box.bottom + grow,
  };
  const problems = [];
  const check = (clip, by) => {
    const cut = ring.left < clip.left - 0.5 || ring.top < clip.top - 0.5 ||
      ring.right > clip.right + 0.5 || ring.bottom > clip.bottom + 0.5;
    if (cut) problems.push(`the ring of ${name(ringOwner)} is cut by ${by}`);
  };
  for (let node = ringOwner.parentElement; node; node = node.parentElement) {
    const s = getComputedStyle(node);
    if (s.overflowX === "visible" && s.overflowY === "visible") continue;
    if (node === document.body || node === document.documentElement) continue;
    const b = node.getBoundingClientRect();
    const border = (side) => parseFloat(s[`border${side}Width`]);
    const inner = {
      left: b.left + border("Left"), top: b.top + border("Top"),
      right: b.right - border("Right"), bottom: b.bottom - border("Bottom"),
    };
    check(inner, name(node));
  }
  check({ left: 0, top: 0, right: innerWidth, bottom: innerHeight }, "the window");
  return problems;
}"""

Colour = tuple[float, float, float]
_RGB = re.compile(r"rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)")


def _parse(css: str) -> tuple[Colour, float]:
    match = _RGB.fullmatch(css)
    assert match, f"not an rgb() colour: {css}"
    r, g, b, alpha = match.groups()
    return (float(r) / 255, float(g) / 255, float(b) / 255), 1.0 if alpha is None else float(alpha)


def _over(top: Colour, alpha: float, bottom: Colour) -> Colour:
    return (
        top[0] * alpha + bottom[0] * (1 - alpha),
        top[1] * alpha + bottom[1] * (1 - alpha),
        top[2] * alpha + bottom[2] * (1 - alpha),
    )


def _paint(backdrop: Colour, layers: list[tuple[str, float]]) -> Colour:
    """The colour of one pixel after painting nested boxes, outermost first: each box's
    background, then what is inside it, the whole faded by the box's opacity."""
    if not layers:
        return backdrop
    (background, opacity), *inner = layers
    colour, alpha = _parse(background)
    inside = _paint(_over(colour, alpha, backdrop), inner)
    return _over(inside, opacity, backdrop)


def _luminance(colour: Colour) -> float:
    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: float, b: float) -> float:
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


def users_in(
    open_user: Callable[..., ChatPage], channel: str, *names: str, phone: bool = False
) -> list[ChatPage]:
    """Each of ``names`` logged in on a page of their own, reading ``channel``."""
    users = []
    for name in names:
        user = open_user(name, phone=phone)
        user.login(name)
        if phone:
            user.channels_button.click()
        user.select(channel)
        users.append(user)
    return users


def _by_name(names: list[str]) -> list[str | re.Pattern[str]]:
    """Names in the order the page lists them (case-insensitive)."""
    ordered: list[str] = sorted(names, key=str.casefold)
    return list(ordered)
