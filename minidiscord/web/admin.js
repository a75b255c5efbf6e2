// The admin view ("Administration" in Settings, admins only): list and search users, set
// roles, ban and unban, end a user's login sessions, make invite codes, prune guests not
// seen for some days, and read the audit log a page at a time. Everything goes over the
// chat's socket (admin:users, user:role, user:ban, user:unban, user:revoke-sessions,
// admin:invite, admin:prune-guests, audit:list); the server refuses anyone but an admin.

import { h } from "./dom.js";
import { ask, confirmAction, moderateUser, refusalText, roleBadge } from "./moderation.js";
import { formatTimestamp, isoTimestamp } from "./timefmt.js";

const AUDIT_PAGE = 20;
const ROLES = ["member", "moderator", "admin"];
// The server's bounds for admin:prune-guests (moderation/service.py MAX_PRUNE_DAYS).
const PRUNE_DAYS = { min: 1, max: 3650, initial: 30 };

let view = null;

/** Open the admin view; `socket()` gives the current connection, `self` the admin's user id. */
export function openAdminView({ socket, self, returnFocus }) {
  view ??= buildView();
  view.socket = socket;
  view.self = self;
  view.status.textContent = "";
  view.node.addEventListener("close", () => returnFocus?.focus(), { once: true });
  view.node.showModal();
  view.search.focus();
  loadUsers();
  loadAudit({ reset: true });
}

function buildView() {
  const title = h("h2", { class: "dialog-title", id: "admin-title" }, "Administration");
  const status = h("p", { class: "dialog-status", role: "status" });
  const search = h("input", { id: "admin-search", type: "search", autocomplete: "off", spellcheck: "false", maxlength: 64 });
  const searchForm = h(
    "form",
    { class: "admin-search", role: "search", novalidate: true },
    h("label", { for: "admin-search", class: "field-label" }, "Search users"),
    h("div", { class: "admin-search-row" }, search, h("button", { type: "submit", class: "primary" }, "Search")),
  );
  const summary = h("p", { class: "admin-summary", id: "admin-summary" });
  const users = h("ul", { class: "admin-users", "aria-labelledby": "admin-users-heading", "aria-describedby": "admin-summary" });
  const audit = h("ol", { class: "audit-list", "aria-labelledby": "audit-heading" });
  const older = h("button", { type: "button", class: "secondary" }, "Load older entries");
  const close = h("button", { type: "button", class: "secondary" }, "Close");
  const node = h(
    "dialog",
    { class: "leave-dialog wide-dialog admin-dialog", "aria-labelledby": "admin-title" },
    title,
    status,
    searchForm,
    h("h3", { id: "admin-users-heading", class: "dialog-subtitle" }, "Users"),
    summary,
    users,
    h("h3", { id: "admin-upkeep-heading", class: "dialog-subtitle" }, "Invites and guests"),
    upkeepControls(status),
    h("h3", { id: "audit-heading", class: "dialog-subtitle" }, "Audit log"),
    audit,
    h("div", { class: "dialog-actions" }, older, close),
  );
  document.body.append(node);
  const made = { node, status, search, summary, users, audit, older, socket: () => null, self: null, oldest: null };
  searchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    loadUsers();
  });
  older.addEventListener("click", () => loadAudit({ reset: false }));
  close.addEventListener("click", () => node.close());
  return made;
}

/** "Make invite code" (the code shown once, to copy) and "Prune guests" (not seen for N days). */
function upkeepControls(status) {
  const make = h("button", { type: "button", class: "secondary-button" }, "Make invite code");
  const code = h("input", { id: "admin-invite-code", type: "text", readonly: true, spellcheck: "false", autocomplete: "off" });
  const copy = h("button", { type: "button", class: "secondary-button" }, "Copy");
  const expires = h("p", { class: "field-hint", id: "admin-invite-expires" });
  const made = h(
    "div",
    { class: "admin-invite", hidden: true },
    h("label", { for: "admin-invite-code", class: "field-label" }, "New invite code"),
    h("div", { class: "admin-search-row" }, code, copy),
    expires,
  );
  code.setAttribute("aria-describedby", "admin-invite-expires");
  make.addEventListener("click", async () => {
    const reply = await ask(view.socket(), "admin:invite", {});
    if (reply.ok !== true || typeof reply.code !== "string") {
      status.textContent = `No invite code was made: ${refusalText(reply)}`;
      return;
    }
    code.value = reply.code;
    expires.textContent = `One registration, until ${formatTimestamp(reply.expires, new Date())}. It is shown only now.`;
    made.hidden = false;
    code.focus();
    code.select();
    status.textContent = "An invite code was made.";
  });
  copy.addEventListener("click", async () => {
    code.select();
    try {
      await navigator.clipboard.writeText(code.value);
      status.textContent = "The invite code is copied.";
    } catch {
      status.textContent = "The invite code is selected: copy it with your keyboard or menu.";
    }
  });

  const days = h("input", { id: "admin-prune-days", type: "number", inputmode: "numeric", min: PRUNE_DAYS.min, max: PRUNE_DAYS.max, step: 1, value: PRUNE_DAYS.initial, required: true });
  const prune = h("form", { class: "admin-prune", novalidate: true },
    h("label", { for: "admin-prune-days", class: "field-label" }, "Guests not seen for (days)"),
    h("div", { class: "admin-search-row" }, days, h("button", { type: "submit", class: "secondary-button" }, "Prune guests")),
  );
  prune.addEventListener("submit", (event) => {
    event.preventDefault();
    const count = Number(days.value);
    if (!Number.isInteger(count) || count < PRUNE_DAYS.min || count > PRUNE_DAYS.max) {
      status.textContent = `Days must be a whole number from ${PRUNE_DAYS.min} to ${PRUNE_DAYS.max}.`;
      days.focus();
      return;
    }
    confirmAction({
      title: "Prune guests?",
      text: `Every guest not seen for ${count} ${count === 1 ? "day" : "days"} is removed from the users list for good. Accounts stay.`,
      confirmLabel: "Prune guests",
      returnFocus: days,
      run: async () => {
        const reply = await ask(view.socket(), "admin:prune-guests", { days: count });
        if (reply.ok !== true) return refusalText(reply);
        refreshAfter(`${reply.removed} ${reply.removed === 1 ? "guest" : "guests"} removed.`)();
        return null;
      },
    });
  });
  return h("div", { class: "admin-upkeep", role: "group", "aria-labelledby": "admin-upkeep-heading" }, make, made, prune);
}

async function loadUsers() {
  const search = view.search.value.trim();
  const reply = await ask(view.socket(), "admin:users", search ? { search } : {});
  if (reply.ok !== true || !Array.isArray(reply.users)) {
    view.summary.textContent = `The users cannot be listed: ${refusalText(reply)}`;
    view.users.replaceChildren();
    return;
  }
  const shown = reply.users.length;
  const total = Number(reply.total) || shown;
  const matching = search ? ` matching “${search}”` : "";
  view.summary.textContent = `${total} ${total === 1 ? "user" : "users"}${matching}${total > shown ? `, the first ${shown} shown` : ""}.`;
  const now = new Date();
  view.users.replaceChildren(...reply.users.map((user) => userRow(user, now)));
}

function userRow(user, now) {
  const seen = user.online ? "online" : user.lastSeen > 0 ? `last seen ${formatTimestamp(user.lastSeen, now)}` : "never seen";
  const row = h(
    "li",
    { class: "admin-user", "data-user-id": user.userId, "aria-label": user.username },
    h("p", { class: "admin-user-name" }, h("span", { class: "member-name" }, user.username), roleBadge(user.role)),
    h("p", { class: "admin-user-state" }, seen, user.banned !== null ? h("span", { class: "banned" }, ` · banned: ${user.banned}`) : null),
  );
  if (user.userId === view.self()) return row;
  const actions = h("div", { class: "admin-actions" });
  if (user.role !== "guest") {
    const select = h("select", { "aria-label": `Role of ${user.username}` }, ...ROLES.map((role) => h("option", { value: role, selected: role === user.role }, role)));
    const save = h("button", { type: "button", class: "secondary-button" }, "Set role");
    save.addEventListener("click", () => act("user:role", { userId: user.userId, role: select.value }, `${user.username} is now ${select.value}.`));
    actions.append(select, save);
  }
  if (user.banned === null) {
    const ban = h("button", { type: "button", class: "secondary-button" }, "Ban");
    ban.addEventListener("click", () => moderateUser(view.socket(), "ban", user, { returnFocus: view.search, done: refreshAfter(`${user.username} is banned.`) }));
    actions.append(ban);
  } else {
    const unban = h("button", { type: "button", class: "secondary-button" }, "Unban");
    unban.addEventListener("click", () => confirmAction({
      title: `Unban ${user.username}?`,
      text: `${user.username} may log in and connect again.`,
      confirmLabel: "Unban",
      reason: "optional",
      returnFocus: view.search,
      run: async ({ reason }) => {
        const reply = await ask(view.socket(), "user:unban", { userId: user.userId, ...(reason ? { reason } : {}) });
        if (reply.ok !== true) return refusalText(reply);
        refreshAfter(`${user.username} is no longer banned.`)();
        return null;
      },
    }));
    actions.append(unban);
  }
  if (user.role !== "guest") {
    const revoke = h("button", { type: "button", class: "secondary-button" }, "Revoke sessions");
    revoke.addEventListener("click", () => confirmAction({
      title: `Revoke every session of ${user.username}?`,
      text: `${user.username} is logged out on every device and must log in again.`,
      confirmLabel: "Revoke sessions",
      returnFocus: view.search,
      run: async () => {
        const reply = await ask(view.socket(), "user:revoke-sessions", { userId: user.userId });
        if (reply.ok !== true) return refusalText(reply);
        refreshAfter(`${reply.ended} ${reply.ended === 1 ? "session" : "sessions"} of ${user.username} ended.`)();
        return null;
      },
    }));
    actions.append(revoke);
  }
  row.append(actions);
  return row;
}

async function act(event, fields, done) {
  const reply = await ask(view.socket(), event, fields);
  if (reply.ok !== true) {
    view.status.textContent = refusalText(reply);
    return;
  }
  refreshAfter(done)();
}

/** After an action: show the users and the log as they are now, then say what happened. */
function refreshAfter(text) {
  return async () => {
    view.status.textContent = "";
    await Promise.all([loadUsers(), loadAudit({ reset: true })]);
    view.status.textContent = text;
  };
}

async function loadAudit({ reset }) {
  const fields = { limit: AUDIT_PAGE };
  if (!reset && view.oldest !== null) fields.before = view.oldest;
  const reply = await ask(view.socket(), "audit:list", fields);
  if (reply.ok !== true || !Array.isArray(reply.entries)) {
    view.audit.replaceChildren(h("li", {}, `The audit log cannot be read: ${refusalText(reply)}`));
    view.older.hidden = true;
    return;
  }
  const now = new Date();
  const items = reply.entries.map((entry) => auditItem(entry, now));
  if (reset) view.audit.replaceChildren(...items);
  else view.audit.append(...items);
  if (reset && items.length === 0) view.audit.replaceChildren(h("li", { class: "audit-empty" }, "Nothing has been done yet."));
  view.oldest = reply.entries.at(-1)?.id ?? view.oldest;
  view.older.hidden = reply.entries.length < AUDIT_PAGE;
}

function auditItem(entry, now) {
  return h(
    "li",
    { class: "audit-entry", "data-id": entry.id },
    h("time", { datetime: isoTimestamp(entry.at) }, formatTimestamp(entry.at, now)),
    " ",
    h("span", { class: "audit-text" }, `${entry.actor}: ${entry.action} ${entry.target}`),
    entry.detail ? ` (${entry.detail})` : null,
    entry.reason ? h("span", { class: "audit-reason" }, ` why: ${entry.reason}`) : null,
  );
}
