// Read positions kept by the server: asked for after each connect (`read:list`), marked
// while a channel is read (`read:mark`), and synced from the user's other tabs (`read`).
// From them: each channel's unread count and, in the channel shown, a "New messages" line
// above the first message that arrived after the last visit.

import { h } from "./dom.js";

// At most one mark per channel this often; the newest message seen in that time is marked.
const MARK_EVERY_MS = 1000;
const LIST_ACK_TIMEOUT_MS = 5000;

/** Whether `message` counts as unread after `position` for the user `selfId`. */
export function isUnread(message, position, selfId) {
  return !message.system && typeof message.id === "number" && message.id > position && message.userId !== selfId;
}

export class Reads {
  constructor() {
    // channel -> the newest message id read there (as the server last said)
    this.positions = new Map();
    // channel -> the position when the channel was opened: the "New messages" line
    this.lineAfter = new Map();
    this.pending = new Map();
    this.timers = new Map();
    this.known = false;
  }

  reset() {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.positions.clear();
    this.lineAfter.clear();
    this.pending.clear();
    this.timers.clear();
    this.known = false;
  }

  /** Ask the server for this user's positions; `done()` once they are known. */
  ask(socket, done) {
    socket.timeout(LIST_ACK_TIMEOUT_MS).emit("read:list", {}, (error, reply) => {
      // A server without read positions answers nothing: counts stay as the page keeps them.
      if (error || reply?.ok !== true || reply.reads === null || typeof reply.reads !== "object") return;
      for (const [channel, position] of Object.entries(reply.reads)) this.update(channel, position);
      this.known = true;
      done();
    });
  }

  /** The server (or another tab) says `channel` is read up to `position`. */
  update(channel, position) {
    if (typeof channel !== "string" || !Number.isInteger(position)) return false;
    if (position <= (this.positions.get(channel) ?? 0)) return false;
    this.positions.set(channel, position);
    return true;
  }

  /** Unread messages of a channel's list, after the position the server keeps. */
  unreadIn(channel, messages, selfId) {
    if (!this.positions.has(channel)) return 0;
    const position = this.positions.get(channel);
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
    const newest = messages.findLast((m) => !m.system && typeof m.id === "number");
    if (!newest || newest.id <= (this.positions.get(channel) ?? 0)) return;
    this.pending.set(channel, newest.id);
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
    if (!socket?.connected || id <= (this.positions.get(channel) ?? 0)) return;
    socket.emit("read:mark", { channel, id });
  }
}
