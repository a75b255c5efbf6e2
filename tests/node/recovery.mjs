// socket.io-client 4.8 against a server with connection state recovery on: join a room,
// cut the transport once the join is acknowledged AND "before" has come (the server emits
// it before it answers, but a cluster adapter may deliver it after the answer: it carries
// the offset the client will recover from) with socket.io.engine.close(), as a network
// blip would; let the client reconnect on its own, and print each connect and each event
// (with all its arguments, the offset included) as a JSON line; exit once "missed" 2 has
// come.
//
//   node recovery.mjs <server url> <websocket|polling>
import { io } from "socket.io-client";

const [url, mode] = process.argv.slice(2);
const transports = mode === "polling" ? ["polling"] : ["websocket"];
const log = (line) => console.log(JSON.stringify(line));

const socket = io(url, {
  transports,
  upgrade: false,
  reconnectionDelay: 100,
  reconnectionDelayMax: 200,
});
let connects = 0;
let joined = false;
let sawBefore = false;
const cutOnceReady = () => {
  if (joined && sawBefore) {
    joined = false;
    // On the next turn: closing inside the engine's own packet handler throws.
    setTimeout(() => socket.io.engine.close(), 0);
  }
};
socket.on("connect", async () => {
  connects += 1;
  log({ connect: connects, id: socket.id, recovered: socket.recovered });
  if (connects === 1) {
    // Not cut before the acknowledgement: a blip while it is pending fails emitWithAck
    // ("socket has been disconnected"), an unhandled rejection that ends the process.
    await socket.emitWithAck("join", "r");
    joined = true;
    cutOnceReady();
  }
});
socket.on("disconnect", (reason) => log({ disconnect: reason }));
socket.onAny((event, ...args) => {
  log({ event, args });
  if (event === "before") {
    sawBefore = true;
    cutOnceReady();
  } else if (event === "missed" && args[0] === 2) {
    socket.disconnect();
    process.exit(0);
  }
});
setTimeout(() => {
  log({ deadline: true });
  process.exit(1);
}, 20000);
