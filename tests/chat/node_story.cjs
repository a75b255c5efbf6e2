// The chat story driven by node's socket.io-client, the client the original React front end
// uses: polling first, then the upgrade to WebSocket. Usage: node node_story.cjs URL...
// (several URLs: nodes of one cluster, which the clients take turns to connect to)
// Prints one JSON line and exits 0 when every step held; exits 1 with the failed step.
"use strict";
const { io } = require("socket.io-client");
const assert = require("node:assert/strict");

const urls = process.argv.slice(2);
const clients = [];

function open(name, auth) {
  const url = urls[clients.length % urls.length];
  const socket = io(url, { auth, forceNew: true, reconnection: false });
  const events = [];
  socket.onAny((event, ...args) => events.push([event, args]));
  for (const event of ["connect", "disconnect", "connect_error"]) {
    socket.on(event, (...args) => events.push([event, args]));
  }
  const client = { name, socket, events };
  clients.push(client);
  return client;
}

function waitFor(client, event, match = () => true, count = 1) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${client.name}: no ${event} in time: ${JSON.stringify(client.events)}`)),
      8000,
    );
    const check = () => {
      const found = client.events.filter(([e, args]) => e === event && match(...args));
      if (found.length >= count) {
        clearTimeout(timer);
        clearInterval(poll);
        resolve(found[count - 1][1]);
      }
    };
    const poll = setInterval(check, 5);
    check();
  });
}

async function join(name, auth) {
  const client = open(name, auth);
  await waitFor(client, "users");
  return client;
}

function received(client, event) {
  return client.events.filter(([e]) => e === event).map(([, args]) => args);
}

async function story() {
  const alice = await join("alice", { username: "alice" });
  assert.deepEqual(
    alice.events.map(([e]) => e).slice(0, 4),
    ["connect", "session", "channels", "users"],
  );
  const [aliceSession] = received(alice, "session")[0];
  assert.equal(aliceSession.username, "alice");

  const bob = await join("bob", { username: "bob" });
  const [bobSession] = received(bob, "session")[0];
  const [joined] = await waitFor(alice, "user:join");
  assert.deepEqual(joined, { userId: bobSession.userId, username: "bob", connected: true, role: "guest" });

  const ack = await alice.socket.timeout(5000).emitWithAck("message:channel:send", "general", "hello from node");
  assert.equal(ack.ok, true);
  for (const client of [alice, bob]) {
    const [channel, message] = await waitFor(client, "message:channel");
    assert.equal(channel, "general");
    assert.equal(message.id, ack.id);
    assert.equal(message.username, "alice");
    assert.equal(message.message, "hello from node");
  }
  const refused = await alice.socket.timeout(5000).emitWithAck("message:channel:send", "nowhere", "x");
  assert.equal(refused.ok, false);
  assert.match(refused.error, /unknown channel/);

  const carol = await join("carol", { username: "carol" });
  const [channels] = received(carol, "channels")[0];
  const general = channels.find((c) => c.name === "general");
  assert.deepEqual(general.messages.map((m) => m.message), ["hello from node"]);
  await waitFor(alice, "user:join", (u) => u.username === "carol");

  bob.socket.disconnect();
  for (const client of [alice, carol]) {
    const [gone] = await waitFor(client, "user:disconnect");
    assert.deepEqual(gone, { userId: bobSession.userId, username: "bob", connected: false, role: "guest" });
  }
  const bobAgain = await join("bob again", { sessionId: bobSession.sessionId });
  assert.deepEqual(received(bobAgain, "session")[0][0], bobSession);
  const [back] = await waitFor(alice, "user:connect");
  assert.equal(back.userId, bobSession.userId);

  carol.socket.emit("user:leave");
  const [reason] = await waitFor(carol, "disconnect");
  assert.equal(reason, "io server disconnect");
  const [left] = await waitFor(alice, "user:leave");
  assert.equal(left.username, "carol");
  assert.equal(left.connected, false);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(carol.socket.connected, false); // no automatic reconnect after a leave

  const bad = open("bad", { username: "System", connectErrors: true });
  const [error] = await waitFor(bad, "connect_error");
  assert.equal(error.message, "username 'System' is reserved");

  assert.equal(received(alice, "user:join").length, 2); // bob and carol, not bob's return
  return { ok: true, transport: alice.socket.io.engine.transport.name };
}

const deadline = setTimeout(() => {
  console.log(JSON.stringify({ ok: false, error: "story timed out" }));
  process.exit(1);
}, 30000);

story().then(
  (result) => {
    clearTimeout(deadline);
    for (const { socket } of clients) socket.disconnect();
    console.log(JSON.stringify(result));
    process.exit(0);
  },
  (error) => {
    clearTimeout(deadline);
    for (const { socket } of clients) socket.disconnect();
    console.log(JSON.stringify({ ok: false, error: String(error && error.stack || error) }));
    process.exit(1);
  },
);
