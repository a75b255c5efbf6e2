// Moderation with node's socket.io-client: connect with the given auth, emit each request
// with an ack, in order, and print one JSON line per ack (then the `message:delete` events
// it received).
//
//   node moderation.mjs <server url> <auth JSON> <requests JSON: [[event, payload], ...]>
import { io } from "socket.io-client";

const [url, auth, requests] = process.argv.slice(2);
const WAIT_MS = 10000;

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
    timeout: WAIT_MS,
  });
  const deleted = [];
  socket.on("message:delete", (gone) => deleted.push(gone));
  await within(
    new Promise((resolve, reject) => {
      socket.once("users", resolve);
      socket.once("connect_error", reject);
    }),
    "the greeting",
  );
  for (const [event, payload] of JSON.parse(requests)) {
    const ack = await within(socket.emitWithAck(event, payload), event);
    process.stdout.write(JSON.stringify({ event, ack }) + "\n");
  }
  process.stdout.write(JSON.stringify({ event: "deleted", ack: deleted }) + "\n");
  socket.disconnect();
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error.stack}\n`);
    process.exit(1);
  },
);
