// An account with node's socket.io-client: register over HTTP (fetch), connect with the
// token in the handshake auth, send with an ack; then an anonymous connect, which a server
// in `--auth accounts` refuses. Prints one JSON line per step.
//
//   node accounts.mjs <server url> <username>
import { io } from "socket.io-client";

const [url, username] = process.argv.slice(2);
const WAIT_MS = 10000;

function within(promise, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function print(step, fields) {
  process.stdout.write(JSON.stringify({ step, ...fields }) + "\n");
}

function open(auth) {
  return io(url, { auth, reconnection: false, forceNew: true, timeout: WAIT_MS });
}

async function main() {
  const answer = await within(
    fetch(`${url}/api/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username, password: "a node password" }),
    }),
    "register",
  );
  const registered = await answer.json();
  print("registered", { status: answer.status, role: registered.role });

  const socket = open({ token: registered.token });
  const session = new Promise((resolve, reject) => {
    socket.once("session", resolve);
    socket.once("connect_error", reject);
  });
  const got = await within(session, "session");
  print("session", { username: got.username, role: got.role, same: got.sessionId === registered.token });
  const ack = await within(socket.emitWithAck("message:channel:send", "general", "from node"), "ack");
  print("sent", { ack });
  socket.disconnect();

  const anonymous = open({ username: "guest", connectErrors: true });
  const outcome = await within(
    new Promise((resolve) => {
      anonymous.once("connect_error", (error) => resolve({ refused: error.message }));
      anonymous.once("session", (s) => resolve({ joined: s.role }));
    }),
    "anonymous connect",
  );
  print("anonymous", outcome);
  anonymous.disconnect();
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error.stack}\n`);
    process.exit(1);
  },
);
