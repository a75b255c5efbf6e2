// The live events of issue 18 (typing, mentions, read positions) with node's
// socket.io-client: connect with the given auth, then run the steps in order and print one
// JSON line per step.
//
//   node live.mjs <server url> <auth JSON> <steps JSON>
//
// Steps: ["emit", event, [args...]] emits with an ack and prints {step, ack};
// ["wait", event, {fields}] waits for an event whose first argument has those fields
// (received since the connect, in order) and prints {step, got}.
import { io } from "socket.io-client";

const [url, auth, steps] = process.argv.slice(2);
const WAIT_MS = 10000;

function within(promise, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function matches(value, fields) {
  return Object.entries(fields).every(
    ([key, expected]) =>
      value !== null &&
      typeof value === "object" &&
      JSON.stringify(value[key]) === JSON.stringify(expected),
  );
}

async function main() {
  const socket = io(url, {
    auth: JSON.parse(auth),
    reconnection: false,
    forceNew: true,
    timeout: WAIT_MS,
  });
  const received = [];
  let arrived = () => {};
  socket.onAny((event, ...args) => {
    received.push([event, args]);
    arrived();
  });
  await within(
    new Promise((resolve, reject) => {
      socket.once("users", resolve);
      socket.once("connect_error", reject);
    }),
    "the greeting",
  );
  const session = received.find(([event]) => event === "session")[1][0];
  process.stdout.write(JSON.stringify({ step: "session", userId: session.userId }) + "\n");
  for (const [index, [kind, event, payload]] of JSON.parse(steps).entries()) {
    if (kind === "emit") {
      const ack = await within(socket.emitWithAck(event, ...payload), event);
      process.stdout.write(JSON.stringify({ step: index, ack }) + "\n");
    } else {
      const found = () => received.find(([name, args]) => name === event && matches(args[0], payload));
      const got = await within(
        new Promise((resolve) => {
          arrived = () => found() && resolve(found());
          arrived();
        }),
        `${event} ${JSON.stringify(payload)}`,
      );
      process.stdout.write(JSON.stringify({ step: index, got: got[1] }) + "\n");
    }
  }
  socket.disconnect();
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error.stack}\n`);
    process.exit(1);
  },
);
