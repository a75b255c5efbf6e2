// A socket.io-client that reconnects on its own, printing each connect and disconnect as
// a JSON line, until it has connected `connects` times (or the deadline passes: exit 1).
//
//   node reconnect.mjs <server url> <websocket|polling> <connects>
import { io } from "socket.io-client";

const [url, mode, connects] = process.argv.slice(2);
const DEADLINE_MS = 30000;
const transports = mode === "polling" ? ["polling"] : ["websocket"];

const socket = io(url, {
  transports,
  upgrade: false,
  auth: { username: `node-${mode}` },
  reconnectionDelay: 200,
  reconnectionDelayMax: 500,
});
let seen = 0;
socket.on("connect", () => {
  seen += 1;
  console.log(JSON.stringify({ event: "connect", n: seen }));
  if (seen >= Number(connects)) {
    socket.disconnect();
    process.exit(0);
  }
});
socket.on("disconnect", (reason) => console.log(JSON.stringify({ event: "disconnect", reason })));
setTimeout(() => {
  console.log(JSON.stringify({ event: "deadline" }));
  process.exit(1);
}, DEADLINE_MS);
