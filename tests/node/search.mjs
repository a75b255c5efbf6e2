// Search with node's socket.io-client: send two messages, search for one word, then a page
// of one, then a bad query. One JSON line per step.
//
//   node search.mjs <server url>
import { io } from "socket.io-client";

const [url] = process.argv.slice(2);
const WAIT_MS = 10000;

function within(promise, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

async function main() {
  const socket = io(url, { auth: { username: "seeker" }, reconnection: false, forceNew: true, timeout: WAIT_MS });
  await within(
    new Promise((resolve, reject) => {
      socket.once("users", resolve);
      socket.once("connect_error", reject);
    }),
    "the greeting",
  );
  const ask = (event, ...args) => within(socket.emitWithAck(event, ...args), event);
  const report = (step, fields) => process.stdout.write(JSON.stringify({ step, ...fields }) + "\n");
  report("sent", {
    ids: [
      (await ask("message:channel:send", "general", "find the needle")).id,
      (await ask("message:channel:send", "react", "another needle here")).id,
    ],
  });
  report("all", { ack: await ask("search", { query: "needle" }) });
  report("one", { ack: await ask("search", { query: "needle", limit: 1 }) });
  report("bad", { ack: await ask("search", { query: ["needle"] }) });
  socket.disconnect();
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error.stack}\n`);
    process.exit(1);
  },
);
