// Channels and direct conversations with node's socket.io-client: connect with the given
// auth, then run the steps in order, printing one JSON line per step:
//   ["emit", event, ...args]   emit with an ack; prints {step, ack}. An argument
//                              "$conversation" is the id of the last dm:open's conversation,
//                              "$channel" the last channel:create's channel's (also as an
//                              object's `id`).
//   ["wait", event, count]     wait until `count` such events arrived; prints {step, events}
// and at the end {step: "received", events: {event: [args...]}} for the events it heard.
//
//   node convos.mjs <server url> <auth JSON> <steps JSON>
import { io } from "socket.io-client";

const [url, auth, steps] = process.argv.slice(2);
const WAIT_MS = 10000;
const HEARD = ["channel:update", "dm:update", "message:channel"];

function within(promise, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

async function main() {
  const socket = io(url, {
    auth: JSON.parse(auth),
    reconnection: false,
    forceNew: true,
    transports: ["websocket"],
    timeout: WAIT_MS,
  });
  const received = Object.fromEntries(HEARD.map((event) => [event, []]));
  let arrived = () => {};
  for (const event of HEARD) {
    socket.on(event, (...args) => {
      received[event].push(args);
      arrived();
    });
  }
  await within(
    new Promise((resolve, reject) => {
      socket.once("users", resolve);
      socket.once("connect_error", reject);
    }),
    "the greeting",
  );
  const made = { $conversation: null, $channel: null };
  const filled = (arg) => {
    if (typeof arg === "string" && arg in made) return made[arg];
    if (arg && typeof arg === "object" && arg.id in made) return { ...arg, id: made[arg.id] };
    return arg;
  };
  for (const [n, [kind, event, ...rest]] of JSON.parse(steps).entries()) {
    if (kind === "emit") {
      const ack = await within(socket.emitWithAck(event, ...rest.map(filled)), event);
      if (event === "dm:open" && ack.ok) made.$conversation = ack.conversation.id;
      if (event === "channel:create" && ack.ok) made.$channel = ack.channel.id;
      process.stdout.write(JSON.stringify({ step: String(n), ack }) + "\n");
    } else {
      const [count] = rest;
      await within(
        new Promise((resolve) => {
          const check = () => received[event].length >= count && resolve();
          arrived = check;
          check();
        }),
        `${count} x ${event}`,
      );
      process.stdout.write(JSON.stringify({ step: String(n), events: received[event] }) + "\n");
    }
  }
  process.stdout.write(JSON.stringify({ step: "received", events: received }) + "\n");
  socket.disconnect();
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error.stack}\n`);
    process.exit(1);
  },
);
