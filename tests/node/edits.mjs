// Editing and deleting one's own message with node's socket.io-client: two users, the author
// edits and deletes, the other tries to edit it and watches. One JSON line per step.
//
//   node edits.mjs <server url>
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
  const seen = [];
  for (const event of ["message:edit", "message:delete"]) {
    socket.on(event, (payload) => seen.push({ event, payload }));
  }
  await within(
    new Promise((resolve, reject) => {
      socket.once("users", resolve);
      socket.once("connect_error", reject);
    }),
    `${username}'s greeting`,
  );
  return { socket, seen };
}

function report(step, fields) {
  process.stdout.write(JSON.stringify({ step, ...fields }) + "\n");
}

async function seenBy(client, event, count = 1) {
  const deadline = Date.now() + WAIT_MS;
  while (client.seen.filter((s) => s.event === event).length < count) {
    if (Date.now() > deadline) throw new Error(`no ${event} in time`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return client.seen.filter((s) => s.event === event).map((s) => s.payload);
}

async function main() {
  const ada = await join("ada-node");
  const bob = await join("bob-node");
  const ask = (client, event, payload) => within(client.socket.emitWithAck(event, payload), event);
  const sent = await within(ada.socket.emitWithAck("message:channel:send", "general", "helo"), "send");
  const id = sent.id;
  report("edit", { ack: await ask(ada, "message:edit", { channel: "general", id, text: "hello" }), id });
  report("others_edit", { ack: await ask(bob, "message:edit", { channel: "general", id, text: "mine" }) });
  report("bad", { ack: await ask(ada, "message:edit", { channel: "general", id: String(id), text: "x" }) });
  report("seen_edit", { payloads: await seenBy(bob, "message:edit") });
  const page = await within(ada.socket.emitWithAck("channel:history", "general", { limit: 5 }), "history");
  report("history", { messages: page.messages });
  report("others_delete", { ack: await ask(bob, "message:delete", { channel: "general", id }) });
  report("delete", { ack: await ask(ada, "message:delete", { channel: "general", id }) });
  report("seen_delete", { payloads: await seenBy(bob, "message:delete") });
  // Everything the other user got: one edit and one delete, nothing for the refusals.
  report("bob_saw", { seen: bob.seen });
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
