// Created channels and direct conversations in the page: `channel:list` after each
// connect, the "New channel" button and the channel's controls for moderators, the topic,
// the "Direct messages" region with unread counts, and "Message NAME" on the member list.
// The server's acks and events are the only source: nothing here decides who may do what.

import { h, updateChannelItems } from "./dom.js";
import { channelButton } from "./render.js";

const ACK_TIMEOUT_MS = 5000;
const HISTORY_PAGE = 50;
const MODERATORS = new Set(["moderator", "admin"]);

/**
 * Wire the channel features into the page. `chat` is what app.js shares:
 * {ui, state(), socket(), select(id), unread(id), renderAll()}.
 */
export function installChannels(chat) {
  const { ui } = chat;
  const panel = buildPanel();
  ui.channelList.after(panel.section);
  ui.channelList.before(panel.newChannel, panel.createForm);
  const controls = buildControls();
  ui.connectedAs.after(controls.topic, controls.bar, controls.form);

  function isModerator() {
    const state = chat.state();
    const self = state.users.get(state.session?.userId);
    return MODERATORS.has(self?.role ?? state.session?.role);
  }

  /** The other member's name, for a conversation's button and title. */
  function conversationLabel(entry) {
    const state = chat.state();
    const other = (entry.members ?? []).find((id) => id !== state.session?.userId);
    return state.users.get(other)?.username ?? "someone";
  }

  function label(id) {
    const entry = chat.state().entry(id);
    if (!entry) return `#${id}`;
    if (entry.kind === "dm") return `@${conversationLabel(entry)}`;
    return `#${entry.label ?? id}`;
  }

  function emit(event, payload, onReply) {
    const s = chat.socket();
    if (!s?.connected) return onReply({ ok: false, error: "you are offline" });
    s.timeout(ACK_TIMEOUT_MS).emit(event, payload, (error, reply) => {
      if (chat.socket() !== s) return;
      onReply(error ? { ok: false, error: error.message } : reply ?? { ok: false, error: "no answer" });
    });
  }

  function takeChannel(channel) {
    if (!channel || typeof channel.id !== "string" || typeof channel.name !== "string") return;
    const state = chat.state();
    const info = { label: channel.name, topic: String(channel.topic ?? ""), archived: Boolean(channel.archived) };
    const known = state.entry(channel.id);
    if (known && !known.kind) Object.assign(known, info); // one of the original five
    else state.addChannel(channel.id, "created", info);
  }

  function takeConversation(talk) {
    if (!talk || typeof talk.id !== "string" || !Array.isArray(talk.members)) return;
    chat.state().addChannel(talk.id, "dm", { members: talk.members.map(String) });
  }

  /** After the greeting: the server's channels and this user's conversations. */
  function list() {
    emit("channel:list", {}, (reply) => {
      if (reply.ok !== true) return;
      const shown = chat.state().current;
      for (const channel of reply.channels ?? []) takeChannel(channel);
      for (const talk of reply.conversations ?? []) takeConversation(talk);
      chat.renderAll();
      const current = chat.state().current;
      // The channel restored after a reload may be one only now known: it opens as if
      // chosen. Otherwise the reader is left where they are (the reply may come long after
      // they scrolled or opened a drawer), and a created channel's or conversation's
      // messages missed while away are read again.
      if (current !== shown) chat.select(current);
      else loadLatest(current, () => chat.state().current === current && chat.renderAll());
    });
  }

  /** Read the latest page of a channel the page holds no messages of. */
  function loadLatest(id, onMessages) {
    const entry = chat.state().entry(id);
    if (!entry?.fresh) return;
    entry.fresh = false;
    const s = chat.socket();
    if (!s?.connected) return;
    s.timeout(ACK_TIMEOUT_MS).emit("channel:history", id, { limit: HISTORY_PAGE }, (error, reply) => {
      if (chat.socket() !== s || error || reply?.ok !== true || !Array.isArray(reply.messages)) return;
      const added = chat.state().mergeMessages(id, reply.messages);
      if (reply.messages.length < HISTORY_PAGE) chat.state().markHistoryComplete(id);
      if (added > 0) onMessages();
    });
  }

  function render() {
    const state = chat.state();
    const ids = state.conversationIds();
    updateChannelItems(
      panel.list,
      ids.map((id) =>
        channelButton(id, { current: id === state.current, unread: chat.unread(id), label: label(id), dm: true }),
      ),
    );
    panel.empty.hidden = ids.length > 0;
    const moderator = isModerator();
    panel.newChannel.hidden = !moderator;
    if (!moderator) panel.createForm.hidden = true;
    const entry = state.entry(state.current);
    controls.topic.textContent = entry?.topic ?? "";
    controls.topic.hidden = !entry?.topic;
    const created = entry?.kind === "created";
    controls.bar.hidden = !moderator || entry?.kind === "dm" || !entry;
    controls.rename.hidden = !created;
    controls.archive.hidden = !created;
    controls.archive.textContent = entry?.archived ? "Unarchive channel" : "Archive channel";
    ui.messageInput.disabled = Boolean(entry?.archived);
    ui.messageInput.placeholder = entry?.archived ? "This channel is archived: it is read-only." : "Type a message...";
  }

  // -- the "New channel" form and the channel controls ---------------------------------

  panel.newChannel.addEventListener("click", () => {
    panel.createForm.hidden = !panel.createForm.hidden;
    panel.createError.textContent = "";
    if (!panel.createForm.hidden) panel.createName.focus();
  });
  panel.createForm.addEventListener("submit", (event) => {
    event.preventDefault();
    emit("channel:create", { name: panel.createName.value, topic: panel.createTopic.value }, (reply) => {
      if (reply.ok !== true) {
        panel.createError.textContent = `Channel not created: ${reply.error}`;
        return;
      }
      panel.createForm.hidden = true;
      panel.createName.value = "";
      panel.createTopic.value = "";
      takeChannel(reply.channel);
      chat.select(reply.channel.id);
    });
  });

  let editing = null; // "rename" or "topic"
  function edit(what) {
    editing = what;
    const entry = chat.state().entry(chat.state().current);
    controls.form.hidden = false;
    controls.error.textContent = "";
    controls.fieldLabel.textContent = what === "rename" ? "Channel name" : "Channel topic";
    controls.field.value = what === "rename" ? entry?.label ?? "" : entry?.topic ?? "";
    controls.field.focus();
  }
  controls.rename.addEventListener("click", () => edit("rename"));
  controls.setTopic.addEventListener("click", () => edit("topic"));
  controls.archive.addEventListener("click", () => {
    const entry = chat.state().entry(chat.state().current);
    emit("channel:archive", { id: entry.name, archived: !entry.archived }, (reply) => {
      if (reply.ok !== true) ui.sendError.textContent = String(reply.error);
    });
  });
  controls.form.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = chat.state().current;
    const payload = editing === "rename" ? { id, name: controls.field.value } : { id, topic: controls.field.value };
    emit(editing === "rename" ? "channel:rename" : "channel:topic", payload, (reply) => {
      if (reply.ok !== true) {
        controls.error.textContent = String(reply.error);
        return;
      }
      controls.form.hidden = true;
    });
  });
  controls.cancel.addEventListener("click", () => {
    controls.form.hidden = true;
  });

  panel.list.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-channel]");
    if (button) chat.select(button.dataset.channel);
  });
  ui.membersPanel.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-dm-user]");
    if (!button) return;
    emit("dm:open", { userId: button.dataset.dmUser }, (reply) => {
      if (reply.ok !== true) return;
      takeConversation(reply.conversation);
      chat.select(reply.conversation.id);
    });
  });

  return {
    list,
    render,
    label,
    /** `channel:update` and `dm:update`. */
    onChannelUpdate(channel) {
      takeChannel(channel);
      chat.renderAll();
    },
    onConversationUpdate(talk) {
      takeConversation(talk);
      chat.renderAll();
    },
    /** A message for a conversation the page did not know yet (opened by the other). */
    knowConversation(channel) {
      if (typeof channel !== "string" || !channel.startsWith("dm:") || chat.state().entry(channel)) return;
      // The id names its two members.
      takeConversation({ id: channel, members: channel.slice(3).split(":") });
    },
    loadLatest,
    /** The "Message NAME" button for another user in the member list. */
    messageButton(user) {
      return h(
        "button",
        { type: "button", class: "dm-button", "data-dm-user": user.userId, "aria-label": `Message ${user.username}` },
        "✉",
      );
    },
  };
}

function buildPanel() {
  const newChannel = h("button", { type: "button", class: "new-channel", hidden: true }, "New channel");
  const createName = h("input", { id: "new-channel-name", type: "text", maxlength: "32", spellcheck: "false" });
  const createTopic = h("input", { id: "new-channel-topic", type: "text", maxlength: "200" });
  const createError = h("p", { class: "field-error", role: "alert" });
  const createForm = h(
    "form",
    { class: "channel-form", hidden: true, "aria-label": "New channel", novalidate: true },
    h("label", { for: "new-channel-name", class: "field-label" }, "Channel name"),
    createName,
    h("label", { for: "new-channel-topic", class: "field-label" }, "Topic"),
    createTopic,
    h("button", { type: "submit", class: "primary" }, "Create"),
    createError,
  );
  const heading = h("p", { class: "section-label", id: "dms-label" }, "DIRECT MESSAGES");
  const list = h("ul", { class: "channel-list dm-list", "aria-labelledby": "dms-label" });
  const empty = h("p", { class: "dm-empty" }, "Open one from the member list.");
  const section = h("section", { class: "dms", "aria-label": "Direct messages" }, heading, list, empty);
  return { newChannel, createForm, createName, createTopic, createError, section, list, empty };
}

function buildControls() {
  const topic = h("p", { class: "channel-topic", hidden: true });
  const rename = h("button", { type: "button", class: "secondary" }, "Rename channel");
  const setTopic = h("button", { type: "button", class: "secondary" }, "Set topic");
  const archive = h("button", { type: "button", class: "secondary" }, "Archive channel");
  const bar = h("div", { class: "channel-controls", hidden: true }, rename, setTopic, archive);
  const fieldLabel = h("label", { for: "channel-field", class: "visually-hidden" }, "Channel name");
  const field = h("input", { id: "channel-field", type: "text", maxlength: "200", spellcheck: "false" });
  const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
  const error = h("p", { class: "field-error", role: "alert" });
  const form = h(
    "form",
    { class: "channel-edit", hidden: true, novalidate: true },
    fieldLabel,
    field,
    h("button", { type: "submit", class: "primary" }, "Save"),
    cancel,
    error,
  );
  return { topic, bar, rename, setTopic, archive, form, field, fieldLabel, cancel, error };
}
