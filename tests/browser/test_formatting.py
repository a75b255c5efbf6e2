"""Formatting in the web client, in Chromium: the markdown subset, clickable links, and
hostile messages that must stay text."""

import pytest

from tests.support.pysio import Recorder

from .support import require_playwright

require_playwright()

from playwright.sync_api import expect  # noqa: E402

from .chatpage import users_in  # noqa: E402
from .conftest import ServerProcess, UserFactory  # noqa: E402

pytestmark = pytest.mark.browser

# What markup.js makes of a text, as HTML (the page builds it with DOM calls; this is only
# how the test reads the result back).
RENDER = """async (texts) => {
  const { formatMessage } = await import("/web/markup.js");
  return texts.map((text) => {
    const box = document.createElement("div");
    box.append(...formatMessage(text));
    return box.innerHTML;
  });
}"""

LINK = 'target="_blank" rel="noopener noreferrer" class="link"'
RENDERED = {
    "plain text": "plain text",
    "**bold** and *italic*": "<strong>bold</strong> and <em>italic</em>",
    "`a *b* c`": '<code class="inline-code">a *b* c</code>',
    "**bold with *italic* inside**": "<strong>bold with <em>italic</em> inside</strong>",
    "[docs](https://example.com/a?b=1)": f'<a href="https://example.com/a?b=1" {LINK}>docs</a>',
    "see https://example.com/x.": f'see <a href="https://example.com/x" {LINK}>https://example.com/x</a>.',
    "(http://example.com)": f'(<a href="http://example.com/" {LINK}>http://example.com</a>)',
    "look:\n```py\nprint('*hi*')\n```\ndone": (
        'look:<pre class="code-block" data-language="py"><code>print(\'*hi*\')</code></pre>done'
    ),
    "```one line```": '<pre class="code-block"><code>one line</code></pre>',
    # Shortcodes: known ones outside code and links; unknown ones and times stay.
    ":tada: *shipped* :nope: at 12:30:45 `:tada:`": (
        '🎉 <em>shipped</em> :nope: at 12:30:45 <code class="inline-code">:tada:</code>'
    ),
    "[:x:](https://example.com/:x:)": f'<a href="https://example.com/:x:" {LINK}>:x:</a>',
    # Markers that do not pair up, and spaces inside them, stay as typed.
    "2 * 3 * 4": "2 * 3 * 4",
    "** not bold **": "** not bold **",
    "a `lone backtick": "a `lone backtick",
    # Only http(s) links: every other scheme stays text, in the label form and bare.
    "[x](javascript:alert(1))": "[x](javascript:alert(1))",
    "javascript:alert(1)": "javascript:alert(1)",
    "[x](data:text/html,<script>alert(1)</script>)": (
        "[x](data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;)"
    ),
    "<b>not bold</b> **<i>x</i>**": (
        "&lt;b&gt;not bold&lt;/b&gt; <strong>&lt;i&gt;x&lt;/i&gt;</strong>"
    ),
    # A quote cannot leave the attribute: the URL parser escapes it, setAttribute keeps it
    # a value; a bare URL ends at one.
    '[x](https://example.com/"onmouseover="y)': (
        f'<a href="https://example.com/%22onmouseover=%22y" {LINK}>x</a>'
    ),
    'https://example.com/"onmouseover="y': (
        f'<a href="https://example.com/" {LINK}>https://example.com/</a>"onmouseover="y'
    ),
}


def test_the_markdown_subset_renders_as_expected(open_user: UserFactory) -> None:
    alice = open_user("alice")
    expect(alice.username_field).to_be_visible()  # the page's modules are loaded
    texts = list(RENDERED)
    rendered = alice.page.evaluate(RENDER, texts)
    assert dict(zip(texts, rendered, strict=True)) == RENDERED


def test_formatting_and_links_reach_the_other_user_and_links_open(
    open_user: UserFactory, chat_server: ServerProcess
) -> None:
    alice, bob = users_in(open_user, "general", "alice", "bob")
    target = f"{chat_server.url}/web/favicon.svg"
    alice.send(f"**release** is *out*: run `make run`, notes at {target}")
    rendered = f"release is out: run make run, notes at {target}"
    expect(bob.message_text(rendered)).to_be_visible()
    text = bob.message_text(rendered)
    expect(text.locator("strong")).to_have_text("release")
    expect(text.locator("em")).to_have_text("out")
    expect(text.locator("code")).to_have_text("make run")
    link = text.get_by_role("link", name=target, exact=True)
    expect(link).to_have_attribute("href", target)
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(link).to_have_attribute("target", "_blank")
    with bob.page.context.expect_page() as opened:
        link.click()
    tab = opened.value
    tab.wait_for_load_state()
    assert tab.url == target
    # noopener: the opened page cannot reach back into the chat.
    assert tab.evaluate("window.opener") is None
    tab.close()

    alice.send("```\nfor x in range(3):\n    print(x)\n```")
    block = bob.messages.locator("pre.code-block code").last
    expect(block).to_have_text("for x in range(3):\n    print(x)")


def test_hostile_messages_render_as_text(open_user: UserFactory) -> None:
    attacks = [
        '<img src=x onerror="window.__pwned=1">',
        "<script>window.__pwned=2</script>",
        "**<svg onload=window.__pwned=3>**",
        "[click](javascript:window.__pwned=4)",
        "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "javascript:window.__pwned=5",
        "```</code></pre><img src=x onerror=window.__pwned=6>```",
        '`<a href="javascript:window.__pwned=7">x</a>`',
        '[*x*](https://example.com/"><img src=x onerror=window.__pwned=8>)',
    ]
    mallory, bob = users_in(open_user, "general", "mallory", "bob")
    for attack in attacks:
        mallory.send(attack)
    for user in (bob, mallory):
        expect(user.messages.locator(".message:not(.system) .text")).to_have_count(len(attacks))
    for user in (bob, mallory):
        page = user.page
        tags = page.eval_on_selector_all(
            "#message-list .text *", "nodes => [...new Set(nodes.map(n => n.localName))]"
        )
        assert set(tags) <= {"strong", "em", "code", "pre", "a"}, tags
        handlers = page.eval_on_selector_all(
            "#message-list *",
            "nodes => nodes.flatMap(n => [...n.attributes].map(a => a.name))"
            ".filter(name => name.startsWith('on'))",
        )
        assert handlers == []
        hrefs = page.eval_on_selector_all("#message-list a", "links => links.map(a => a.href)")
        assert all(href.startswith(("http://", "https://")) for href in hrefs), hrefs
        assert page.evaluate("window.__pwned") is None
    # The dangerous ones are shown literally, as typed.
    for attack in [*attacks[:2], attacks[3], attacks[5]]:
        expect(bob.message_text(attack)).to_be_visible()


def test_the_wire_and_the_store_keep_the_raw_text(
    open_user: UserFactory, chat_server: ServerProcess
) -> None:
    raw = "**bold** and [a link](https://example.com)"
    # Another client (as the original React front end is) gets what was typed.
    listener = Recorder("listener")
    listener.client.connect(
        chat_server.url, auth={"username": "listener"}, transports=["websocket"], wait_timeout=10
    )
    try:
        listener.wait_for("session")
        (alice,) = users_in(open_user, "general", "alice")
        alice.send(raw)
        expect(alice.message_text("bold and a link")).to_be_visible()
        channel, message, *_ = listener.wait_for("message:channel")
        assert (channel, message["message"]) == ("general", raw)
    finally:
        listener.disconnect()
    # The history a new page gets is the raw text too, formatted again on arrival.
    (carol,) = users_in(open_user, "general", "carol")
    expect(carol.message_text("bold and a link").locator("strong")).to_have_text("bold")
