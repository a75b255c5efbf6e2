// The chat page: connects the Socket.IO client, the chat state and the views.

import { installChannels } from "./channels.js";
import { AccountForm, guestsAllowed, loadServerModes, logOut, openAccountDialog, whyLoginEnded } from "./account.js";
import { openAdminView } from "./admin.js";
import { ChatState } from "./chatstate.js";
import { ask, confirmAction, decorateMember, decorateMessage, isAdmin, moderateUser, refusalText } from "./moderation.js";
import { applyEdit, decorate, openEditor } from "./edits.js";
import { applyReactions, withReactions } from "./reactions.js";
import { mountSearch } from "./search.js";
import { avatar, channelButton, channelIntro, messageItem, userItem } from "./render.js";
import { Socket } from "./socketio.js";
import { updateChannelItems } from "./dom.js";
import { askToNotify, MentionSuggestions, Mentions, mentionsMe } from "./mentions.js";
import { Reads } from "./reads.js";
import { Typing } from "./typing.js";
import { forgetSession, loadSession, markDisconnected, saveAccount, saveChannel, saveSession } from "./storage.js";

const SEND_ACK_TIMEOUT_MS = 10000;
const LEAVE_ACK_TIMEOUT_MS = 2000;
// Within this distance of the bottom the list counts as "at the newest message".
const STICKY_SCROLL_PX = 48;
const SYSTEM_CHANNEL = "welcome";
// Older messages are asked for when the list is scrolled this close to its top.
const HISTORY_TRIGGER_PX = 80;
const HISTORY_PAGE = 50;
const HISTORY_ACK_TIMEOUT_MS = 5000;
const OFFLINE_ERROR = "You are offline: the message was not sent.";
const CLOSED_BY_SERVER = "The server closed the connection.";
// What Tab may reach inside an open drawer.
const FOCUSABLE = [
  "button:not([disabled])",
  "[href]",
  "input:not([disabled])",
  "textarea:not([disabled])",
  "[tabindex]:not([tabindex='-1'])",
].join(", ");

const $ = (id) => document.getElementById(id);
const ui = {
  loginView: $("login-view"),
  loginForm: $("login-form"),
  loginNote: $("login-note"),
  loginError: $("login-error"),
  username: $("username"),
  chatView: $("chat-view"),
  channelTitle: $("channel-title"),
  connectedAs: $("connected-as"),
  channelsPanel: $("channels-panel"),
  membersPanel: $("members-panel"),
  toggleChannels: $("toggle-channels"),
  toggleMembers: $("toggle-members"),
  channelsUnread: $("channels-unread"),
  topbar: $("topbar"),
  conversation: $("conversation"),
  backdrop: $("drawer-backdrop"),
  channelList: $("channel-list"),
  selfAvatar: $("self-avatar"),
  selfName: $("self-name"),
  settingsButton: $("settings-button"),
  settingsMenu: $("settings-menu"),
  disconnectButton: $("disconnect-button"),
  accountButton: $("account-button"),
  adminButton: $("admin-button"),
  logoutButton: $("logout-button"),
  leaveButton: $("leave-button"),
  leaveDialog: $("leave-dialog"),
  leaveConfirm: $("leave-confirm"),
  leaveCancel: $("leave-cancel"),
  status: $("connection-status"),
  messages: $("messages"),
  messageList: $("message-list"),
  jumpLatest: $("jump-latest"),
  messageForm: $("message-form"),
  messageInput: $("message-input"),
  sendError: $("send-error"),
  onlineHeading: $("online-heading"),
  offlineHeading: $("offline-heading"),
  onlineList: $("online-list"),
  offlineList: $("offline-list"),
};

let state = new ChatState();
const typing = new Typing($("typing-indicator"), () => state.session?.userId);
const reads = new Reads();
const mentions = new Mentions();
const suggestions = new MentionSuggestions($("message-input"), $("mention-suggestions"), () =>
  [...state.users.values()].filter((u) => u.userId !== state.session?.userId),
);
// The Socket of the current login; handlers of any older one are ignored.
let socket = null;
let loadingHistory = false;
// When a history page refused as asked too fast may be asked for again (ms since epoch).
let historyRetryAt = 0;
const accountForm = new AccountForm({ onLoggedIn: (username) => connectAs({ username, account: true }) });

// ---- views -------------------------------------------------------------------------

function showLogin({ note = "", error = "", username = "" } = {}) {
  closeDrawers();
  ui.chatView.hidden = true;
  ui.loginView.hidden = false;
  ui.loginNote.textContent = note;
  ui.loginError.textContent = error;
  ui.username.setAttribute("aria-invalid", error ? "true" : "false");
  ui.username.value = username;
  accountForm.render(loadSession().account);
  document.title = "minidiscord";
  ui.username.focus();
}

function showChat() {
  if (!ui.chatView.hidden) return;
  ui.loginView.hidden = true;
  ui.loginNote.textContent = "";
  ui.chatView.hidden = false;
  ui.messageInput.focus();
}

function setStatus(text, kind = "") {
  ui.status.hidden = !text;
  ui.status.textContent = text;
  ui.status.dataset.kind = kind;
  ui.chatView.dataset.connection = kind || "online";
}

function updateTitle() {
  const names = [...state.channelNames(), ...state.conversationIds()];
  const unread = names.reduce((sum, name) => sum + unreadIn(name), 0);
  document.title = `${unread > 0 ? `(${unread}) ` : ""}${channels.label(state.current)} | minidiscord`;
}

function renderHeader() {
  const name = state.session?.username ?? "";
  ui.channelTitle.textContent = channels.label(state.current);
  ui.connectedAs.textContent = `You are connected as ${name}.`;
  ui.selfName.textContent = name;
  ui.selfAvatar.replaceChildren(avatar(name, state.session?.userId, state.session?.avatar, "small"));
  // What an account may do from Settings (a guest has none of it).
  const role = state.session?.role;
  const account = typeof role === "string" && role !== "guest";
  ui.accountButton.hidden = !account;
  ui.logoutButton.hidden = !account;
  ui.adminButton.hidden = !isAdmin(role);
}

function renderChannels() {
  const focused = document.activeElement?.dataset?.channel;
  updateChannelItems(
    ui.channelList,
    state.channelNames().map((name) =>
      channelButton(name, {
        current: name === state.current,
        unread: unreadIn(name),
        label: state.entry(name)?.label,
      }),
    ),
  );
  channels.render();
  mentions.markChannels(ui.channelList);
  // A button replaced rather than updated in place must not take the keyboard focus away
  // from the channel being used.
  if (focused) ui.channelList.querySelector(`[data-channel="${CSS.escape(focused)}"]`)?.focus();
  // On a phone the list hides behind its button, which must then say that there is news.
  const elsewhere = [...state.channelNames(), ...state.conversationIds()].some((name) => unreadIn(name) > 0);
  ui.channelsUnread.hidden = !elsewhere;
  if (elsewhere) ui.toggleChannels.setAttribute("aria-description", "unread messages in other channels");
  else ui.toggleChannels.removeAttribute("aria-description");
  updateTitle();
}

function renderUsers() {
  const online = state.online();
  const offline = state.offline();
  const selfId = state.session?.userId;
  ui.onlineHeading.textContent = `ONLINE -- ${online.length}`;
  ui.offlineHeading.textContent = `OFFLINE -- ${offline.length}`;
  ui.onlineList.replaceChildren(...online.map((u) => memberNode(u, selfId)));
  ui.offlineList.replaceChildren(...offline.map((u) => memberNode(u, selfId)));
}

/** A member of the list, with the role's badge and what a moderator may do to them. */
function memberNode(user, selfId) {
  // After the dialog, back to the same button of the list as drawn then (a ban or a kick
  // may have removed the row: then the message box).
  const again = (action, userId) => () =>
    document.querySelector(`[data-user-id="${CSS.escape(userId)}"] [data-action="${action}"]`) ?? ui.messageInput;
  const onAction = (action, target) => moderateUser(socket, action, target, { returnFocus: again(action, target.userId) });
  const self = user.userId === selfId;
  return decorateMember(userItem(user, self, self ? null : channels.messageButton(user)), user, { viewer: state.session, onAction });
}

/** "Delete message": the moderators' dialog (a reason for the audit log) for someone else's
 * message, the same dialog without one for one's own. */
function askToDelete(message) {
  const s = socket;
  const channel = state.current;
  const preview = message.message.length > 80 ? `${message.message.slice(0, 80)}…` : message.message;
  confirmAction({
    title: "Delete this message?",
    text: `“${preview}” by ${message.username} is removed for everyone.`,
    confirmLabel: "Delete",
    reason: message.userId === state.session?.userId ? null : "optional",
    returnFocus: ui.messageInput,
    run: async ({ reason }) => {
      const reply = await ask(s, "message:delete", { channel, id: message.id, ...(reason ? { reason } : {}) });
      return reply.ok === true ? null : refusalText(reply);
    },
  });
}

function nearBottom() {
  const { scrollHeight, scrollTop, clientHeight } = ui.messages;
  return scrollHeight - scrollTop - clientHeight <= STICKY_SCROLL_PX;
}

function scrollToNewest() {
  ui.messages.scrollTop = ui.messages.scrollHeight;
  ui.jumpLatest.hidden = true;
}

// What a message's own controls do (edits.js builds them on each line).
const messageActions = {
  edit(message, item) {
    const channel = state.current;
    const send = (text, done) =>
      ask(socket, "message:edit", { channel, id: message.id, text }).then((reply) => done(reply.ok === true ? null : String(reply.error)));
    // Changes that came while the editor was open are shown once it closes.
    const close = () => {
      const now = state.messages(channel).find((m) => m.id === message.id);
      if (now && state.current === channel) showChanged(now);
      ui.messageInput.focus();
    };
    openEditor(item, message, { send, close });
  },
  remove: askToDelete,
};

const reactionActions = {
  toggle(message, emoji, mine) {
    const channel = state.current;
    ask(socket, mine ? "reaction:remove" : "reaction:add", { channel, id: message.id, emoji }).then((reply) => {
      if (reply.ok !== true) ui.sendError.textContent = `Reaction not changed: ${refusalText(reply)}`;
    });
  },
  nameOf: (userId) => state.users.get(userId)?.username ?? "someone",
};

/** One chat line: its author's badge, and the controls this user may use on it. */
function line(message, previous, now = new Date()) {
  const authorRole = state.users.get(message.userId)?.role ?? null;
  const badged = decorateMessage(messageItem(message, { previous, now }), message, authorRole);
  const item = decorate(badged, message, state.session, messageActions);
  if (mentionsMe(message, state.session)) item.classList.add("mentioned");
  return withReactions(item, message, state.session, reactionActions);
}

/** A message of the current channel changed (edited, reacted to): its line again. */
function showChanged(message) {
  const messages = state.messages();
  const shown = ui.messageList.querySelector(`li[data-id="${CSS.escape(String(message.id))}"]`);
  // Not under the author's open editor: it shows the change when it closes.
  if (shown?.querySelector(".edit-form")) return;
  shown?.replaceWith(line(message, messages[messages.indexOf(message) - 1]));
}

function renderMessages({ keepPosition = false } = {}) {
  const now = new Date();
  const fromBottom = ui.messages.scrollHeight - ui.messages.scrollTop;
  const messages = state.messages();
  ui.messageList.replaceChildren(
    channelIntro(channels.label(state.current)),
    ...messages.map((message, i) => line(message, messages[i - 1], now)),
  );
  reads.placeLine(ui.messageList, state.current, messages, state.session?.userId);
  // Keeping the distance to the bottom keeps the same messages in view when older ones
  // were added above them.
  if (keepPosition) ui.messages.scrollTop = ui.messages.scrollHeight - fromBottom;
  else scrollToNewest();
}

/** Show a message that just joined the current channel, keeping the reader's place. */
function showNewMessage(message, { own = false } = {}) {
  const messages = state.messages();
  const stick = own || nearBottom();
  if (messages.at(-1) === message) ui.messageList.append(line(message, messages.at(-2)));
  else renderMessages({ keepPosition: true });
  if (stick) scrollToNewest();
  else ui.jumpLatest.hidden = false;
  markSeen();
}

/** The channel shown is read to its newest message when the reader is there to see it. */
function markSeen() {
  if (document.visibilityState === "visible" && nearBottom()) reads.seen(socket, state.current, state.messages());
}

/** A channel's unread count, from its read position (the channel shown has none). */
function unreadIn(name) {
  return name === state.current ? 0 : reads.unreadIn(name, state.messages(name), state.session?.userId);
}

/** Page older messages in through the server's `channel:history` ack, if it has one. */
function loadOlderMessages() {
  const s = socket;
  const channel = state.current;
  if (!s?.connected || loadingHistory || state.historyComplete(channel)) return;
  if (Date.now() < historyRetryAt) return;
  const oldest = state.oldestMessage(channel);
  if (!oldest) {
    state.markHistoryComplete(channel);
    return;
  }
  loadingHistory = true;
  const options = { before: oldest.id, limit: HISTORY_PAGE };
  s.timeout(HISTORY_ACK_TIMEOUT_MS).emit("channel:history", channel, options, (error, reply) => {
    loadingHistory = false;
    if (socket !== s) return;
    // Asked too fast: ask again once allowed, if the reader is still at the top.
    if (reply?.ok === false && typeof reply.retryAfter === "number") {
      historyRetryAt = Date.now() + reply.retryAfter;
      setTimeout(() => {
        if (ui.messages.scrollTop < HISTORY_TRIGGER_PX) loadOlderMessages();
      }, reply.retryAfter);
      return;
    }
    // A server without paging (no answer) or one that refuses: keep what we have.
    if (error || reply?.ok !== true || !Array.isArray(reply.messages)) {
      state.markHistoryComplete(channel);
      return;
    }
    const added = state.mergeMessages(channel, reply.messages);
    if (added === 0 || reply.messages.length < HISTORY_PAGE) state.markHistoryComplete(channel);
    if (added > 0 && state.current === channel) renderMessages({ keepPosition: true });
  });
}

function selectChannel(name) {
  if (!state.select(name)) return;
  channels.loadLatest(name, () => state.current === name && renderMessages({ keepPosition: true }));
  saveChannel(name);
  reads.opened(name);
  mentions.opened(name);
  renderHeader();
  renderChannels();
  renderMessages();
  markSeen();
  typing.show(name);
  closeDrawers();
  ui.sendError.textContent = "";
}

function addSystemLine(text, kind) {
  const line = state.addSystemLine(SYSTEM_CHANNEL, text, kind);
  if (line && state.current === SYSTEM_CHANNEL) showNewMessage(line);
}

/** Show a message (a search result): its channel, scrolled to it, marked for a moment;
 * its page of history is asked for when it is older than what is loaded. */
function jumpTo(channel, id) {
  selectChannel(channel);
  const show = () => {
    const item = ui.messageList.querySelector(`li[data-id="${CSS.escape(String(id))}"]`);
    if (!item) return false;
    item.classList.add("found");
    item.tabIndex = -1;
    item.scrollIntoView({ block: "center" });
    item.focus({ preventScroll: true });
    setTimeout(() => item.classList.remove("found"), 3000);
    return true;
  };
  const s = socket;
  if (show() || !s?.connected) return;
  s.timeout(HISTORY_ACK_TIMEOUT_MS).emit("channel:history", channel, { before: id + 1, limit: HISTORY_PAGE }, (error, reply) => {
    if (socket !== s || error || reply?.ok !== true || state.current !== channel) return;
    if (state.mergeMessages(channel, reply.messages) > 0) renderMessages({ keepPosition: true });
    show();
  });
}

mountSearch(ui.topbar, ui.conversation, {
  ask: (payload, done) => {
    if (!socket?.connected) return done(new Error("you are offline."));
    socket.timeout(HISTORY_ACK_TIMEOUT_MS).emit("search", payload, done);
  },
  jump: jumpTo,
});

// ---- drawers and menu (phone layout, settings) ---------------------------------------

const drawers = [
  { panel: ui.channelsPanel, toggle: ui.toggleChannels },
  { panel: ui.membersPanel, toggle: ui.toggleMembers },
];

function openDrawer() {
  return drawers.find(({ panel }) => panel.classList.contains("open")) ?? null;
}

/** Close any open drawer; `restoreFocus` gives the focus back to the button that opened it. */
function closeDrawers({ restoreFocus = false } = {}) {
  const open = openDrawer();
  for (const { panel, toggle } of drawers) {
    panel.classList.remove("open");
    toggle.setAttribute("aria-expanded", "false");
  }
  // While a drawer is open the rest of the page is inert: no click, no Tab, no screen
  // reader reaches behind it.
  for (const node of [ui.topbar, ui.conversation, ui.channelsPanel, ui.membersPanel]) node.inert = false;
  ui.backdrop.hidden = true;
  if (open && (restoreFocus || open.panel.contains(document.activeElement))) open.toggle.focus();
}

function toggleDrawer(drawer) {
  const opening = !drawer.panel.classList.contains("open");
  closeDrawers();
  if (!opening) return;
  drawer.panel.classList.add("open");
  drawer.toggle.setAttribute("aria-expanded", "true");
  const other = drawers.find((d) => d !== drawer);
  for (const node of [ui.topbar, ui.conversation, other.panel]) node.inert = true;
  ui.backdrop.hidden = false;
  // A drawer with nothing to press (the member list) takes the focus itself.
  const first = [...drawer.panel.querySelectorAll(FOCUSABLE)].find((node) => node.checkVisibility());
  (first ?? drawer.panel).focus();
}

/** Keep Tab and Shift+Tab cycling inside the open drawer. */
function trapFocus(event) {
  const open = openDrawer();
  if (!open) return;
  const reachable = [...open.panel.querySelectorAll(FOCUSABLE)].filter((node) => node.checkVisibility());
  if (reachable.length === 0) {
    event.preventDefault();
    open.panel.focus();
    return;
  }
  const first = reachable[0];
  const last = reachable.at(-1);
  const inside = open.panel.contains(document.activeElement);
  if (event.shiftKey && (!inside || document.activeElement === first)) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && (!inside || document.activeElement === last)) {
    event.preventDefault();
    first.focus();
  }
}

function setSettingsMenu(open, { restoreFocus = false } = {}) {
  ui.settingsMenu.hidden = !open;
  ui.settingsButton.setAttribute("aria-expanded", String(open));
  if (open) ui.disconnectButton.focus();
  else if (restoreFocus) ui.settingsButton.focus();
}

// ---- connection ----------------------------------------------------------------------

function stopConnection() {
  const old = socket;
  socket = null;
  old?.disconnect();
}

function describeAckError(error) {
  if (error.message === "operation has timed out") return "the server did not answer in time.";
  if (error.message === "socket has been disconnected") return "the connection was lost.";
  if (error.message === "payload too large") return "the message is too long.";
  return error.message;
}

/** This user as the user list knows them; the session id stays out of it. */
function selfUser() {
  const { userId, username, avatar: picture, role } = state.session;
  return { userId, username, avatar: picture, role };
}

function startConnection(credentials) {
  stopConnection();
  const creds = { username: credentials.username, sessionId: credentials.sessionId ?? null, account: Boolean(credentials.account) };
  const s = new Socket(location.origin, {
    // connectErrors: this page shows a refusal (CONNECT_ERROR) on its login form. An
    // account's login is the HttpOnly cookie, which the handshake carries by itself;
    // `account` has the server refuse it when the cookie is gone (expired, cleared)
    // rather than let it in as a new guest under a made-up name.
    auth: () => (creds.account
      ? { account: true, connectErrors: true }
      : creds.sessionId
        ? { sessionId: creds.sessionId, username: creds.username, connectErrors: true }
        : { username: creds.username, connectErrors: true }),
  });
  socket = s;
  typing.clear();
  reads.reset();
  const on = (event, handler) => s.on(event, (...args) => socket === s && handler(...args));

  on("connect", () => {
    setStatus("");
    // Back online: what the outage left on screen goes (an open drawer, "you are offline").
    closeDrawers();
    if (ui.sendError.textContent === OFFLINE_ERROR) ui.sendError.textContent = "";
  });
  on("session", (session) => {
    if (session === null || typeof session !== "object" || typeof session.username !== "string") return;
    creds.sessionId = typeof session.sessionId === "string" ? session.sessionId : null;
    creds.username = session.username;
    saveSession(creds);
    if (creds.account) saveAccount(session.username);
    state.setSession(session);
    state.upsertUser(selfUser(), true);
    renderHeader();
    renderUsers();
    showChat();
  });
  on("channels", (channels) => {
    state.setChannels(channels);
    // The original five (created channels and conversations are listed apart, no `kind` here).
    for (const name of state.channelNames()) if (!state.entry(name)?.kind) reads.greeted(name, state.messages(name));
    renderHeader();
    renderChannels();
    renderMessages();
    typing.show(state.current);
    reads.ask(s, () => {
      if (socket !== s) return;
      reads.opened(state.current);
      renderChannels();
      // The answer may come after the reader scrolled: they stay where they are.
      renderMessages({ keepPosition: true });
      markSeen();
    });
  });
  on("mention", (note) => {
    if (mentions.received(note, state.current)) renderChannels();
  });
  on("read", (read) => {
    if (reads.update(read?.channel, read?.id)) renderChannels();
  });
  on("users", (users) => {
    state.setUsers(users);
    if (state.session) state.upsertUser(selfUser(), true);
    renderUsers();
    channels.list();
  });
  on("channel:update", (channel) => channels.onChannelUpdate(channel));
  on("dm:update", (talk) => channels.onConversationUpdate(talk));
  on("user:join", (user) => {
    if (!state.upsertUser(user, true)) return renderUsers();
    renderUsers();
    addSystemLine(`${user.username} has joined the server!`, "join");
  });
  on("user:leave", (user) => {
    if (!state.removeUser(user)) return;
    renderUsers();
    addSystemLine(`${user.username} has left the server.`, "leave");
  });
  on("user:disconnect", (user) => {
    state.upsertUser(user, false);
    renderUsers();
  });
  on("user:connect", (user) => {
    state.upsertUser(user, true);
    renderUsers();
  });
  on("message:delete", (gone) => {
    if (gone === null || typeof gone !== "object") return;
    if (state.removeMessage(gone.channel, gone.id) === "current") renderMessages({ keepPosition: true });
  });
  on("user:role", (change) => {
    if (change === null || typeof change !== "object" || typeof change.userId !== "string") return;
    if (typeof change.role !== "string") return;
    if (state.setRole(change.userId, change.role)) renderHeader();
    renderUsers();
    renderMessages({ keepPosition: true });
  });
  on("message:channel", (channel, message) => {
    channels.knowConversation(channel);
    const where = state.addMessage(channel, message);
    if (where) typing.messageShown(channel, message.userId);
    if (where === "current") showNewMessage(message, { own: message.userId === state.session?.userId });
    else if (where === "other") renderChannels();
  });
  on("message:edit", (change) => {
    const edited = applyEdit(state, change);
    if (edited && change.channel === state.current) showChanged(edited);
  });
  on("reaction:update", (update) => {
    const updated = applyReactions(state, update);
    if (updated && update.channel === state.current) showChanged(updated);
  });
  on("typing", (snapshot) => typing.received(snapshot));
  on("connect_error", (error) => {
    if (s.active) {
      setStatus("Cannot reach the server. Retrying…", "reconnecting");
      if (!ui.loginView.hidden) ui.loginNote.textContent = "Cannot reach the server. Retrying…";
      return;
    }
    if (creds.sessionId) {
      // The server no longer knows our session (e.g. it was reset): start a new one.
      creds.sessionId = null;
      s.connect();
      return;
    }
    stopConnection();
    state = new ChatState();
    if (creds.account) {
      // The login is over (ended, expired, banned): its cookie goes too.
      saveAccount(null);
      logOut();
    }
    showLogin({ error: `The server refused the connection: ${error.message}`, username: creds.username });
  });
  on("disconnect", (reason) => {
    if (reason === "io server disconnect") {
      stopConnection();
      markDisconnected(true);
      state = new ChatState();
      showLogin({ note: CLOSED_BY_SERVER, username: creds.username });
      if (creds.account) explainEndedLogin();
      return;
    }
    setStatus("Connection lost. Reconnecting…", "reconnecting");
  });
  on("reconnect_attempt", (attempt) => {
    setStatus(`Connection lost. Reconnecting… (attempt ${attempt})`, "reconnecting");
  });
  s.connect();
}

/** Why an account's connection was closed: a ban or a revoked login says so; else a kick. */
async function explainEndedLogin() {
  const why = await whyLoginEnded();
  // Only while that note is still the news (not after a log out from this page, say).
  if (socket || ui.loginView.hidden || ui.loginNote.textContent !== CLOSED_BY_SERVER) return;
  if (why === null) {
    ui.loginNote.textContent = "A moderator disconnected you. You may connect again.";
    return;
  }
  saveAccount(null);
  await logOut();
  accountForm.render(null);
  // A log out from this page may have said why meanwhile (its answer and the server's
  // disconnect race): that is the news then.
  if (ui.loginNote.textContent === CLOSED_BY_SERVER) ui.loginNote.textContent = `${CLOSED_BY_SERVER} ${why}`;
}

// ---- user actions ----------------------------------------------------------------------

async function onLogin(event) {
  event.preventDefault();
  if (accountForm.busy) return;
  const username = ui.username.value.trim();
  if (!username) {
    ui.loginError.textContent = "Username cannot be empty.";
    ui.username.setAttribute("aria-invalid", "true");
    ui.username.focus();
    return;
  }
  ui.loginError.textContent = "";
  ui.username.setAttribute("aria-invalid", "false");
  const stored = loadSession();
  if (stored.account) {
    // Connect comes back as the account this browser is logged in as; another name is
    // someone else, so that login ends first (its cookie would speak for the guest).
    if (stored.account.toLowerCase() === username.toLowerCase()) return connectAs({ username: stored.account, account: true });
    accountForm.busy = true;
    saveAccount(null);
    await logOut();
    accountForm.busy = false;
  }
  if (!guestsAllowed()) {
    accountForm.render(null);
    ui.loginError.textContent = "This server is for registered users: log in or register.";
    return;
  }
  // The stored session belongs to the stored name; another name means a new user.
  connectAs({ username, sessionId: stored.username === username ? stored.sessionId : null });
}

/** Connect as `username`: a guest (restoring `sessionId` if any) or, with `account`, the login's account. */
function connectAs({ username, sessionId = null, account = false }) {
  ui.loginNote.textContent = "Connecting…";
  const stored = loadSession();
  markDisconnected(false);
  // The same user comes back to the channel they were reading; another starts anew.
  if (stored.username === username && stored.channel) state = new ChatState(stored.channel);
  else {
    saveChannel(null);
    state = new ChatState();
  }
  startConnection({ username, sessionId, account });
}

function onSend(event) {
  event.preventDefault();
  const text = ui.messageInput.value.trim();
  if (!text) return;
  const s = socket;
  if (!s?.connected) {
    ui.sendError.textContent = OFFLINE_ERROR;
    return;
  }
  const channel = state.current;
  ui.messageInput.value = "";
  resizeInput();
  ui.sendError.textContent = "";
  suggestions.close();
  askToNotify();
  s.timeout(SEND_ACK_TIMEOUT_MS).emit("message:channel:send", channel, text, (error, reply) => {
    if (socket !== s) return;
    const refused = !error && reply !== null && typeof reply === "object" && reply.ok === false;
    if (!error && !refused) return;
    const reason = error ? describeAckError(error) : String(reply.error ?? "unknown error");
    ui.sendError.textContent = `Message not sent: ${reason}`;
    // Give the text back so it can be fixed or retried, unless something new was typed.
    if (!ui.messageInput.value && state.current === channel) {
      ui.messageInput.value = text;
      resizeInput();
    }
  });
}

function resizeInput() {
  const input = ui.messageInput;
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
}

function onDisconnect() {
  setSettingsMenu(false);
  const username = state.session?.username ?? loadSession().username ?? "";
  stopConnection();
  markDisconnected(true);
  state = new ChatState();
  showLogin({ note: `You are disconnected. Connect to come back as ${username}.`, username });
}

/** End this browser's login: the socket goes, the cookie goes, the page forgets the user. */
async function endLogin(note) {
  setSettingsMenu(false);
  stopConnection();
  forgetSession();
  state = new ChatState();
  // Shown before the log out's round trip, so an explanation of the server's disconnect
  // (explainEndedLogin) that comes meanwhile sees this is the news.
  showLogin({ note });
  await logOut();
}

/** Leaving removes the user for good, so it is asked for twice. */
function askToLeave() {
  setSettingsMenu(false);
  ui.leaveDialog.showModal();
  ui.leaveCancel.focus();
}

function onLeave() {
  ui.leaveDialog.close();
  closeDrawers();
  const s = socket;
  socket = null;
  // An account's leave logs its session out on the server; the cookie must go too.
  const account = loadSession().account;
  forgetSession();
  const close = () => {
    s?.disconnect();
    if (account) logOut();
  };
  // Close only after the server has seen the leave (or gave up answering).
  if (s?.connected) s.timeout(LEAVE_ACK_TIMEOUT_MS).emit("user:leave", close);
  else close();
  state = new ChatState();
  showLogin({ note: "You left the server." });
}

// ---- wiring ----------------------------------------------------------------------------

const channels = installChannels({
  ui,
  state: () => state,
  socket: () => socket,
  select: selectChannel,
  unread: unreadIn,
  renderAll() {
    renderHeader();
    renderChannels();
    renderUsers();
    renderMessages({ keepPosition: true });
  },
});

ui.loginForm.addEventListener("submit", onLogin);
ui.username.addEventListener("input", () => {
  ui.loginError.textContent = "";
  ui.username.setAttribute("aria-invalid", "false");
});
ui.messageForm.addEventListener("submit", onSend);
ui.messageInput.addEventListener("keydown", (event) => {
  if (suggestions.keydown(event)) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
});
ui.messageInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.messageForm.requestSubmit();
  }
});
ui.messageInput.addEventListener("input", () => {
  resizeInput();
  ui.sendError.textContent = "";
  if (ui.messageInput.value.trim()) typing.typed(socket, state.current);
  suggestions.update();
});
ui.channelList.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-channel]");
  if (button) selectChannel(button.dataset.channel);
});
ui.messages.addEventListener("scroll", () => {
  if (nearBottom()) ui.jumpLatest.hidden = true;
  markSeen();
  if (ui.messages.scrollTop < HISTORY_TRIGGER_PX) loadOlderMessages();
});
ui.jumpLatest.addEventListener("click", () => {
  scrollToNewest();
  ui.messageInput.focus();
});
ui.settingsButton.addEventListener("click", () => setSettingsMenu(ui.settingsMenu.hidden));
ui.disconnectButton.addEventListener("click", onDisconnect);
ui.logoutButton.addEventListener("click", () => endLogin("You logged out."));
ui.accountButton.addEventListener("click", () => {
  setSettingsMenu(false);
  openAccountDialog({ username: state.session?.username ?? "", onEndedHere: endLogin, returnFocus: ui.settingsButton });
});
ui.adminButton.addEventListener("click", () => {
  setSettingsMenu(false);
  openAdminView({ socket: () => socket, self: () => state.session?.userId, returnFocus: ui.settingsButton });
});
ui.leaveButton.addEventListener("click", askToLeave);
ui.leaveConfirm.addEventListener("click", onLeave);
ui.leaveCancel.addEventListener("click", () => ui.leaveDialog.close());
// However the dialog closes without leaving (Cancel, Escape), focus goes back to the menu's button.
ui.leaveDialog.addEventListener("close", () => {
  if (socket) ui.settingsButton.focus();
});
ui.toggleChannels.addEventListener("click", () => toggleDrawer(drawers[0]));
ui.toggleMembers.addEventListener("click", () => toggleDrawer(drawers[1]));
ui.backdrop.addEventListener("click", () => closeDrawers({ restoreFocus: true }));
document.addEventListener("click", (event) => {
  if (!ui.settingsMenu.hidden && !event.target.closest(".settings")) setSettingsMenu(false);
});
document.addEventListener("keydown", (event) => {
  // A modal dialog handles its own keys (Escape closes it, Tab stays inside).
  if (document.querySelector("dialog[open]")) return;
  if (event.key === "Tab") trapFocus(event);
  if (event.key !== "Escape") return;
  if (!ui.settingsMenu.hidden) setSettingsMenu(false, { restoreFocus: true });
  else closeDrawers({ restoreFocus: true });
});
window.addEventListener("online", () => socket?.reconnectNow());
document.addEventListener("visibilitychange", markSeen);

const stored = loadSession();
if (stored.account && !stored.disconnected) {
  showLogin({ note: `Connecting as ${stored.account}…`, username: stored.account });
  state = new ChatState(stored.channel ?? undefined);
  startConnection({ username: stored.account, account: true });
} else if (stored.sessionId && stored.username && !stored.disconnected) {
  showLogin({ note: `Connecting as ${stored.username}…`, username: stored.username });
  state = new ChatState(stored.channel ?? undefined);
  startConnection({ username: stored.username, sessionId: stored.sessionId });
} else {
  showLogin({ username: stored.username ?? "" });
}
// The login form offers what the server's modes allow once it has said them.
loadServerModes().then(() => accountForm.render(loadSession().account));
