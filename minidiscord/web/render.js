// DOM builders for the chat views. Every piece of text from the server goes in through
// textContent or an attribute value, never through HTML parsing.

import { h } from "./dom.js";
import { formatMessage } from "./markup.js";
import { formatClock, formatTimestamp, isoTimestamp } from "./timefmt.js";

const BADGE_COLOURS = ["#5865f2", "#3ba55c", "#faa61a", "#ed4245", "#eb459e", "#9b59b6", "#1abc9c", "#e67e22"];

function colourFor(key) {
  let hash = 0;
  for (const char of String(key)) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return BADGE_COLOURS[hash % BADGE_COLOURS.length];
}

function initialOf(name) {
  const first = [...String(name).trim()][0];
  return first ? first.toUpperCase() : "?";
}

// An avatar is another user's input that every viewer's browser loads, so an <img src>
// must not reach this server (its own API: "/socket.io/?EIO=4&transport=polling" opened a
// session in every viewer's browser) nor the viewer's machine or network. The server
// refuses such avatars at connect (validation.avatar); the page applies the same rule to
// all it is sent, avatars stored before that rule included, and draws no IPv6 literal.
// Whatever passes but the page's CSP does not allow fails to load and becomes the badge.
const MAX_DATA_AVATAR = 8192; // characters of a data: image, the whole URL
const MAX_URL_AVATAR = 512;
const DATA_IMAGE = /^data:image\/(png|gif|jpeg|webp);base64,[A-Za-z0-9+/]+={0,2}$/i;
// What RFC 3986 allows in a URL: the URL parser would rewrite anything else into a host
// the server did not check (a backslash ends the host, a fullwidth letter becomes ASCII).
const URL_CHARS = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+$/;
const HOST_NAME = /^[a-z0-9_-]+(\.[a-z0-9_-]+)+$/;

// Not loopback, private, link-local, shared (CGNAT), documentation, multicast or reserved.
function isPublicIPv4(host) {
  const [a, b, c] = host.split(".").map(Number);
  return !(
    a === 0 || a === 10 || a === 127 || a >= 224 ||
    (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && (b === 168 || (b === 0 && (c === 0 || c === 2)))) ||
    (a === 198 && (b === 18 || b === 19 || (b === 51 && c === 100))) ||
    (a === 203 && b === 0 && c === 113)
  );
}

function safeImageUrl(avatar) {
  if (typeof avatar !== "string") return null;
  if (/^data:/i.test(avatar)) return avatar.length <= MAX_DATA_AVATAR && DATA_IMAGE.test(avatar) ? avatar : null;
  if (avatar.length > MAX_URL_AVATAR || !URL_CHARS.test(avatar) || !/^https:\/\//i.test(avatar)) return null;
  // No credentials, not even empty ones ("https://@host").
  if (avatar.slice("https://".length).split(/[/?#]/, 1)[0].includes("@")) return null;
  let url;
  try {
    url = new URL(avatar); // no base: nothing resolves against this page
  } catch {
    return null;
  }
  // The parser has lower-cased the host and turned numeric forms ("2130706433") into IPv4.
  const host = url.hostname.replace(/\.$/, "");
  if (host === location.hostname.replace(/\.$/, "")) return null;
  if (host === "localhost" || host.endsWith(".localhost")) return null;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) return isPublicIPv4(host) ? url.href : null;
  return HOST_NAME.test(host) ? url.href : null;
}

export function badge(name, key, size = "") {
  const node = h("span", { class: `avatar badge ${size}`.trim(), "aria-hidden": "true" }, initialOf(name));
  node.style.backgroundColor = colourFor(key ?? name);
  return node;
}

export function avatar(name, key, url, size = "") {
  const src = safeImageUrl(url);
  if (!src) return badge(name, key, size);
  const img = h("img", { class: `avatar ${size}`.trim(), src, alt: "", width: 40, height: 40, loading: "lazy" });
  img.addEventListener("error", () => img.replaceWith(badge(name, key, size)), { once: true });
  return img;
}

function timeElement(timestamp, now, text = formatTimestamp(timestamp, now)) {
  return h("time", { datetime: isoTimestamp(timestamp), title: new Date(timestamp).toLocaleString() }, text);
}

// A message from the author of the one before, within this time of it, joins its group:
// the name and avatar are shown once per group, as team chats do.
export const GROUP_WINDOW_MS = 5 * 60 * 1000;

export function continuesGroup(previous, message) {
  if (!previous || previous.system || message.system) return false;
  const gap = message.timestamp - previous.timestamp;
  return (
    previous.userId === message.userId &&
    previous.username === message.username &&
    gap >= 0 &&
    gap < GROUP_WINDOW_MS
  );
}

// Joins and leaves look different at a glance (arrow and colour), not only in their words.
const SYSTEM_ICONS = { join: "→", leave: "←" };

function systemItem(message, now) {
  const kind = message.kind in SYSTEM_ICONS ? message.kind : "join";
  return h(
    "li",
    { class: `message system ${kind}`, "data-id": message.id },
    h("span", { class: "system-icon", "aria-hidden": "true" }, SYSTEM_ICONS[kind]),
    h("p", { class: "text" }, message.message),
    timeElement(message.timestamp, now),
  );
}

/** One chat line; `previous` is the line above it, which decides the grouping. */
export function messageItem(message, { previous = null, now = new Date() } = {}) {
  if (message.system) return systemItem(message, now);
  const text = h("div", { class: "text" }, ...formatMessage(message.message));
  if (continuesGroup(previous, message)) {
    return h(
      "li",
      { class: "message continued", "data-id": message.id },
      h("span", { class: "gutter" }, timeElement(message.timestamp, now, formatClock(message.timestamp))),
      // Seen once per group, but a screen reader reading one line still hears who wrote it.
      h("div", { class: "body" }, h("span", { class: "visually-hidden" }, `${message.username}: `), text),
    );
  }
  return h(
    "li",
    { class: "message", "data-id": message.id },
    avatar(message.username, message.userId, message.avatar),
    h(
      "div",
      { class: "body" },
      h("p", { class: "meta" }, h("span", { class: "author" }, message.username), " ", timeElement(message.timestamp, now)),
      text,
    ),
  );
}

/** `title`: "#general", or "@ada" for a direct conversation. */
export function channelIntro(title) {
  const dm = title.startsWith("@");
  return h(
    "li",
    { class: "channel-intro" },
    h("p", { class: "intro-title" }, dm ? title : `Welcome to ${title}!`),
    h("p", { class: "intro-text" }, dm ? `This is the start of your conversation with ${title}.` : `This is the start of the ${title} channel.`),
  );
}

/** `dm`: a direct conversation's button, named by its `label` ("@ada"), without the "#". */
export function channelButton(name, { current, unread, label = name, dm = false }) {
  return h(
    "li",
    {},
    h(
      "button",
      {
        type: "button",
        class: `channel${current ? " current" : ""}${unread > 0 ? " unread" : ""}`,
        "data-channel": name,
        // Flex items count as blocks, so the content alone would be named "# general".
        "aria-label": dm ? label : `#${label}`,
        "aria-current": current ? "true" : null,
        "aria-description": unread > 0 ? `${unread} unread` : null,
      },
      dm ? null : h("span", { class: "hash", "aria-hidden": "true" }, "#"),
      h("span", { class: "name" }, label),
      unread > 0 ? h("span", { class: "unread-count", "aria-hidden": "true" }, unread > 99 ? "99+" : String(unread)) : null,
    ),
  );
}

/** `action`: a button beside the name (the page's "Message NAME"), or null. */
export function userItem(user, isSelf, action = null) {
  return h(
    "li",
    { class: `member${user.connected ? " online" : " offline"}`, "data-user-id": user.userId },
    h(
      "span",
      { class: "avatar-wrap" },
      avatar(user.username, user.userId, user.avatar, "small"),
      h("span", { class: "status-dot", title: user.connected ? "online" : "offline", "aria-hidden": "true" }),
    ),
    h("span", { class: "member-name" }, user.username),
    isSelf ? h("span", { class: "visually-hidden" }, " (you)") : null,
    action,
  );
}
