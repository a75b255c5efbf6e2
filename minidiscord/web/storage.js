// What survives a page reload: the session id and name to restore, whether the user chose
// to disconnect (then a reload shows the login form instead of reconnecting), and the
// channel last read (shown again after the reload).

const KEYS = Object.freeze({
  sessionId: "minidiscord.sessionId",
  username: "minidiscord.username",
  disconnected: "minidiscord.disconnected",
  channel: "minidiscord.channel",
  // The name of the account logged in (its login is the HttpOnly cookie), or nothing.
  account: "minidiscord.account",
});

// Storage can be unavailable (privacy modes, quotas); the chat still works, only a reload
// forgets the session.
function read(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function write(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    /* see read() */
  }
}

export function loadSession() {
  return {
    sessionId: read(KEYS.sessionId),
    username: read(KEYS.username),
    disconnected: read(KEYS.disconnected) === "true",
    channel: read(KEYS.channel),
    account: read(KEYS.account),
  };
}

export function saveSession({ sessionId, username }) {
  write(KEYS.sessionId, typeof sessionId === "string" ? sessionId : null);
  write(KEYS.username, typeof username === "string" ? username : null);
  write(KEYS.disconnected, null);
}

export function saveChannel(channel) {
  write(KEYS.channel, typeof channel === "string" ? channel : null);
}

export function markDisconnected(disconnected) {
  write(KEYS.disconnected, disconnected ? "true" : null);
}

export function forgetSession() {
  for (const key of Object.values(KEYS)) write(key, null);
}

export function saveAccount(username) {
  write(KEYS.account, typeof username === "string" ? username : null);
}
