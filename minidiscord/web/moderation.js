// Roles and moderation on the chat page: role badges next to names, the moderators'
// actions on messages ("Delete message") and users ("Time out", "Kick", "Ban"), and the
// confirmation dialog each action goes through. What is shown follows the server's rules
// (chat/moderation/service.py) so that nobody is offered what would be refused, but the
// server checks every request anyway: hiding a button is not the protection.

import { h } from "./dom.js";

const ACK_TIMEOUT_MS = 10000;
const RANKS = Object.freeze({ guest: 0, member: 1, moderator: 2, admin: 3 });
// Members carry no badge: it is what everyone with an account is.
const BADGES = Object.freeze({
  admin: { text: "admin", title: "Administrator" },
  moderator: { text: "mod", title: "Moderator" },
  guest: { text: "guest", title: "Guest (no account)" },
});
export const TIMEOUT_CHOICES = Object.freeze([
  ["60", "1 minute"],
  ["300", "5 minutes"],
  ["600", "10 minutes"],
  ["3600", "1 hour"],
  ["86400", "1 day"],
  ["604800", "1 week"],
]);

function rank(role) {
  return RANKS[role] ?? RANKS.guest;
}

export function isModerator(role) {
  return rank(role) >= RANKS.moderator;
}

export function isAdmin(role) {
  return rank(role) >= RANKS.admin;
}

/** Whether `viewer` may time out, kick or ban `user`: only someone of a lower role, never oneself. */
export function mayModerate(viewer, user) {
  if (!viewer || !user || viewer.userId === user.userId) return false;
  return isModerator(viewer.role) && rank(user.role) < rank(viewer.role);
}

/** The badge for a role, or null (members). Its text says the role to a screen reader too. */
export function roleBadge(role) {
  const badge = BADGES[role];
  if (!badge) return null;
  return h(
    "span",
    { class: `role-badge role-${role}`, title: badge.title },
    h("span", { class: "visually-hidden" }, " ("),
    badge.text,
    h("span", { class: "visually-hidden" }, ")"),
  );
}

/**
 * Emit a moderation event and wait for its ack: resolves to the server's `{ok, ...}`, or
 * `{ok: false, error}` when there is no connection or no answer in time.
 */
export function ask(socket, event, fields) {
  return new Promise((resolve) => {
    if (!socket?.connected) {
      resolve({ ok: false, error: "you are offline" });
      return;
    }
    socket.timeout(ACK_TIMEOUT_MS).emit(event, fields, (error, reply) => {
      if (error) resolve({ ok: false, error: "the server did not answer in time" });
      else if (reply === null || typeof reply !== "object") resolve({ ok: false, error: "the server does not know this request" });
      else resolve(reply);
    });
  });
}

// ---- the confirmation dialog ----------------------------------------------------------

let dialog = null;

function confirmDialog() {
  if (dialog) return dialog;
  const title = h("h2", { class: "dialog-title", id: "moderation-title" });
  const text = h("p", { class: "dialog-text", id: "moderation-text" });
  const duration = h("select", { id: "moderation-duration" },
    ...TIMEOUT_CHOICES.map(([seconds, label]) => h("option", { value: seconds }, label)));
  const durationField = h("div", { class: "dialog-field" },
    h("label", { for: "moderation-duration", class: "field-label" }, "Duration"), duration);
  const reason = h("input", { id: "moderation-reason", type: "text", maxlength: 500, autocomplete: "off" });
  const reasonLabel = h("label", { for: "moderation-reason", class: "field-label" }, "Reason");
  const reasonField = h("div", { class: "dialog-field" }, reasonLabel, reason);
  const error = h("p", { class: "field-error", role: "alert" });
  const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
  const confirm = h("button", { type: "submit", class: "danger-button" });
  const form = h("form", { method: "dialog", class: "dialog-form", novalidate: true },
    title, text, durationField, reasonField, error, h("div", { class: "dialog-actions" }, cancel, confirm));
  const node = h("dialog", { class: "leave-dialog moderation-dialog", "aria-labelledby": "moderation-title", "aria-describedby": "moderation-text" }, form);
  document.body.append(node);
  cancel.addEventListener("click", () => node.close());
  dialog = { node, title, text, durationField, duration, reasonField, reasonLabel, reason, error, confirm, form, pending: null };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const run = dialog.pending;
    if (!run || confirm.disabled) return;
    confirm.disabled = true;
    error.textContent = "";
    const failure = await run({ reason: reason.value.trim(), seconds: Number(duration.value) });
    confirm.disabled = false;
    if (failure) error.textContent = failure;
    else node.close();
  });
  return dialog;
}

/**
 * Ask before a moderation action. `reason`: "required", "optional" or null (no field);
 * `duration`: whether to ask how long. `run({reason, seconds})` does it and resolves to
 * null, or to a sentence saying why it failed (shown in the dialog, which stays open).
 * Focus goes back to `returnFocus` (an element, or a function giving one: the element may
 * have been drawn again meanwhile), else to where it was, when the dialog closes.
 */
export function confirmAction({ title, text, confirmLabel, reason = null, duration = false, run, returnFocus = null }) {
  const d = confirmDialog();
  const before = document.activeElement;
  const back = () => (typeof returnFocus === "function" ? returnFocus() : (returnFocus ?? before));
  d.title.textContent = title;
  d.text.textContent = text;
  d.confirm.textContent = confirmLabel;
  d.confirm.disabled = false;
  d.error.textContent = "";
  d.durationField.hidden = !duration;
  d.duration.value = TIMEOUT_CHOICES[1][0];
  d.reasonField.hidden = reason === null;
  d.reasonLabel.textContent = reason === "optional" ? "Reason (optional)" : "Reason";
  d.reason.value = "";
  d.reason.required = reason === "required";
  d.pending = async (values) => {
    if (reason === "required" && !values.reason) {
      d.reason.focus();
      return "Give a reason.";
    }
    return run(values);
  };
  d.node.addEventListener("close", () => {
    d.pending = null;
    const target = back();
    if (target?.isConnected) target.focus();
  }, { once: true });
  d.node.showModal();
  (duration ? d.duration : reason !== null ? d.reason : d.confirm).focus();
}

/** The server's refusal in an ack as a sentence for the dialog. */
export function refusalText(reply) {
  const reason = typeof reply?.error === "string" ? reply.error : "the server refused";
  return `${reason[0].toUpperCase()}${reason.slice(1)}.`;
}

// ---- decorations of the chat's views ----------------------------------------------------

/**
 * Add to a rendered message (render.js messageItem) its author's badge. `authorRole`: the
 * author's role as the user list knows it (null when unknown). Its controls, "Delete message"
 * among them, are edits.js's `decorate` (one rule: `mayDelete`).
 */
export function decorateMessage(node, message, authorRole) {
  if (message.system) return node;
  const badge = roleBadge(authorRole);
  const author = node.querySelector(".author");
  if (badge && author) author.after(badge);
  return node;
}

/** Add to a rendered member (render.js userItem) its badge and the moderators' actions on it. */
export function decorateMember(node, user, { viewer, onAction }) {
  const badge = roleBadge(user.role);
  if (badge) node.querySelector(".member-name")?.after(badge);
  if (!mayModerate(viewer, user)) return node;
  const actions = [["timeout", "Time out"], ["kick", "Kick"], ["ban", "Ban"]].map(([action, label]) => {
    const button = h("button", { type: "button", class: "member-action", "data-action": action }, label);
    button.addEventListener("click", () => onAction(action, user, button));
    return button;
  });
  node.classList.add("moderated");
  node.append(h("div", { class: "member-actions", role: "group", "aria-label": `Moderate ${user.username}` }, ...actions));
  return node;
}

/** What each user action asks and sends; `fields` makes its payload from the dialog's values. */
export const USER_ACTIONS = Object.freeze({
  timeout: {
    event: "user:timeout",
    title: (name) => `Time out ${name}?`,
    text: (name) => `${name} will not be able to send messages until the time is over.`,
    confirmLabel: "Time out",
    reason: "optional",
    duration: true,
    fields: ({ reason, seconds }) => ({ seconds, ...(reason ? { reason } : {}) }),
  },
  kick: {
    event: "user:kick",
    title: (name) => `Kick ${name}?`,
    text: (name) => `Every tab of ${name} is disconnected; they may come back.`,
    confirmLabel: "Kick",
    reason: "optional",
    fields: ({ reason }) => (reason ? { reason } : {}),
  },
  ban: {
    event: "user:ban",
    title: (name) => `Ban ${name}?`,
    text: (name) => `${name} is disconnected and cannot come back until unbanned.`,
    confirmLabel: "Ban",
    reason: "required",
    fields: ({ reason }) => ({ reason }),
  },
});

/** Confirm and run one of USER_ACTIONS on `user` over `socket`; `done(reply)` after it succeeded. */
export function moderateUser(socket, action, user, { returnFocus = null, done = () => {} } = {}) {
  const spec = USER_ACTIONS[action];
  confirmAction({
    title: spec.title(user.username),
    text: spec.text(user.username),
    confirmLabel: spec.confirmLabel,
    reason: spec.reason,
    duration: Boolean(spec.duration),
    returnFocus,
    run: async (values) => {
      const reply = await ask(socket, spec.event, { userId: user.userId, ...spec.fields(values) });
      if (reply.ok !== true) return refusalText(reply);
      done(reply);
      return null;
    },
  });
}
