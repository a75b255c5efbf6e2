// Accounts on the chat page: the login form's "Log in" and "Register" (with an invite code
// where the server asks for one), the modes the server runs in (GET /api/config), why an
// account's connection ended, and the "Sessions and password" dialog. The login itself is
// the HttpOnly cookie the server sets: the page keeps only the account's name.

import { callApi, describeRefusal } from "./api.js";
import { h } from "./dom.js";
import { formatTimestamp } from "./timefmt.js";

const $ = (id) => document.getElementById(id);
const AUTH_MODES = ["open", "accounts"];
const REGISTRATION_MODES = ["open", "invite", "closed"];

/**
 * The server's modes. Until /api/config answers, and on a server without it, the page
 * offers the guest path alone, as it always did.
 */
export const serverModes = { accounts: false, auth: "open", registration: "closed" };

export async function loadServerModes() {
  const answer = await callApi("config");
  if (answer.ok && AUTH_MODES.includes(answer.data.auth) && REGISTRATION_MODES.includes(answer.data.registration)) {
    serverModes.accounts = true;
    serverModes.auth = answer.data.auth;
    serverModes.registration = answer.data.registration;
  }
  return serverModes;
}

/** Whether the guest path ("Connect" with a name alone) is offered. */
export function guestsAllowed() {
  return serverModes.auth === "open";
}

// ---- the login form -------------------------------------------------------------------

export class AccountForm {
  /** `onLoggedIn(username)`: a login or registration succeeded (the cookie is set). */
  constructor({ onLoggedIn }) {
    this.ui = {
      form: $("login-form"),
      username: $("username"),
      password: $("password"),
      passwordHint: $("password-hint"),
      invite: $("invite"),
      inviteField: $("invite-field"),
      fields: $("account-fields"),
      buttons: $("account-buttons"),
      login: $("login-button"),
      register: $("register-button"),
      connect: $("connect-button"),
      note: $("login-note"),
      error: $("login-error"),
    };
    this.onLoggedIn = onLoggedIn;
    this.busy = false;
    // The account this browser is logged in as (its cookie), if any: "Connect" comes back as it.
    this.remembered = null;
    const { login, register, password, invite, username } = this.ui;
    login.addEventListener("click", () => this.submit("login"));
    register.addEventListener("click", () => this.submit("register"));
    password.addEventListener("keydown", (event) => this.onEnter(event, "login"));
    invite.addEventListener("keydown", (event) => this.onEnter(event, "register"));
    username.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" || event.isComposing) return;
      // A typed password means "log in"; without one, Enter is the guest's Connect.
      if (password.value) this.onEnter(event, "login");
      else if (!this.connectOffered()) {
        event.preventDefault();
        password.focus();
      }
    });
    for (const field of [password, invite]) field.addEventListener("input", () => this.setError(""));
  }

  onEnter(event, action) {
    if (event.key !== "Enter" || event.isComposing) return;
    event.preventDefault();
    this.submit(action);
  }

  connectOffered() {
    return guestsAllowed() || this.remembered !== null;
  }

  /** Show what the server's modes offer; `remembered`: the account's name this browser is logged in as. */
  render(remembered = this.remembered) {
    this.remembered = remembered;
    const { fields, buttons, register, inviteField, connect, passwordHint } = this.ui;
    fields.hidden = !serverModes.accounts;
    buttons.hidden = !serverModes.accounts;
    register.hidden = serverModes.registration === "closed";
    inviteField.hidden = serverModes.registration !== "invite";
    const offered = this.connectOffered();
    connect.hidden = !offered;
    connect.disabled = !offered;
    passwordHint.textContent =
      serverModes.accounts && guestsAllowed() ? "Leave the password empty to chat as a guest." : "";
  }

  setError(text, field = null) {
    this.ui.error.textContent = text;
    for (const input of [this.ui.username, this.ui.password, this.ui.invite]) {
      input.setAttribute("aria-invalid", input === field ? "true" : "false");
    }
    field?.focus();
  }

  async submit(action) {
    if (this.busy) return;
    const { username, password, invite, note } = this.ui;
    const name = username.value.trim();
    if (!name) return this.setError("Username cannot be empty.", username);
    if (!password.value) return this.setError("Password cannot be empty.", password);
    const body = { username: name, password: password.value };
    if (action === "register" && serverModes.registration === "invite") body.invite = invite.value.trim();
    this.setError("");
    this.setBusy(true);
    note.textContent = action === "login" ? "Logging in…" : "Registering…";
    const answer = await callApi(action, body);
    this.setBusy(false);
    if (!answer.ok) {
      note.textContent = "";
      const field = answer.status === 409 ? username : action === "register" && answer.status === 403 && body.invite !== undefined ? invite : password;
      this.setError(describeRefusal(answer), field);
      return;
    }
    password.value = "";
    invite.value = "";
    this.onLoggedIn(typeof answer.data.username === "string" ? answer.data.username : name);
  }

  setBusy(busy) {
    this.busy = busy;
    for (const button of [this.ui.login, this.ui.register, this.ui.connect]) button.toggleAttribute("aria-disabled", busy);
  }
}

// ---- a login that ended -----------------------------------------------------------------

/**
 * Why the server let an account's connection go: the login's own answer (banned, revoked,
 * logged out elsewhere), or null while the login still holds (a moderator's kick).
 */
export async function whyLoginEnded() {
  const answer = await callApi("sessions");
  if (answer.ok) return null;
  if (answer.status === 401 || answer.status === 403) return describeRefusal(answer);
  return null;
}

/** End this browser's login (and clear its cookie, even when the server had already ended it). */
export async function logOut() {
  await callApi("logout", {});
}

// ---- "Sessions and password" ------------------------------------------------------------

let dialog = null;

/** `onEndedHere(note)`: this browser's own login ended (log out everywhere). */
export function openAccountDialog({ username, onEndedHere, returnFocus }) {
  dialog ??= buildAccountDialog();
  dialog.onEndedHere = onEndedHere;
  dialog.title.textContent = `Your account: ${username}`;
  dialog.status.textContent = "";
  for (const input of [dialog.current, dialog.fresh]) input.value = "";
  dialog.node.addEventListener("close", () => returnFocus?.focus(), { once: true });
  dialog.node.showModal();
  dialog.close.focus();
  refreshSessions();
}

function buildAccountDialog() {
  const title = h("h2", { class: "dialog-title", id: "account-title" });
  const status = h("p", { class: "dialog-status", role: "status" });
  const list = h("ul", { class: "session-list", "aria-labelledby": "sessions-heading" });
  const everywhere = h("button", { type: "button", class: "danger-button" }, "Log out everywhere");
  const current = h("input", { id: "current-password", type: "password", autocomplete: "current-password" });
  const fresh = h("input", { id: "new-password", type: "password", autocomplete: "new-password", minlength: 8 });
  const change = h("button", { type: "submit", class: "primary" }, "Change password");
  const passwordForm = h(
    "form",
    { class: "password-form", novalidate: true, "aria-labelledby": "password-heading" },
    h("h3", { id: "password-heading", class: "dialog-subtitle" }, "Change password"),
    h("label", { for: "current-password", class: "field-label" }, "Current password"),
    current,
    h("label", { for: "new-password", class: "field-label" }, "New password"),
    fresh,
    h("div", { class: "dialog-actions" }, change),
  );
  const close = h("button", { type: "button", class: "secondary" }, "Close");
  const node = h(
    "dialog",
    { class: "leave-dialog wide-dialog", "aria-labelledby": "account-title" },
    title,
    status,
    h("h3", { id: "sessions-heading", class: "dialog-subtitle" }, "Sessions"),
    list,
    h("div", { class: "dialog-actions" }, everywhere),
    passwordForm,
    h("div", { class: "dialog-actions" }, close),
  );
  document.body.append(node);
  const made = { node, title, status, list, current, fresh, close, onEndedHere: null };
  close.addEventListener("click", () => node.close());
  everywhere.addEventListener("click", async () => {
    const answer = await callApi("sessions/revoke", { all: true });
    if (!answer.ok) return (status.textContent = describeRefusal(answer));
    node.close();
    made.onEndedHere?.("You logged out everywhere.");
  });
  passwordForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await callApi("password", { current: current.value, new: fresh.value });
    current.value = "";
    fresh.value = "";
    if (!answer.ok) return (status.textContent = `Password not changed: ${describeRefusal(answer)}`);
    const ended = Number(answer.data.ended) || 0;
    status.textContent = `Password changed. ${ended === 1 ? "1 other session was" : `${ended} other sessions were`} logged out.`;
    refreshSessions();
  });
  return made;
}

async function refreshSessions() {
  const { list, status } = dialog;
  const answer = await callApi("sessions");
  if (!answer.ok || !Array.isArray(answer.data.sessions)) {
    list.replaceChildren();
    status.textContent = `The sessions cannot be listed: ${describeRefusal(answer)}`;
    return;
  }
  const now = new Date();
  list.replaceChildren(...answer.data.sessions.map((session) => sessionItem(session, now)));
}

function sessionItem(session, now) {
  const agent = typeof session.agent === "string" && session.agent ? describeAgent(session.agent) : "Unknown browser";
  const used = Number.isFinite(session.lastUsed) ? `last used ${formatTimestamp(session.lastUsed, now)}` : "";
  const label = session.current ? `${agent} (this browser)` : agent;
  const item = h(
    "li",
    { class: "session", "data-session": session.id },
    h("span", { class: "session-agent", title: session.agent ?? "" }, label),
    h("span", { class: "session-used" }, used),
  );
  if (!session.current) {
    const revoke = h("button", { type: "button", class: "secondary-button", "aria-label": `Revoke ${label}, ${used}` }, "Revoke");
    revoke.addEventListener("click", async () => {
      const answer = await callApi("sessions/revoke", { session: session.id });
      dialog.status.textContent = answer.ok ? `Revoked: ${label}.` : describeRefusal(answer);
      refreshSessions();
    });
    item.append(revoke);
  }
  return item;
}

/** A short name for a User-Agent: enough to tell a phone from a laptop. */
function describeAgent(agent) {
  const browser = /Edg\//.test(agent) ? "Edge" : /Firefox\//.test(agent) ? "Firefox" : /Chrom(e|ium)\//.test(agent) ? "Chrome" : /Safari\//.test(agent) ? "Safari" : null;
  const system = /Android/.test(agent) ? "Android" : /iPhone|iPad/.test(agent) ? "iOS" : /Windows/.test(agent) ? "Windows" : /Mac OS X/.test(agent) ? "macOS" : /Linux/.test(agent) ? "Linux" : null;
  if (browser && system) return `${browser} on ${system}`;
  return browser ?? system ?? agent.slice(0, 60);
}
