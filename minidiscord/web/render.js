// DOM builders for the chat views. Every piece of text from the server goes in through
// textContent or an attribute value, never through HTML parsing.

import { formatTimestamp, isoTimestamp } from "./timefmt.js";

/** Create an element: h("p", {class: "x", "aria-label": "y"}, "text", childNode, ...). */
export function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

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

// Only plain image URLs become <img src>: no javascript:, no other data: types. Whatever
// the page's CSP does not allow fails to load and falls back to the badge.
function safeImageUrl(avatar) {
  if (typeof avatar !== "string" || avatar.length === 0 || avatar.length > 4096) return null;
  if (/^data:image\/(png|gif|jpeg|webp);/i.test(avatar)) return avatar;
  try {
    const url = new URL(avatar, location.href);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
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

function timeElement(timestamp, now) {
  return h("time", { datetime: isoTimestamp(timestamp), title: new Date(timestamp).toLocaleString() }, formatTimestamp(timestamp, now));
}

export function messageItem(message, now = new Date()) {
  if (message.system) {
    return h(
      "li",
      { class: "message system", "data-id": message.id },
      h("span", { class: "system-icon", "aria-hidden": "true" }, "→"),
      h("p", { class: "text" }, message.message),
      timeElement(message.timestamp, now),
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
      h("p", { class: "text" }, message.message),
    ),
  );
}

export function channelIntro(channel) {
  return h(
    "li",
    { class: "channel-intro" },
    h("p", { class: "intro-title" }, `Welcome to #${channel}!`),
    h("p", { class: "intro-text" }, `This is the start of the #${channel} channel.`),
  );
}

export function channelButton(name, { current, unread }) {
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
        "aria-label": `#${name}`,
        "aria-current": current ? "true" : null,
        "aria-description": unread > 0 ? `${unread} unread` : null,
      },
      h("span", { class: "hash", "aria-hidden": "true" }, "#"),
      h("span", { class: "name" }, name),
      unread > 0 ? h("span", { class: "unread-count", "aria-hidden": "true" }, unread > 99 ? "99+" : String(unread)) : null,
    ),
  );
}

export function userItem(user, isSelf) {
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
  );
}
