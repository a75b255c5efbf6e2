// A connect storm of standard clients: N socket.io-clients, polling first then upgrading
// to WebSocket (the library's defaults), started `batch` at a time, kept for `seconds`.
// Prints one JSON line: how many are connected and upgraded at the end, how many
// disconnects happened and why, and how many connect errors there were, by message.
//
//   node storm.mjs <server url> <clients> <batch> <seconds>
//
// With STORM_DEBUG=1 the first three errors of each kind are printed with the server's answer.
import { io } from "socket.io-client";

const [url, clients = "1000", batch = "100", seconds = "60"] = process.argv.slice(2);
const total = Number(clients);
const sockets = [];
const reasons = {};
const connectErrors = {};
let everConnected = 0;

function start(index) {
  const socket = io(url, {
    auth: { username: `storm${index}` },
    reconnection: false,
    timeout: 60000,
  });
  socket.on("connect", () => {
    everConnected += 1;
  });
  socket.on("connect_error", (error) => {
    // engine.io-client puts the HTTP status, or the underlying error, in `description`.
    const cause = error.description?.message ?? error.description;
    const key = cause === undefined ? error.message : `${error.message}: ${cause}`;
    connectErrors[key] = (connectErrors[key] || 0) + 1;
    if (process.env.STORM_DEBUG && connectErrors[key] <= 3) {
      console.error("DEBUG", key, error.context?.responseText, error.context?.status);
    }
  });
  socket.on("disconnect", (reason) => {
    reasons[reason] = (reasons[reason] || 0) + 1;
  });
  sockets.push(socket);
}

for (let started = 0; started < total; started += Number(batch)) {
  for (let index = started; index < Math.min(total, started + Number(batch)); index += 1) {
    start(index);
  }
  // The next batch once this one has connected (or after a second, whichever is first).
  const deadline = Date.now() + 1000;
  while (Date.now() < deadline && sockets.some((s) => !s.connected && s.active)) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
await new Promise((resolve) => setTimeout(resolve, Number(seconds) * 1000));
const connected = sockets.filter((s) => s.connected);
const upgraded = connected.filter((s) => s.io.engine.transport.name === "websocket");
console.log(
  JSON.stringify({
    clients: total,
    connected: connected.length,
    upgraded: upgraded.length,
    everConnected,
    connectErrors,
    disconnects: reasons,
  }),
);
for (const socket of sockets) socket.disconnect();
process.exit(0);
