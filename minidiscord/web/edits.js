// Editing and deleting messages: who may (one rule each, the server checks it again), the
// controls on a message, the "(edited)" mark, the editor in place, the delete confirmation,
// and the server's `message:edit` / `message:delete` applied to the chat state.

import { h } from "./dom.js";
import { actionButton, ICONS } from "./icons.js";
import { isModerator } from "./moderation.js";
import { isoTimestamp } from "./timefmt.js";

/** Whether this page's user may edit the message: their own, as the server says. */
export function mayEdit(message, session) {
  return Boolean(session) && !message.system && message.userId === session.userId;
}

/**
 * Whether this page's user may delete the message: the one rule that shows the "Delete
 * message" control. The author's own, and anyone's for a moderator or an admin (the server
 * checks again, with the role it holds now).
 */
export function mayDelete(message, session) {
  if (!session || message.system) return false;
  return mayEdit(message, session) || isModerator(session.role);
}

/** "(edited)", with when, for a message its author edited. */
export function editedMark(message) {
  if (!Number.isFinite(message.editedAt)) return null;
  const when = new Date(message.editedAt);
  return h(
    "time",
    { class: "edited", datetime: isoTimestamp(message.editedAt), title: `Edited ${when.toLocaleString()}` },
    "(edited)",
  );
}

/** The message's edit time after its text and the controls this user may use, on a line
 * made by render.js's messageItem. `actions`: {edit(message, item), remove(message)}. */
export function decorate(item, message, session, actions) {
  if (message.system) return item;
  const body = item.querySelector(".body");
  const mark = editedMark(message);
  if (body && mark) body.append(mark);
  const buttons = [];
  if (mayEdit(message, session)) {
    buttons.push(actionButton("Edit message", ICONS.edit, () => actions.edit(message, item)));
  }
  if (mayDelete(message, session)) {
    buttons.push(actionButton("Delete message", ICONS.delete, () => actions.remove(message)));
  }
  if (buttons.length) item.append(h("div", { class: "message-actions" }, ...buttons));
  return item;
}

/**
 * Edit a message in place: a text box with its text, saved with Enter or "Save", left with
 * Escape or "Cancel". `send(text, done)` asks the server; `done(error)` is called with its
 * refusal (shown, the box stays) or null (the box goes; the server's `message:edit` shows
 * the change to everyone, this page included). `close()` puts the line back.
 */
export function openEditor(item, message, { send, close }) {
  const body = item.querySelector(".body");
  const text = body?.querySelector(".text");
  if (!body || !text || item.querySelector(".edit-form")) return;
  const field = h("textarea", { class: "edit-input", rows: 2, "aria-label": "Edit message text" });
  field.value = message.message;
  const error = h("p", { class: "edit-error", role: "alert" });
  const save = h("button", { type: "submit", class: "primary" }, "Save");
  const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
  const form = h("form", { class: "edit-form", novalidate: true }, field, h("div", { class: "edit-buttons" }, cancel, save), error);
  text.hidden = true;
  text.after(form);
  const leave = () => {
    form.remove();
    text.hidden = false;
    close();
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = field.value.trim();
    if (!value) {
      error.textContent = "The message cannot be empty.";
      return;
    }
    if (value === message.message) return leave();
    save.disabled = true;
    send(value, (refusal) => {
      save.disabled = false;
      if (refusal) error.textContent = `Not edited: ${refusal}`;
      else leave();
    });
  });
  cancel.addEventListener("click", leave);
  field.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      leave();
    } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  field.focus();
  field.setSelectionRange(field.value.length, field.value.length);
}

/**
 * The server's `message:edit` {channel, id, message, editedAt} in the state: returns the
 * updated message, or null (unknown channel or message, malformed).
 */
export function applyEdit(state, change) {
  if (change === null || typeof change !== "object" || typeof change.message !== "string") return null;
  const entry = state.channels.get(change.channel);
  const at = entry ? entry.messages.findIndex((m) => !m.system && m.id === change.id) : -1;
  if (at < 0) return null;
  const edited = { ...entry.messages[at], message: change.message };
  if (Number.isFinite(change.editedAt)) edited.editedAt = change.editedAt;
  entry.messages[at] = edited;
  return edited;
}

