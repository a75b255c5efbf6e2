// Mentions: messages that mention this user are highlighted, a channel where someone did
// gets a marker (and the browser's notification when the user allowed them), and names
// are suggested while typing `@`.
//
// The server resolves names (`mentions`: [userId...] on a live message; `mention`
// {channel, message} to the mentioned user). History from before has no `mentions`: there
// a message that writes `@` and this user's name counts.

import { h } from "./dom.js";

const MAX_SUGGESTIONS = 6;
const NOTIFICATION_TEXT = 200;
// "@ad" just before the caret: at the start or after a space.
const TYPED = /(?:^|\s)@([^\s@]*)$/u;

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Whether `message` mentions the user `self` ({userId, username}). */
export function mentionsMe(message, self) {
  if (!self || message.system || message.userId === self.userId) return false;
  if (Array.isArray(message.mentions)) return message.mentions.includes(self.userId);
  const named = new RegExp(`(?:^|[^\\w@])@${escapeRegExp(self.username)}(?![\\w])`, "iu");
  return named.test(message.message);
}

export class Mentions {
  constructor() {
    // Channels with a mention not yet seen.
    this.marked = new Set();
  }

  /** A `mention` from the server; returns whether the channel got a marker. */
  received(note, current) {
    if (note === null || typeof note !== "object" || typeof note.channel !== "string") return false;
    const message = note.message;
    if (message === null || typeof message !== "object" || typeof message.message !== "string") return false;
    const away = document.visibilityState !== "visible";
    if (away || note.channel !== current) notify(note.channel, message);
    if (note.channel === current) return false;
    this.marked.add(note.channel);
    return true;
  }

  /** The user opened `channel`: its marker goes. */
  opened(channel) {
    this.marked.delete(channel);
  }

  /** Add the markers to the channel buttons just built. */
  markChannels(list) {
    for (const channel of this.marked) {
      const button = list.querySelector(`[data-channel="${CSS.escape(channel)}"]`);
      if (!button) continue;
      button.classList.add("mentioned");
      const said = button.getAttribute("aria-description");
      button.setAttribute("aria-description", said ? `${said}, you were mentioned` : "you were mentioned");
      button.append(h("span", { class: "mention-marker", "aria-hidden": "true" }, "@"));
    }
  }
}

/** Ask once for the browser's notifications (after the user did something: a send). */
export function askToNotify() {
  if ("Notification" in window && Notification.permission === "default") Notification.requestPermission();
}

function notify(channel, message) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  const author = typeof message.username === "string" ? message.username : "Someone";
  new Notification(`${author} mentioned you in #${channel}`, {
    body: message.message.slice(0, NOTIFICATION_TEXT),
    tag: `mention-${channel}-${message.id}`,
  });
}

/** Name suggestions under the message box while a `@name` is typed. */
export class MentionSuggestions {
  /** `users()`: who may be suggested ({userId, username}), this user left out. */
  constructor(input, listbox, users) {
    this.input = input;
    this.listbox = listbox;
    this.users = users;
    this.options = [];
    this.active = 0;
    listbox.addEventListener("mousedown", (event) => event.preventDefault());
    listbox.addEventListener("click", (event) => {
      const option = event.target.closest("[role=option]");
      if (option) this.pick(this.options[Number(option.dataset.index)]);
    });
  }

  /** The text changed: suggest names for the `@` being typed, if any. */
  update() {
    const before = this.input.value.slice(0, this.input.selectionStart);
    const typed = TYPED.exec(before);
    if (!typed) return this.close();
    const prefix = typed[1].toLocaleLowerCase();
    this.options = this.users()
      .filter((u) => u.username.toLocaleLowerCase().startsWith(prefix))
      .sort((a, b) => a.username.localeCompare(b.username))
      .slice(0, MAX_SUGGESTIONS);
    if (this.options.length === 0) return this.close();
    this.active = 0;
    this.render();
  }

  render() {
    this.listbox.replaceChildren(
      ...this.options.map((user, i) =>
        h(
          "li",
          {
            id: `mention-option-${i}`,
            role: "option",
            class: "mention-option",
            "data-index": i,
            "aria-selected": i === this.active ? "true" : "false",
          },
          user.username,
        ),
      ),
    );
    this.listbox.hidden = false;
    this.input.setAttribute("aria-activedescendant", `mention-option-${this.active}`);
  }

  close() {
    this.options = [];
    this.listbox.hidden = true;
    this.listbox.replaceChildren();
    this.input.removeAttribute("aria-activedescendant");
  }

  /** Keys while suggesting; returns whether the key was used here. */
  keydown(event) {
    if (this.options.length === 0) return false;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.active = (this.active + step + this.options.length) % this.options.length;
      this.render();
      return true;
    }
    if (event.key === "Enter" || event.key === "Tab") {
      this.pick(this.options[this.active]);
      return true;
    }
    if (event.key === "Escape") {
      this.close();
      return true;
    }
    return false;
  }

  pick(user) {
    if (!user) return;
    const caret = this.input.selectionStart;
    const before = this.input.value.slice(0, caret).replace(/@[^\s@]*$/u, `@${user.username} `);
    this.input.value = before + this.input.value.slice(caret);
    this.input.setSelectionRange(before.length, before.length);
    this.close();
    this.input.focus();
  }
}
