// A node socket.io-client 4.8 whose server handlers await acks from this very client.
//
//   node own_acks.mjs <server url>
//
// Over WebSocket, then over long-polling (one client at a time, so a broadcast reaches only
// the sender): answers "double" with twice the number, asks "ask-me" (the server calls this
// client back) and "ask-all" (a broadcast with ack that includes this client), and reports
// both answers. Every wait has a deadline.
import { io } from "socket.io-client";

const [url] = process.argv.slice(2);
const WAIT_MS = 10000;
const TRANSPORTS = {
  websocket: { transports: ["websocket"] },
  polling: { transports: ["polling"], upgrade: false },
};

function report(step, fields = {}) {
  process.stdout.write(JSON.stringify({ step, ...fields }) + "\n");
}

async function main() {
  const deadline = setTimeout(() => {
    report("timeout");
    process.exit(1);
  }, 3 * WAIT_MS);
  for (const [name, options] of Object.entries(TRANSPORTS)) {
    const socket = io(url, { ...options, reconnection: false, forceNew: true });
    socket.on("double", (number, ack) => ack(number * 2));
    await new Promise((resolve) => socket.once("connect", resolve));
    const mine = await socket.timeout(WAIT_MS).emitWithAck("ask-me", 21);
    const all = await socket.timeout(WAIT_MS).emitWithAck("ask-all", 5);
    report("answered", { transport: name, mine, all });
    socket.disconnect();
  }
  clearTimeout(deadline);
  report("done");
}

main().catch((error) => {
  report("error", { message: String(error) });
  process.exit(1);
});
