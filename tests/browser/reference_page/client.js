// Opens socket.io-client connections the way the original React front end does (io(url,
// {auth}) with the default options: long-polling first, then the upgrade to WebSocket) and
// records everything each connection sees, for the Python tests to read.
"use strict";

window.reference = (() => {
  const sockets = {};
  const records = {};

  // JSON-safe copies: errors become their message (and the data a refusal carries).
  function plain(value) {
    if (value instanceof Error) {
      return { error: value.message, data: value.data ?? null };
    }
    return value === undefined ? null : value;
  }

  function open(name, url, auth, options = {}) {
    const record = {
      events: [],
      offsets: [],
      transports: { opened: null, upgraded: null, afterUpgrade: null },
    };
    records[name] = record;
    const socket = io(url, { auth, ...options });
    sockets[name] = socket;

    const engineWatched = new WeakSet();
    function watchEngine() {
      const engine = socket.io.engine;
      if (!engine || engineWatched.has(engine)) return;
      engineWatched.add(engine);
      engine.on("open", () => {
        record.transports.opened ??= engine.transport.name;
      });
      engine.on("upgrade", (transport) => {
        record.transports.upgraded = transport.name;
        // What the application would see right after the switch.
        record.transports.afterUpgrade = socket.io.engine.transport.name;
      });
    }
    watchEngine();
    // A reconnect builds a new engine.
    socket.io.on("open", watchEngine);

    for (const builtin of ["connect", "disconnect", "connect_error"]) {
      socket.on(builtin, (arg) => record.events.push([builtin, plain(arg)]));
    }
    socket.onAny((event, ...args) => {
      // With connection state recovery on, the server appends a string offset to each
      // event; no chat event ends with a string argument of its own, so a trailing string
      // is the offset (the bundle's minifier renames the client's own _pid, which tells
      // the client). Recorded apart, so the events read as the application's arguments.
      if (args.length && typeof args[args.length - 1] === "string") {
        record.offsets.push(args.pop());
      }
      record.events.push([event, ...args.map(plain)]);
    });
    return true;
  }

  function send(name, channel, text, timeoutMs = 5000) {
    const socket = sockets[name];
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no ack within " + timeoutMs + " ms")), timeoutMs);
      socket.emit("message:channel:send", channel, text, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
    });
  }

  function emit(name, event, ...args) {
    sockets[name].emit(event, ...args);
    return true;
  }

  function disconnect(name) {
    sockets[name].disconnect();
    return true;
  }

  // A network blip: the transport closes under the client, which reconnects by itself.
  function cut(name) {
    sockets[name].io.engine.close();
    return true;
  }

  function recovered(name) {
    return sockets[name].recovered;
  }

  function state(name) {
    const socket = sockets[name];
    const engine = socket.io.engine;
    return {
      connected: socket.connected,
      active: socket.active,
      transport: engine ? engine.transport.name : null,
      engine: engine ? engine.readyState : null,
    };
  }

  // The args of every `event` this connection received, oldest first.
  function received(name, event) {
    return records[name].events.filter((entry) => entry[0] === event).map((entry) => entry.slice(1));
  }

  return { open, send, emit, disconnect, cut, recovered, state, received, records };
})();
