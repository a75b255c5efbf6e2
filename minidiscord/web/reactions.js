// Reactions on messages: the counts under a message (pressed when one is this user's;
// clicking toggles it), the "Add reaction" control with a small picker, and the server's
// `reaction:update` applied to the chat state.

import { h } from "./dom.js";
import { actionButton, ICONS } from "./icons.js";

// The picker's emoji: the server takes any single emoji; these are the usual ones.
export const PICKER_EMOJI = Object.freeze(["👍", "❤️", "😂", "🎉", "🔥", "👀", "🚀", "👏", "🙏", "🤔", "✅", "❌"]);

function isReaction(value) {
  return (
    value !== null &&
    typeof value === "object" &&
    typeof value.emoji === "string" &&
    Array.isArray(value.userIds) &&
    value.userIds.length > 0
  );
}

/** The message's reactions as the server sent them (anything malformed left out). */
export function reactionsOf(message) {
  return Array.isArray(message.reactions) ? message.reactions.filter(isReaction) : [];
}

/**
 * Add the reactions row and the "Add reaction" control to a line made by render.js.
 * `actions.toggle(message, emoji, mine)` asks the server; `nameOf(userId)` names a reactor.
 */
export function withReactions(item, message, session, { toggle, nameOf }) {
  if (message.system || !session) return item;
  const body = item.querySelector(".body");
  const reactions = reactionsOf(message);
  if (body && reactions.length) {
    const chips = reactions.map((reaction) => {
      const mine = reaction.userIds.includes(session.userId);
      const count = reaction.userIds.length;
      const who = reaction.userIds.map(nameOf).join(", ");
      const chip = h(
        "button",
        {
          type: "button",
          class: `reaction${mine ? " mine" : ""}`,
          "aria-pressed": String(mine),
          "aria-label": `${reaction.emoji} ${count}`,
          title: `${who} reacted with ${reaction.emoji}`,
        },
        h("span", { class: "reaction-emoji", "aria-hidden": "true" }, reaction.emoji),
        h("span", { class: "reaction-count", "aria-hidden": "true" }, String(count)),
      );
      chip.addEventListener("click", () => toggle(message, reaction.emoji, mine));
      return chip;
    });
    body.append(h("div", { class: "reactions", role: "group", "aria-label": "Reactions" }, ...chips));
  }
  let bar = item.querySelector(".message-actions");
  if (!bar) {
    bar = h("div", { class: "message-actions" });
    item.append(bar);
  }
  const add = actionButton("Add reaction", ICONS.react, () => openPicker(add, (emoji) => toggle(message, emoji, false)));
  add.setAttribute("aria-expanded", "false");
  bar.prepend(add);
  return item;
}

let picker = null;

/** The picker under `button`; `choose(emoji)` on a pick. Escape or a click elsewhere closes it. */
function openPicker(button, choose) {
  closePicker();
  const choices = PICKER_EMOJI.map((emoji) => {
    const choice = h("button", { type: "button", class: "pick", "aria-label": emoji }, emoji);
    choice.addEventListener("click", () => {
      closePicker({ restoreFocus: true });
      choose(emoji);
    });
    return choice;
  });
  // Opened towards the larger part of the window: the message list clips what overflows it.
  const upward = button.getBoundingClientRect().top > window.innerHeight / 2;
  const panel = h(
    "div",
    { class: `reaction-picker ${upward ? "upward" : "downward"}`, role: "dialog", "aria-label": "Pick a reaction" },
    ...choices,
  );
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      closePicker({ restoreFocus: true });
    }
  });
  button.setAttribute("aria-expanded", "true");
  button.after(panel);
  picker = { panel, button };
  choices[0].focus();
}

export function closePicker({ restoreFocus = false } = {}) {
  if (!picker) return;
  const { panel, button } = picker;
  picker = null;
  panel.remove();
  button.setAttribute("aria-expanded", "false");
  if (restoreFocus) button.focus();
}

document.addEventListener("click", (event) => {
  if (picker && !picker.panel.contains(event.target) && !picker.button.contains(event.target)) closePicker();
});

/**
 * The server's `reaction:update` {channel, id, reactions} in the state: returns the updated
 * message, or null (unknown channel or message, malformed).
 */
export function applyReactions(state, update) {
  if (update === null || typeof update !== "object" || !Array.isArray(update.reactions)) return null;
  const entry = state.channels.get(update.channel);
  const at = entry ? entry.messages.findIndex((m) => !m.system && m.id === update.id) : -1;
  if (at < 0) return null;
  const updated = { ...entry.messages[at], reactions: update.reactions.filter(isReaction) };
  entry.messages[at] = updated;
  return updated;
}
