// One interop scenario with node's socket.io-client, printed as JSON lines on stdout.
//
//   node scenario.mjs <server url> <websocket|polling|upgrade>
//
// Each line is {"step": ..., ...}; binary values print as {"$bin": "<base64>"} so the
// Python side can compare them. Every wait has a deadline, so a silent server makes the
// script fail (exit code 1) instead of hanging.
import { io } from "socket.io-client";

const [url, mode] = process.argv.slice(2);
const TRANSPORTS = {
  websocket: { transports: ["websocket"] },
  polling: { transports: ["polling"], upgrade: false },
  upgrade: { transports: ["polling", "websocket"] },
};
const WAIT_MS = 5000;

function report(step, fields = {}) {
  process.stdout.write(JSON.stringify({ step, ...fields }, plain) + "\n");
}

// JSON.stringify calls toJSON on Buffers before the replacer sees them.
function plain(key, value) {
  if (value && value.type === "Buffer" && Array.isArray(value.data)) {
    return { $bin: Buffer.from(value.data).toString("base64") };
  }
  if (value instanceof ArrayBuffer) {
    return { $bin: Buffer.from(value).toString("base64") };
  }
  return value;
}

function within(promise, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function once(socket, event) {
  return within(new Promise((resolve) => socket.once(event, (...args) => resolve(args))), event);
}

function connect(auth) {
  return io(`${url}/interop`, {
    ...TRANSPORTS[mode],
    auth,
    reconnection: false,
    forceNew: true,
    timeout: WAIT_MS,
  });
}

async function main() {
  // The token the "/interop" namespace expects (tests/conformance/interop.py).
  const socket = connect({ token: "secret", name: "node" });
  // The server asks a question as soon as the socket is connected; the ack carries binary.
  socket.on("question", (text, ack) => ack(`${text} pong`, Buffer.from([9, 8, 7])));
  const answer = once(socket, "answer");
  const [welcome] = await once(socket, "welcome");
  report("welcome", { id: socket.id, welcome });

  if (mode === "upgrade" && socket.io.engine.transport.name !== "websocket") {
    await once(socket.io.engine, "upgrade");
  }
  report("transport", { name: socket.io.engine.transport.name });

  // emitWithAck would keep only the first ack argument; the callback sees them all.
  const echoed = await within(
    new Promise((resolve) => {
      const args = ["hi", 42, { nested: [true, null] }, Buffer.from([1, 2, 3])];
      socket.emit("echo", ...args, (...ack) => resolve(ack));
    }),
    "echo ack",
  );
  report("echo", { args: echoed });

  const shouted = once(socket, "shouted");
  socket.emit("shout", "hello");
  report("shouted", { args: await shouted });

  report("answer", { args: await answer });

  socket.disconnect();
  report("disconnected");

  const refused = connect({ token: "wrong" });
  const [error] = await once(refused, "connect_error");
  report("refused", { message: error.message, data: error.data ?? null });
  refused.close();
}

main().then(
  () => process.exit(0),
  (error) => {
    report("error", { message: String(error && error.message) });
    process.exit(1);
  },
);
