// Read positions kept by the server: asked for after each connect (`read:list`), marked
// while a channel is read (`read:mark`), and synced from the user's other tabs (`read`).
// From them, and only from them: each channel's unread count (which so survives a reload
// and follows the user's other tabs) and, in the channel shown, a "New messages" line above
// the first message that arrived after the last visit.

import { h } from "./dom.js";

// At most one mark per channel this often; the newest message seen in that time is marked.
const MARK_EVERY_MS = 1000;
const LIST_ACK_TIMEOUT_MS = 5000;

/** Whether `message` counts as unread after `position` for the user `selfId`. */
export function isUnread(message, position, selfId) {
  return !message.system && typeof message.id === "number" && message.id > position && message.userId !== selfId;
}

function newestId(messages) {
  return messages.findLast((m) => !m.system && typeof m.id === "number")?.id ?? null;
}

export class Reads {
  constructor() {
    // channel -> the newest message id read there (as the server last said, or as this
    // page marked it)
    this.positions = new Map();
    // channel -> for a channel of the connect's greeting, its newest message then: where
    // its unread messages start while the server keeps no position for it (its history is
    // not news; what comes after is)
    this.assumed = new Map();
    // channel -> the position when the channel was opened: the "New messages" line
    this.lineAfter = new Map();
    this.pending = new Map();
    this.timers = new Map();
    this.known = false;
  }

  reset() {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.positions.clear();
    this.assumed.clear();
    this.lineAfter.clear();
    this.pending.clear();
    this.timers.clear();
    this.known = false;
  }

  /** Ask the server for this user's positions; `done()` once they are known. */
  ask(socket, done) {
    socket.timeout(LIST_ACK_TIMEOUT_MS).emit("read:list", {}, (error, reply) => {
      // A server without read positions answers nothing: counts start from the greeting.
      if (error || reply?.ok !== true || reply.reads === null || typeof reply.reads !== "object") return;
      for (const [channel, position] of Object.entries(reply.reads)) this.update(channel, position);
      this.known = true;
      done();
    });
  }

  /** A channel of the connect's greeting, with the messages it came with. */
  greeted(channel, messages) {
    if (!this.assumed.has(channel)) this.assumed.set(channel, newestId(messages) ?? 0);
  }

  /** The newest message id counted as read in `channel`. */
  positionOf(channel) {
    return this.positions.get(channel) ?? this.assumed.get(channel) ?? 0;
  }

  /** The server (or another tab) says `channel` is read up to `position`. */
  update(channel, position) {
    if (typeof channel !== "string" || !Number.isInteger(position)) return false;
    if (position <= (this.positions.get(channel) ?? 0)) return false;
    this.positions.set(channel, position);
    return true;
  }

  /** Unread messages of a channel's list: those after its position (all, without one). */
  unreadIn(channel, messages, selfId) {
    const position = this.positionOf(channel);
    return messages.filter((m) => isUnread(m, position, selfId)).length;
  }

  /** The channel is being opened: its "New messages" line goes after what was read. */
  opened(channel) {
    if (this.positions.has(channel)) this.lineAfter.set(channel, this.positions.get(channel));
    else this.lineAfter.delete(channel);
  }

  /** Put the "New messages" line into `list` (whose items follow `messages`, after `skip`). */
  placeLine(list, channel, messages, selfId, skip = 1) {
    if (!this.lineAfter.has(channel)) return;
    const after = this.lineAfter.get(channel);
    const first = messages.findIndex((m) => isUnread(m, after, selfId));
    if (first < 0) return;
    const line = h(
      "li",
      { class: "new-messages-line", role: "separator", "aria-label": "New messages" },
      h("span", { "aria-hidden": "true" }, "New messages"),
    );
    list.children[first + skip]?.before(line);
  }

  /** The user has seen `channel` up to its newest message: mark it (throttled). */
  seen(socket, channel, messages) {
    const newest = newestId(messages);
    if (newest === null || newest <= this.positionOf(channel)) return;
    this.pending.set(channel, newest);
    if (this.timers.has(channel)) return;
    this.send(socket, channel);
    this.timers.set(channel, setTimeout(() => this.flush(socket, channel), MARK_EVERY_MS));
  }

  flush(socket, channel) {
    this.timers.delete(channel);
    if (this.pending.has(channel)) this.seen(socket, channel, [{ id: this.pending.get(channel) }]);
  }

  send(socket, channel) {
    const id = this.pending.get(channel);
    this.pending.delete(channel);
    if (!socket?.connected || id <= this.positionOf(channel)) return;
    socket.emit("read:mark", { channel, id });
    // Read here and now: the count goes at once (the server's `read` echo changes nothing).
    this.update(channel, id);
  }
}
