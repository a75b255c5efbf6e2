// Typing indicators: tell the server while this user types (throttled), and say who else
// is typing in the channel shown ("ada is typing...").
//
// The server sends each channel's whole list (`typing` {channel, typing: [{userId,
// username}...]}) when it changes and again every few seconds while it is not empty; the
// packets are volatile, so a list not heard again for a while is dropped here.

// One `typing:start` per channel this often while typing; the server forgets a typist
// after 6 s without one.
export const THROTTLE_MS = 2000;
// Three of the server's keepalives (4 s): a list older than this went stale.
const STALE_MS = 12000;
const NAMED_AT_MOST = 3;

/** What the indicator says for these names (others than this user). */
export function typingText(names) {
  if (names.length === 0) return "";
  if (names.length === 1) return `${names[0]} is typing...`;
  if (names.length > NAMED_AT_MOST) return "Several people are typing...";
  return `${names.slice(0, -1).join(", ")} and ${names.at(-1)} are typing...`;
}

export class Typing {
  /** `element`: where the text goes; `selfId()`: this user's id (left out of the lists). */
  constructor(element, selfId) {
    this.element = element;
    this.selfId = selfId;
    // channel -> { typists: [{userId, username}], at: ms }
    this.lists = new Map();
    this.lastStart = { channel: null, at: 0 };
    this.channel = null;
    this.staleTimer = null;
  }

  /** The user typed in `channel`: say so to the server, at most once per THROTTLE_MS. */
  typed(socket, channel) {
    const now = Date.now();
    if (!socket?.connected) return;
    if (this.lastStart.channel === channel && now - this.lastStart.at < THROTTLE_MS) return;
    this.lastStart = { channel, at: now };
    socket.emit("typing:start", { channel });
  }

  received(snapshot) {
    if (snapshot === null || typeof snapshot !== "object") return;
    if (typeof snapshot.channel !== "string" || !Array.isArray(snapshot.typing)) return;
    const typists = snapshot.typing.filter(
      (t) => t !== null && typeof t === "object" && typeof t.username === "string" && t.userId !== this.selfId(),
    );
    this.lists.set(snapshot.channel, { typists, at: Date.now() });
    if (snapshot.channel === this.channel) this.render();
  }

  /** A message of `userId` was shown in `channel`: they are done typing it. */
  messageShown(channel, userId) {
    const list = this.lists.get(channel);
    if (!list) return;
    list.typists = list.typists.filter((t) => t.userId !== userId);
    if (channel === this.channel) this.render();
  }

  /** Show the list of `channel` (the one now on screen). */
  show(channel) {
    this.channel = channel;
    this.render();
  }

  clear() {
    this.lists.clear();
    this.render();
  }

  render() {
    clearTimeout(this.staleTimer);
    const list = this.lists.get(this.channel);
    const fresh = list && Date.now() - list.at < STALE_MS ? list.typists : [];
    this.element.textContent = typingText(fresh.map((t) => t.username));
    if (fresh.length > 0) this.staleTimer = setTimeout(() => this.render(), STALE_MS);
  }
}
