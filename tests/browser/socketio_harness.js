// Runs one scenario of the page's Socket.IO client against a scripted fake WebSocket and
// returns what the client did; the Python tests assert on that record. Evaluated by
// Playwright as `async (scenario) => record`.
async (scenario) => {
  const { Socket, backoffDelay } = await import("/web/socketio.js");
  const { encodePacket, decodePacketText } = await import("/web/sioparser.js");

  const created = [];
  class FakeWebSocket {
    static CONNECTING = 0;
    static OPEN = 1;
    static CLOSING = 2;
    static CLOSED = 3;
    constructor(url) {
      this.url = url;
      this.readyState = FakeWebSocket.CONNECTING;
      this.sent = [];
      created.push(this);
    }
    send(data) {
      this.sent.push(data);
    }
    close() {
      this.readyState = FakeWebSocket.CLOSED;
    }
    // The scripted server side.
    accept(handshake = {}) {
      this.readyState = FakeWebSocket.OPEN;
      const open = { sid: "eio", upgrades: [], pingInterval: 25000, pingTimeout: 20000, maxPayload: 100000, ...handshake };
      this.receive("0" + JSON.stringify(open));
    }
    receive(data) {
      this.onmessage?.({ data });
    }
    drop() {
      this.readyState = FakeWebSocket.CLOSED;
      this.onclose?.({ code: 1006 });
    }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  async function until(condition, what, ms = 3000) {
    const end = Date.now() + ms;
    while (!condition()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(5);
    }
  }

  const events = [];
  function track(socket) {
    for (const name of ["connect", "disconnect", "connect_error", "reconnect_attempt"]) {
      socket.on(name, (arg) => events.push([name, arg instanceof Error ? arg.message : (arg ?? null)]));
    }
  }
  function connected(options = {}, handshake = {}) {
    const socket = new Socket("http://127.0.0.1:9", { auth: { username: "ann" }, ...options });
    track(socket);
    socket.connect();
    const ws = created.at(-1);
    ws.accept(handshake);
    ws.receive('40{"sid":"sio-1"}');
    return { socket, ws };
  }

  const realWebSocket = window.WebSocket;
  window.WebSocket = FakeWebSocket;
  try {
    switch (scenario) {
      case "handshake": {
        const socket = new Socket("http://127.0.0.1:9", { auth: () => ({ sessionId: "s-1" }) });
        track(socket);
        socket.connect();
        const ws = created[0];
        ws.accept();
        const beforeConnect = { connected: socket.connected, sent: [...ws.sent] };
        // Events the server emits before its CONNECT are held back until after "connect".
        socket.on("early", (value) => events.push(["early", value]));
        ws.receive('42["early",1]');
        ws.receive('40{"sid":"sio-1"}');
        ws.receive("2");
        return { url: ws.url, beforeConnect, connected: socket.connected, id: socket.id, sent: ws.sent, events };
      }
      case "acks": {
        const { socket, ws } = connected({}, { maxPayload: 200 });
        const results = {};
        socket.timeout(1000).emit("ask", 1, (error, reply) => (results.answered = [error, reply]));
        ws.receive('430[{"ok":true,"id":7}]');
        socket.timeout(20).emit("ask", 2, (error) => (results.timedOut = error?.message));
        socket.emit("plain", "x", (...args) => (results.plain = args));
        ws.receive('432["a","b"]');
        socket.timeout(1000).emit("big", "y".repeat(300), (error) => (results.tooLarge = error?.message));
        socket.on("question", (value, ack) => ack(value + 1));
        ws.receive('425["question",41]');
        await until(() => "timedOut" in results && "tooLarge" in results, "ack timeout");
        const lost = new Promise((resolve) => socket.timeout(5000).emit("lost", (e) => resolve(e?.message)));
        ws.drop();
        results.lost = await lost;
        socket.disconnect();
        return { results, sent: ws.sent };
      }
      case "reconnect": {
        const { socket, ws } = connected({ reconnectionDelay: 10, reconnectionDelayMax: 40 });
        ws.drop();
        await until(() => created.length === 2, "a reconnect attempt");
        created[1].drop(); // the server is still down
        await until(() => created.length === 3, "a second attempt");
        created[2].accept();
        created[2].receive('40{"sid":"sio-2"}');
        const afterReconnect = { connected: socket.connected, id: socket.id, auth: created[2].sent[0] };
        socket.disconnect();
        await sleep(100);
        return { events, afterReconnect, sockets: created.length, lastSent: created[2].sent.at(-1), active: socket.active };
      }
      case "recovery": {
        const socket = new Socket("http://127.0.0.1:9", { auth: { username: "ann" }, reconnectionDelay: 10, reconnectionDelayMax: 20 });
        track(socket);
        const got = [];
        socket.on("news", (...args) => got.push(args));
        socket.connect();
        created[0].accept();
        created[0].receive('40{"sid":"sio-1","pid":"p-1"}');
        created[0].receive('42["news",1,"o-1"]');
        created[0].receive('42["news",2,"o-2"]');
        const first = { recovered: socket.recovered, offset: socket.lastOffset };
        created[0].drop();
        await until(() => created.length === 2, "a reconnect attempt");
        created[1].accept();
        const recovering = created[1].sent[0];
        created[1].receive('40{"sid":"sio-1","pid":"p-1"}');
        created[1].receive('42["news",3,"o-3"]');
        const second = { recovered: socket.recovered, id: socket.id, offset: socket.lastOffset };
        created[1].drop();
        await until(() => created.length === 3, "another attempt");
        created[2].accept();
        // The session expired: a new socket and pid.
        created[2].receive('40{"sid":"sio-2","pid":"p-2"}');
        const third = { recovered: socket.recovered, id: socket.id, auth: created[2].sent[0] };
        socket.disconnect();
        return { first, recovering, second, third, got };
      }
      case "ping-timeout": {
        const { socket, ws } = connected({ reconnectionDelay: 5000 }, { pingInterval: 30, pingTimeout: 30 });
        await until(() => !socket.connected, "the dead server to be noticed");
        const record = { events: [...events], active: socket.active, closed: ws.readyState === FakeWebSocket.CLOSED };
        socket.disconnect();
        return record;
      }
      case "server-disconnect": {
        const { socket, ws } = connected({ reconnectionDelay: 10 });
        ws.receive("41");
        await sleep(100);
        return { events, active: socket.active, sockets: created.length };
      }
      case "refused": {
        const socket = new Socket("http://127.0.0.1:9", { auth: { username: "" }, reconnectionDelay: 10 });
        track(socket);
        socket.connect();
        created[0].accept();
        created[0].receive('44{"message":"username is reserved"}');
        await sleep(100);
        return { events, active: socket.active, sockets: created.length };
      }
      case "malformed": {
        const { socket, ws } = connected({ reconnectionDelay: 5000 });
        ws.receive("42not json");
        const record = { events: [...events], connected: socket.connected, active: socket.active };
        socket.disconnect();
        return record;
      }
      case "binary": {
        const { socket, ws } = connected();
        let received = null;
        socket.on("file", (name, data) => (received = [name, Array.from(new Uint8Array(data))]));
        ws.receive('451-["file","a.bin",{"_placeholder":true,"num":0}]');
        const beforeAttachment = received;
        ws.receive(new Uint8Array([1, 2, 3]).buffer);
        socket.emit("upload", new Uint8Array([9, 8]));
        const frames = ws.sent.slice(-2).map((f) => (typeof f === "string" ? f : Array.from(f)));
        socket.disconnect();
        return { beforeAttachment, received, frames };
      }
      case "codec": {
        const decoded = [
          decodePacketText('2["message:channel","general",{"id":1}]'),
          decodePacketText('3/admin,12[{"ok":true}]'),
          decodePacketText('4{"message":"nope"}'),
        ];
        const errors = [];
        for (const bad of ["", "9", "2{", '2[1]', "2/chat", "51-[\"x\"]x", "0[]", "1{}"]) {
          try {
            decodePacketText(bad);
            errors.push([bad, null]);
          } catch (error) {
            errors.push([bad, error.name]);
          }
        }
        const encoded = [
          encodePacket({ type: 0, data: { sessionId: "s" } }),
          encodePacket({ type: 2, nsp: "/admin", data: ["e", "x"], id: 5 }),
          encodePacket({ type: 1 }),
        ];
        const delays = [0, 1, 2, 3, 10, 50].map((attempt) => [
          backoffDelay(attempt, { base: 1000, max: 5000, jitter: 0.5 }, () => 0),
          backoffDelay(attempt, { base: 1000, max: 5000, jitter: 0.5 }, () => 0.999999),
        ]);
        return { decoded, errors, encoded, delays };
      }
      default:
        throw new Error(`unknown scenario ${scenario}`);
    }
  } finally {
    window.WebSocket = realWebSocket;
  }
};
