// The client's model of the chat: session, channels with their messages, and users. Pure
// data, no DOM, so the views can be rebuilt from it at any time. (Unread counts come from
// the read positions, web/reads.js.)

export const DEFAULT_CHANNEL = "welcome";

function isMessage(value) {
  return (
    value !== null &&
    typeof value === "object" &&
    (typeof value.id === "string" || typeof value.id === "number") &&
    typeof value.username === "string" &&
    typeof value.message === "string" &&
    Number.isFinite(value.timestamp)
  );
}

function isUser(value) {
  return (
    value !== null &&
    typeof value === "object" &&
    (typeof value.userId === "string" || typeof value.userId === "number") &&
    typeof value.username === "string"
  );
}

// Messages sent within one millisecond share a timestamp; numeric ids (which a server
// hands out in order) break the tie.
function byTime(a, b) {
  const ids = typeof a.id === "number" && typeof b.id === "number" ? a.id - b.id : 0;
  return a.timestamp - b.timestamp || ids;
}

function byName(a, b) {
  return a.username.localeCompare(b.username, undefined, { sensitivity: "base" });
}

export class ChatState {
  /** `channel`: the one to show first if the server has it (the last one read, on a reload). */
  constructor(channel = DEFAULT_CHANNEL) {
    this.session = null;
    this.channels = new Map();
    this.users = new Map();
    this.current = channel;
    // The channel to come back to once it is known (a created one or a conversation is
    // known only after `channel:list`).
    this.wanted = channel;
    this.systemLines = 0;
  }

  setSession(session) {
    this.session = session;
  }

  /** Public channels (the original five, then created ones); conversations are apart. */
  channelNames() {
    return [...this.channels.values()].filter((c) => c.kind !== "dm").map((c) => c.name);
  }

  conversationIds() {
    return [...this.channels.values()].filter((c) => c.kind === "dm").map((c) => c.name);
  }

  entry(channel) {
    return this.channels.get(channel) ?? null;
  }

  /**
   * Add or update a created channel (`kind` "created") or a conversation ("dm") the server
   * listed or announced; `info`: {label, topic, archived, members}. A new one has no
   * messages yet: its latest page is read when it is first shown.
   */
  addChannel(id, kind, info) {
    const previous = this.channels.get(id);
    this.channels.set(id, {
      messages: [],
      complete: false,
      fresh: true,
      ...previous,
      ...info,
      name: id,
      kind: previous?.kind ?? kind,
    });
    if (id === this.wanted && this.current !== id) this.select(id);
  }

  messages(channel = this.current) {
    return this.channels.get(channel)?.messages ?? [];
  }

  /**
   * Take the server's channel list (sent on every connect). The server's messages replace
   * ours (after a restart its ids may start over), but local system lines survive a
   * reconnect.
   */
  setChannels(list) {
    if (!Array.isArray(list)) return;
    const next = new Map();
    for (const entry of list) {
      if (entry === null || typeof entry !== "object" || typeof entry.name !== "string") continue;
      const previous = this.channels.get(entry.name);
      const system = previous?.messages.filter((m) => m.system) ?? [];
      const messages = Array.isArray(entry.messages) ? entry.messages.filter(isMessage) : [];
      next.set(entry.name, {
        ...previous,
        name: entry.name,
        messages: [...messages, ...system].sort(byTime),
        // Whether older pages are known to be exhausted (or the server cannot page).
        complete: false,
      });
    }
    // Created channels and conversations are not in this list: they stay, and are read
    // again when shown (the connection may have missed some of their messages).
    for (const [id, entry] of this.channels) {
      if (entry.kind && !next.has(id)) next.set(id, { ...entry, fresh: true });
    }
    this.channels = next;
    if (!this.channels.has(this.current)) {
      this.current = this.channels.has(DEFAULT_CHANNEL) ? DEFAULT_CHANNEL : (this.channelNames()[0] ?? DEFAULT_CHANNEL);
    }
  }

  /**
   * Merge a batch of messages into a channel, older or newer than what is there (this is
   * also where paged history will land). Returns how many were new.
   */
  mergeMessages(channel, messages) {
    const entry = this.channels.get(channel);
    if (!entry || !Array.isArray(messages)) return 0;
    const known = new Set(entry.messages.map((m) => m.id));
    const fresh = messages.filter((m) => isMessage(m) && !known.has(m.id));
    if (fresh.length === 0) return 0;
    // Pages usually come from before what is shown: put them first so that the stable
    // sort keeps that order where neither timestamps nor ids decide.
    entry.messages = [...fresh, ...entry.messages].sort(byTime);
    return fresh.length;
  }

  /** A live message; returns "current", "other" or null (unknown channel, duplicate, invalid). */
  addMessage(channel, message) {
    const entry = this.channels.get(channel);
    if (!entry || !isMessage(message)) return null;
    if (entry.messages.some((m) => m.id === message.id)) return null;
    entry.messages.push(message);
    // Clocks differ between senders' servers only in theory; keep the list ordered anyway.
    if (entry.messages.length > 1 && byTime(entry.messages.at(-2), message) > 0) entry.messages.sort(byTime);
    return channel === this.current ? "current" : "other";
  }

  /** A line of the page's own ("alice has joined the server!"); `kind`: "join" or "leave". */
  addSystemLine(channel, text, kind, timestamp = Date.now()) {
    const entry = this.channels.get(channel);
    if (!entry) return null;
    this.systemLines += 1;
    const line = { id: `system-${this.systemLines}`, system: true, kind, message: text, username: "", timestamp };
    entry.messages.push(line);
    return line;
  }

  oldestMessage(channel) {
    return this.messages(channel).find((m) => !m.system) ?? null;
  }

  historyComplete(channel) {
    return this.channels.get(channel)?.complete ?? true;
  }

  markHistoryComplete(channel) {
    const entry = this.channels.get(channel);
    if (entry) entry.complete = true;
  }

  select(channel) {
    const entry = this.channels.get(channel);
    if (!entry) return false;
    this.current = channel;
    return true;
  }

  setUsers(list) {
    if (!Array.isArray(list)) return;
    this.users = new Map(list.filter(isUser).map((u) => [u.userId, { ...u, connected: Boolean(u.connected) }]));
  }

  /** Add or update a user; returns whether the user was new to us. */
  upsertUser(user, connected) {
    if (!isUser(user)) return false;
    const isNew = !this.users.has(user.userId);
    this.users.set(user.userId, { ...this.users.get(user.userId), ...user, connected });
    return isNew;
  }

  /** A message deleted (`message:delete`); returns "current", "other" or null (not shown here). */
  removeMessage(channel, id) {
    const entry = this.channels.get(channel);
    const index = entry?.messages.findIndex((m) => !m.system && m.id === id) ?? -1;
    if (index < 0) return null;
    entry.messages.splice(index, 1);
    return channel === this.current ? "current" : "other";
  }

  /** A role changed (`user:role`); returns whether it was this user's own. */
  setRole(userId, role) {
    const user = this.users.get(userId);
    if (user) this.users.set(userId, { ...user, role });
    if (this.session?.userId !== userId) return false;
    this.session = { ...this.session, role };
    return true;
  }

  removeUser(user) {
    if (!isUser(user)) return false;
    return this.users.delete(user.userId);
  }

  online() {
    return [...this.users.values()].filter((u) => u.connected).sort(byName);
  }

  offline() {
    return [...this.users.values()].filter((u) => !u.connected).sort(byName);
  }
}
