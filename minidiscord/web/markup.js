// A message's text as DOM nodes with a small markdown subset: **bold**, *italic*,
// `inline code`, ``` fenced code blocks ```, [links](https://...) and plain http(s) URLs,
// and a few emoji shortcodes (:tada:) outside code and links.
// Every piece of the text goes in as a text node or through setAttribute on a URL this
// module built and checked itself: nothing is ever parsed as HTML, and only http: and
// https: links are made (a `javascript:` or `data:` "link" stays text).

import { h } from "./dom.js";

// The optional first line names a language only when the fence starts a line of its own.
const FENCE = /```(?:([^\n`]*)\n)?([\s\S]*?)```/g;
// Earliest match wins; alternatives in order of precedence where two start together.
const INLINE = new RegExp(
  [
    /`(?<code>[^`\n]+)`/.source,
    /\*\*(?<bold>\S(?:[\s\S]*?\S)?)\*\*/.source,
    /\*(?<italic>[^\s*](?:[^*]*?[^\s*])?)\*/.source,
    /\[(?<label>[^\]\n]+)\]\((?<target>https?:\/\/[^\s()]+)\)/.source,
    /(?<bare>https?:\/\/[^\s<>"]+)/.source,
  ].join("|"),
  "i",
);
// Sentence punctuation right after a URL belongs to the sentence, not to the URL.
const URL_TRAILER = /[.,;:!?'")\]]+$/;
// Bold inside italic inside bold ... is bounded; deeper markers stay as typed.
const MAX_DEPTH = 4;
// The everyday few; an unknown :name: stays as typed (so do times like 12:30:45).
const SHORTCODES = Object.freeze({
  smile: "😄", joy: "😂", wink: "😉", heart: "❤️", "+1": "👍", thumbsup: "👍", "-1": "👎",
  tada: "🎉", rocket: "🚀", fire: "🔥", eyes: "👀", wave: "👋", thinking: "🤔", pray: "🙏",
  clap: "👏", sparkles: "✨", coffee: "☕", white_check_mark: "✅", x: "❌", warning: "⚠️",
});
const SHORTCODE = /:([a-z0-9_+-]+):/g;

function withEmoji(text) {
  return text.replace(SHORTCODE, (whole, name) => (Object.hasOwn(SHORTCODES, name) ? SHORTCODES[name] : whole));
}

/** The URL as an http(s) href, or null: anything else must not become a link. */
export function safeLinkUrl(text) {
  let url;
  try {
    url = new URL(text); // no base: a relative "link" is not one
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  return url.href;
}

function link(label, href) {
  // rel: the opened page gets no window.opener and no Referer pointing at this chat.
  return h("a", { href, target: "_blank", rel: "noopener noreferrer", class: "link" }, label);
}

function inline(text, depth) {
  const nodes = [];
  let rest = text;
  while (rest) {
    const match = depth < MAX_DEPTH ? INLINE.exec(rest) : null;
    if (!match) {
      nodes.push(withEmoji(rest));
      break;
    }
    let consumed = match[0].length;
    if (match.index > 0) nodes.push(withEmoji(rest.slice(0, match.index)));
    const { code, bold, italic, label, target, bare } = match.groups;
    if (code !== undefined) nodes.push(h("code", { class: "inline-code" }, code));
    else if (bold !== undefined) nodes.push(h("strong", {}, ...inline(bold, depth + 1)));
    else if (italic !== undefined) nodes.push(h("em", {}, ...inline(italic, depth + 1)));
    else if (label !== undefined) {
      const href = safeLinkUrl(target);
      nodes.push(href ? link(label, href) : match[0]);
    } else {
      const url = bare.replace(URL_TRAILER, "");
      consumed = url.length;
      const href = safeLinkUrl(url);
      nodes.push(href ? link(url, href) : url);
    }
    rest = rest.slice(match.index + consumed);
  }
  return nodes;
}

/** The nodes that show `text` formatted; their textContent is the text without markers. */
export function formatMessage(text) {
  const nodes = [];
  let last = 0;
  // A code block is a block of its own: the line breaks next to it would add blank lines.
  const prose = (start, end) => {
    let part = text.slice(start, end);
    if (start > 0) part = part.replace(/^\n/, "");
    if (end < text.length) part = part.replace(/\n$/, "");
    if (part) nodes.push(...inline(part, 0));
  };
  for (const match of text.matchAll(FENCE)) {
    prose(last, match.index);
    // The fence's first line may name a language: kept as a hint, not shown.
    const language = (match[1] ?? "").trim();
    const code = h("code", {}, match[2].replace(/\n$/, ""));
    nodes.push(h("pre", { class: "code-block", "data-language": language || null }, code));
    last = match.index + match[0].length;
  }
  prose(last, text.length);
  return nodes;
}
