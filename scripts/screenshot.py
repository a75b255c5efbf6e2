"""The README's screenshot: two users chatting in the built-in web client, in headless Chromium
(with an edited message and a reaction).

Starts a server on a free port with an in-memory store, opens the page for two users the
way the browser tests do (tests/browser: Debian's Chromium through playwright, the same
page helpers), has them talk in #general and saves what the first one sees.

    python -m scripts.screenshot            # writes docs/screenshot.png
    python -m scripts.screenshot --out shot.png

Needs the test extras (`pip install -e '.[test]'`) and Chromium (`MINIDISCORD_CHROMIUM` to
point at one elsewhere).
"""

import argparse
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import ViewportSize, expect, sync_playwright

from benchkit.processes import ROOT, free_port, running, server_args
from tests.browser.chatpage import ChatPage
from tests.browser.chromium import find_chromium, launch

DEFAULT_OUT = ROOT / "docs" / "screenshot.png"
VIEWPORT: ViewportSize = {"width": 1280, "height": 720}
# Two lines in a row from grace show the grouping; the others show the formatting.
CONVERSATION = [
    ("ada", "Morning! Is the new build up?"),
    ("grace", "Yes, since 9. It upgraded everyone to **WebSocket** without a hiccup."),
    ("grace", "Start it with `--host 0.0.0.0` and it's on the whole network."),
    ("ada", "Nice, I'll try it from my *phone*. Notes: https://example.com/release"),
]
EDITED = "Morning! Is the new build up yet?"


def take(out: Path) -> None:
    executable = find_chromium()
    if executable is None:
        sys.exit("no Chromium found (apt-get install chromium, or set MINIDISCORD_CHROMIUM)")
    port = free_port()
    command = server_args(port, "--store", "memory", "--log-level", "warning")
    with running(command, port, stdout=subprocess.DEVNULL), sync_playwright() as playwright:
        browser = launch(playwright, executable)
        try:
            users = {}
            for name, _ in CONVERSATION[:2]:
                context = browser.new_context(viewport=VIEWPORT)
                user = ChatPage(name, context.new_page(), f"http://127.0.0.1:{port}")
                user.open()
                user.login(name)
                user.select("general")
                users[name] = user
            for sent, (name, text) in enumerate(CONVERSATION, start=1):
                users[name].send(text)
                # Counted, not found by text: the page shows it formatted.
                for user in users.values():
                    expect(user.messages.locator(".message:not(.system)")).to_have_count(sent)
            first = users[CONVERSATION[0][0]]
            # Issue 18: an edited message, with a reaction (one the fonts here can draw).
            first.edit_message(CONVERSATION[0][1], EDITED)
            users["grace"].add_reaction(EDITED, "❤️")
            for user in users.values():
                expect(user.reaction(EDITED, "❤️")).to_have_accessible_name("❤️ 1")
            first.message_field.fill("Sounds good")
            out.parent.mkdir(parents=True, exist_ok=True)
            first.page.screenshot(path=str(out))
            problems = [problem for user in users.values() for problem in user.problems()]
            if problems:
                sys.exit("the page reported errors:\n" + "\n".join(problems))
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the PNG to write")
    args = parser.parse_args()
    take(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
