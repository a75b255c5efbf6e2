// Clients of node's socket.io-client that answer a server's broadcast with ack.
//
//   node broadcast_acks.mjs <server url>
//
// Three clients (WebSocket, long-polling, polling then upgrade) join the "team" room through
// their auth and answer every "question" with their name and twice the number asked. The
// server ends the script with a "done" event; every wait has a deadline.
import { io } from "socket.io-client";

const [url] = process.argv.slice(2);
const WAIT_MS = 10000;
const CLIENTS = {
  websocket: { transports: ["websocket"] },
  polling: { transports: ["polling"], upgrade: false },
  upgrade: { transports: ["polling", "websocket"] },
};

function report(step, fields = {}) {
  process.stdout.write(JSON.stringify({ step, ...fields }) + "\n");
}

async function main() {
  const deadline = setTimeout(() => {
    report("timeout");
    process.exit(1);
  }, WAIT_MS);
  const sockets = Object.entries(CLIENTS).map(([name, options]) => {
    const socket = io(url, {
      ...options,
      auth: { name, rooms: ["team"] },
      reconnection: false,
      forceNew: true,
    });
    socket.on("question", (number, ack) => ack(`${name}: ${number * 2}`));
    return socket;
  });
  await Promise.all(
    sockets.map((socket) => new Promise((resolve) => socket.once("connect", resolve))),
  );
  report("connected", { ids: sockets.map((socket) => socket.id) });
  await Promise.all(
    sockets.map((socket) => new Promise((resolve) => socket.once("done", resolve))),
  );
  sockets.forEach((socket) => socket.disconnect());
  clearTimeout(deadline);
  report("done");
}

main().catch((error) => {
  report("error", { message: String(error) });
  process.exit(1);
});
