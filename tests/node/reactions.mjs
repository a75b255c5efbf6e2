// Reactions with node's socket.io-client: two users react to one message (one by shortcode),
// one removes theirs, and a bad emoji is refused. One JSON line per step.
//
//   node reactions.mjs <server url>
import { io } from "socket.io-client";

const [url] = process.argv.slice(2);
const WAIT_MS = 10000;

function within(promise, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

async function join(username) {
  const socket = io(url, { auth: { username }, reconnection: false, forceNew: true, timeout: WAIT_MS });
  const updates = [];
  socket.on("reaction:update", (update) => updates.push(update));
  await within(
    new Promise((resolve, reject) => {
      socket.once("users", resolve);
      socket.once("connect_error", reject);
    }),
    `${username}'s greeting`,
  );
  return { socket, updates };
}

function report(step, fields) {
  process.stdout.write(JSON.stringify({ step, ...fields }) + "\n");
}

async function updatesOf(client, count) {
  const deadline = Date.now() + WAIT_MS;
  while (client.updates.length < count) {
    if (Date.now() > deadline) throw new Error(`fewer than ${count} reaction:update in time`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return client.updates;
}

async function main() {
  const ada = await join("ada-node");
  const bob = await join("bob-node");
  const ask = (client, event, payload) => within(client.socket.emitWithAck(event, payload), event);
  const sent = await within(ada.socket.emitWithAck("message:channel:send", "general", "react"), "send");
  const at = { channel: "general", id: sent.id };
  report("ids", { ada: ada.socket.id, message: sent.id });
  report("bob_adds", { ack: await ask(bob, "reaction:add", { ...at, emoji: "🎉" }) });
  report("ada_adds", { ack: await ask(ada, "reaction:add", { ...at, emoji: ":tada:" }) });
  report("bad", { ack: await ask(ada, "reaction:add", { ...at, emoji: "<b>" }) });
  report("bob_removes", { ack: await ask(bob, "reaction:remove", { ...at, emoji: "🎉" }) });
  report("ada_saw", { updates: await updatesOf(ada, 3) });
  ada.socket.disconnect();
  bob.socket.disconnect();
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error.stack}\n`);
    process.exit(1);
  },
);
