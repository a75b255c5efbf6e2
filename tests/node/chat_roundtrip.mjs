// One chat round trip with node's socket.io-client on one transport, printed as a JSON line.
//
//   node chat_roundtrip.mjs <server url> <websocket|polling> <username>
//
// Joins the chat as <username>, sends a message to #general with an ack, and waits for
// the server's broadcast of it. For an https:// server node must trust its CA
// (NODE_EXTRA_CA_CERTS). Every wait has a deadline: a silent server exits 1.
import { io } from "socket.io-client";

const [url, transport, username] = process.argv.slice(2);
const WAIT_MS = 10000;
const TEXT = `hello from node over ${transport}`;

function within(promise, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

async function main() {
  const socket = io(url, {
    transports: [transport],
    upgrade: false,
    auth: { username },
    reconnection: false,
    forceNew: true,
    timeout: WAIT_MS,
  });
  const failed = new Promise((_, reject) =>
    socket.on("connect_error", (error) => reject(new Error(`connect_error: ${error.message}`))),
  );
  const users = new Promise((resolve) => socket.once("users", resolve));
  const echoed = new Promise((resolve) =>
    socket.on("message:channel", (channel, message) => {
      if (message.message === TEXT) resolve([channel, message]);
    }),
  );
  await within(Promise.race([users, failed]), "users");
  const ack = await within(socket.emitWithAck("message:channel:send", "general", TEXT), "ack");
  const [channel, message] = await within(echoed, "message:channel");
  process.stdout.write(
    JSON.stringify({
      transport: socket.io.engine.transport.name,
      ack,
      channel,
      username: message.username,
      text: message.message,
    }) + "\n",
  );
  socket.disconnect();
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error.stack}\n`);
    process.exit(1);
  },
);
