// Node's socket.io-client against the server API extensions: a connect middleware's
// refusal (message and data), catch-all listeners, and dynamic namespaces.
//
//   node extensions.mjs <server url>
//
// Prints JSON lines {"step": ..., ...}; every wait has a deadline, so a silent server
// makes the script fail (exit code 1) instead of hanging. The server side is
// tests/sockets/test_interop_extensions.py.
import { io } from "socket.io-client";

const [url] = process.argv.slice(2);
const WAIT_MS = 5000;

function report(step, fields = {}) {
  process.stdout.write(JSON.stringify({ step, ...fields }) + "\n");
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

function connect(namespace, auth) {
  return io(`${url}${namespace}`, {
    transports: ["websocket"],
    auth,
    reconnection: false,
    forceNew: true,
    timeout: WAIT_MS,
  });
}

async function main() {
  const refused = connect("/guarded", { token: "wrong" });
  const [error] = await once(refused, "connect_error");
  report("refused", { message: error.message, data: error.data ?? null });
  refused.close();

  const guarded = connect("/guarded", { token: "open sesame" });
  await once(guarded, "connect");
  const news = once(guarded, "news");
  const pong = await within(guarded.emitWithAck("ping", 1, { two: 2 }), "ping ack");
  report("pong", { pong, news: await news });
  guarded.close();

  const child = connect("/room-42", {});
  const [welcome] = await once(child, "welcome");
  const other = connect("/room-7", {});
  await once(other, "welcome");
  const shouted = Promise.all([once(child, "shouted"), once(other, "shouted")]);
  child.emit("shout", "to every room");
  report("dynamic", { welcome, shouted: await shouted });
  child.close();
  other.close();

  const nowhere = connect("/nowhere", {});
  const [invalid] = await once(nowhere, "connect_error");
  report("invalid", { message: invalid.message });
  nowhere.close();
}

main().then(
  () => process.exit(0),
  (error) => {
    report("error", { message: String(error && error.message) });
    process.exit(1);
  },
);
