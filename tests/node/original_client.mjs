// The original React front end's use of socket.io-client, against a rate limit:
//
//   node original_client.mjs <server url> <burst size> [<another node's url>...]
//
// "react" connects as the React login does (io(url, {auth: {username}}), polling then the
// upgrade, a name longer than the server keeps) and sends a burst without ack callbacks,
// as the React client does; "acker" sends the same burst with ack callbacks, as newer
// clients do; "watcher" is someone else in the channel; "poser" logs in as a name the
// server refuses. Prints one JSON line of what each
// saw, for tests/chat/test_original_client_node.py to judge; exits 1 if a wait runs out.
// Given the urls of several nodes of one cluster, the clients take turns between them
// (react, watcher, acker, poser), so the watcher is on another node than react.
import { io } from "socket.io-client";

const [url, burstArg, ...otherUrls] = process.argv.slice(2);
const urls = [url, ...otherUrls];
let opened = 0;
const BURST = Number(burstArg);
const CHANNEL = "general";
const WAIT_MS = 10000;
const LONG_NAME = "Maximiliane Alexandra Montgomery-Smythe"; // 39 characters

function open(name, username) {
  const socket = io(urls[opened++ % urls.length], { auth: { username }, forceNew: true, reconnection: false });
  const client = { name, socket, events: [] };
  socket.onAny((event, ...args) => client.events.push([event, args]));
  socket.on("connect", () => client.events.push(["connect", []]));
  socket.on("disconnect", (reason) => client.events.push(["disconnect", [reason]]));
  socket.on("connect_error", (error) => client.events.push(["connect_error", [error.message]]));
  return client;
}

function received(client, event) {
  return client.events.filter(([e]) => e === event).map(([, args]) => args);
}

function waitUntil(client, what, condition) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      clearInterval(poll);
      reject(new Error(`${client.name}: no ${what} in time: ${JSON.stringify(client.events)}`));
    }, WAIT_MS);
    const poll = setInterval(() => {
      if (!condition()) return;
      clearTimeout(timer);
      clearInterval(poll);
      resolve();
    }, 5);
  });
}

function inChannel(client) {
  return received(client, "message:channel")
    .filter(([channel]) => channel === CHANNEL)
    .map(([, message]) => message);
}

function userIdOf(client) {
  return received(client, "session")[0][0].userId;
}

// What `client` saw in the channel: the messages `author` sent, and System lines.
function summary(client, author = client) {
  const messages = inChannel(client);
  return {
    own: messages.filter((m) => m.userId === userIdOf(author)).map((m) => m.message),
    system: messages.filter((m) => m.username === "System").map((m) => m.message),
  };
}

async function main() {
  const react = open("react", LONG_NAME);
  const watcher = open("watcher", "watcher");
  const acker = open("acker", "acker");
  for (const client of [react, watcher, acker]) {
    await waitUntil(client, "users", () => received(client, "users").length > 0);
  }
  const session = received(react, "session")[0][0];

  // The React client: emit and forget, as fast as a user pressing Enter can.
  for (let n = 0; n < BURST; n++) react.socket.emit("message:channel:send", CHANNEL, `burst ${n}`);
  // Every send must come back as something the React client shows: the message itself,
  // or a System line saying it was not sent.
  await waitUntil(react, `${BURST} messages in #${CHANNEL}`, () => inChannel(react).length >= BURST);

  // A newer client: the same burst, every refusal in its ack.
  const acks = await Promise.all(
    Array.from({ length: BURST }, (_, n) =>
      acker.socket.timeout(WAIT_MS).emitWithAck("message:channel:send", CHANNEL, `acked ${n}`),
    ),
  );

  // A name the server refuses, from the React login: the chat opens (that client shows it
  // on "connect") with why in the first channel, and Leave Server takes it back to login.
  const poser = open("poser", "System");
  await waitUntil(poser, "channels", () => received(poser, "channels").length > 0);
  const [firstChannel] = received(poser, "channels")[0][0];
  poser.socket.emit("user:leave");
  await waitUntil(poser, "disconnect", () => !poser.socket.connected);
  const turnedAway = {
    events: poser.events.map(([event]) => event),
    firstChannel: firstChannel.messages.map((m) => `${m.username}: ${m.message}`),
  };

  // The watcher's own ack comes after everything the server sent it before.
  const marker = await watcher.socket.timeout(WAIT_MS).emitWithAck("message:channel:send", "casual", "marker");
  process.stdout.write(
    JSON.stringify({
      session,
      react: summary(react),
      acker: { ...summary(acker), acks },
      watcher: { ...summary(watcher, react), marker },
      turnedAway,
    }) + "\n",
  );
}

main()
  .then(() => process.exit(0))
  .catch((error) => {
    process.stderr.write(`${error.stack ?? error}\n`);
    process.exit(1);
  });
