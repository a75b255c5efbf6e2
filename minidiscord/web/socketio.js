// A small Socket.IO v4 client over the browser's WebSocket (Engine.IO 4, WebSocket only).
//
// Semantics follow the reference client where it matters to an application:
// - `connect`, `disconnect(reason)` and `connect_error(err)` are local events; a server
//   event with one of those names is ignored.
// - After a lost transport (close, error, ping timeout) the socket reconnects with
//   exponential backoff and jitter. A DISCONNECT packet from the server, a CONNECT_ERROR
//   (the server refused us) or a call to disconnect() stop it: check `socket.active` in a
//   connect_error handler to tell "will retry" from "refused".
// - Emits while disconnected are not buffered: an ack callback that expects errors gets
//   Error("not connected"), others are dropped. A chat should say "not sent" rather than
//   deliver a stale message minutes later.
// - Acks registered through timeout()/emitWithAck() fail with an Error on timeout or when
//   the connection drops (their ids die with it); plain ack callbacks are then forgotten.
// - Connection state recovery (socket.io >= 4.6): when the CONNECT answer carries a `pid`,
//   the last event argument that is a string is kept as the offset, and a reconnect sends
//   both in its CONNECT auth; `recovered` says whether the server gave the socket back
//   (same id, and the events missed meanwhile follow).

import { BinaryReassembler, EngineType, PacketType, ProtocolError, decodePacketText, encodePacket } from "./sioparser.js";

const MAX_EARLY_EVENTS = 100;
const LOCAL_EVENTS = new Set(["connect", "connect_error", "disconnect", "reconnect_attempt"]);

/** Delay before reconnect attempt `attempt` (0-based): doubling, capped, spread by jitter. */
export function backoffDelay(attempt, { base, max, jitter }, random = Math.random) {
  const exponential = Math.min(max, base * 2 ** Math.min(attempt, 30));
  const spread = exponential * jitter;
  return Math.min(max, Math.max(0, exponential - spread + random() * 2 * spread));
}

function socketUrl(origin, path) {
  const url = new URL(path, origin);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("EIO", "4");
  url.searchParams.set("transport", "websocket");
  return url.href;
}

function byteLength(frame) {
  return typeof frame === "string" ? new TextEncoder().encode(frame).length : frame.byteLength;
}

export class Socket {
  /**
   * @param {string} origin  http(s) origin of the server, e.g. location.origin
   * @param {object} options path, namespace, auth (object or function returning one),
   *   reconnectionDelay, reconnectionDelayMax, randomizationFactor, connectTimeout (ms)
   */
  constructor(origin, options = {}) {
    this.url = socketUrl(origin, options.path ?? "/socket.io/");
    this.nsp = options.namespace ?? "/";
    this.auth = options.auth ?? null;
    this.backoff = {
      base: options.reconnectionDelay ?? 1000,
      max: options.reconnectionDelayMax ?? 5000,
      jitter: options.randomizationFactor ?? 0.5,
    };
    this.connectTimeout = options.connectTimeout ?? 20000;
    this.id = null;
    this.connected = false;
    this.recovered = false;
    this.pid = null;
    this.lastOffset = null;
    this.active = false;
    this.attempts = 0;
    this.listeners = new Map();
    this.ws = null;
    this.pingInterval = 25000;
    this.pingTimeout = 20000;
    this.maxPayload = 1000000;
    this.nextAckId = 0;
    this.acks = new Map();
    this.received = [];
    this.reassembler = new BinaryReassembler();
    this.timers = { ping: null, connect: null, reconnect: null };
  }

  on(event, listener) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(listener);
    return this;
  }

  off(event, listener) {
    this.listeners.get(event)?.delete(listener);
    return this;
  }

  dispatch(event, args) {
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try {
        listener(...args);
      } catch (error) {
        // One broken listener must not break the connection or the other listeners.
        console.error(`listener for ${event} failed`, error);
      }
    }
  }

  /** Start connecting (and keep reconnecting) until disconnect() or a refusal. */
  connect() {
    if (this.active) return this;
    this.active = true;
    this.attempts = 0;
    this.open();
    return this;
  }

  /** Skip the remaining backoff wait, e.g. when the browser comes back online. */
  reconnectNow() {
    if (this.active && this.timers.reconnect !== null) {
      clearTimeout(this.timers.reconnect);
      this.timers.reconnect = null;
      this.open();
    }
  }

  /** Leave for good: tell the server, close the transport, stop reconnecting. */
  disconnect() {
    if (this.connected) this.sendFrames(encodePacket({ type: PacketType.DISCONNECT, nsp: this.nsp }));
    const wasConnected = this.connected;
    this.active = false;
    this.teardown();
    if (wasConnected) this.dispatch("disconnect", ["io client disconnect"]);
    return this;
  }

  emit(event, ...args) {
    let ack = null;
    if (typeof args[args.length - 1] === "function") ack = { fn: args.pop(), withError: false };
    this.send(event, args, ack, null);
    return this;
  }

  /**
   * `socket.timeout(ms).emit(event, ...args, (err, ...ackArgs) => ...)` or
   * `await socket.timeout(ms).emitWithAck(event, ...args)`.
   */
  timeout(ms) {
    return {
      emit: (event, ...args) => {
        const fn = args.pop();
        if (typeof fn !== "function") throw new TypeError("timeout().emit needs an ack callback");
        this.send(event, args, { fn, withError: true }, ms);
        return this;
      },
      emitWithAck: (event, ...args) => this.ackPromise(event, args, ms),
    };
  }

  /** Promise of the ack's first argument; rejects on disconnect (and never times out). */
  emitWithAck(event, ...args) {
    return this.ackPromise(event, args, null);
  }

  ackPromise(event, args, ms) {
    return new Promise((resolve, reject) => {
      const fn = (error, value) => (error ? reject(error) : resolve(value));
      this.send(event, args, { fn, withError: true }, ms);
    });
  }

  send(event, args, ack, timeoutMs) {
    if (LOCAL_EVENTS.has(event)) throw new Error(`"${event}" is a reserved event name`);
    const fail = (message) => {
      if (ack?.withError) queueMicrotask(() => ack.fn(new Error(message)));
    };
    if (!this.connected) return fail("not connected");
    let id;
    if (ack) {
      id = this.nextAckId++;
      const entry = { ...ack, timer: null };
      if (timeoutMs !== null) {
        entry.timer = setTimeout(() => {
          this.acks.delete(id);
          entry.fn(new Error("operation has timed out"));
        }, timeoutMs);
      }
      this.acks.set(id, entry);
    }
    const frames = encodePacket({ type: PacketType.EVENT, nsp: this.nsp, data: [event, ...args], id });
    // The server closes a connection that sends more than maxPayload; refuse locally instead.
    if (frames.some((frame) => byteLength(frame) > this.maxPayload)) {
      if (id !== undefined) {
        clearTimeout(this.acks.get(id).timer);
        this.acks.delete(id);
      }
      return fail("payload too large");
    }
    this.sendFrames(frames);
  }

  sendFrames(frames) {
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    for (const frame of frames) this.ws.send(frame);
  }

  open() {
    this.timers.reconnect = null;
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (error) {
      this.onConnectFailure(error);
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.reassembler = new BinaryReassembler();
    this.timers.connect = setTimeout(() => this.transportLost("connect timeout"), this.connectTimeout);
    ws.onmessage = (message) => {
      if (this.ws !== ws) return;
      try {
        this.onFrame(message.data);
      } catch (error) {
        console.warn("closing the connection:", error);
        this.transportLost(error instanceof ProtocolError ? "parse error" : "transport error");
      }
    };
    ws.onclose = () => {
      if (this.ws === ws) this.transportLost("transport close");
    };
  }

  resetPingTimer() {
    clearTimeout(this.timers.ping);
    this.timers.ping = setTimeout(
      () => this.transportLost("ping timeout"),
      this.pingInterval + this.pingTimeout,
    );
  }

  onFrame(frame) {
    if (typeof frame !== "string") {
      const packet = this.reassembler.add(frame);
      if (packet) this.onPacket(packet);
      return;
    }
    if (this.reassembler.waiting) throw new ProtocolError("text frame inside a binary packet");
    const kind = frame.charAt(0);
    const data = frame.slice(1);
    switch (kind) {
      case EngineType.OPEN: {
        const handshake = JSON.parse(data);
        this.pingInterval = Number(handshake.pingInterval) || this.pingInterval;
        this.pingTimeout = Number(handshake.pingTimeout) || this.pingTimeout;
        this.maxPayload = Number(handshake.maxPayload) || this.maxPayload;
        this.resetPingTimer();
        let auth = typeof this.auth === "function" ? this.auth() : this.auth;
        if (this.pid !== null) auth = { pid: this.pid, offset: this.lastOffset ?? undefined, ...(auth ?? {}) };
        this.sendFrames(encodePacket({ type: PacketType.CONNECT, nsp: this.nsp, data: auth ?? undefined }));
        break;
      }
      case EngineType.PING:
        this.resetPingTimer();
        this.sendFrames([EngineType.PONG + data]);
        break;
      case EngineType.CLOSE:
        this.transportLost("transport close");
        break;
      case EngineType.MESSAGE: {
        const packet = decodePacketText(data);
        if (packet.attachments > 0) this.reassembler.start(packet);
        else this.onPacket(packet);
        break;
      }
      case EngineType.PONG:
      case EngineType.NOOP:
        break;
      default:
        throw new ProtocolError(`unknown Engine.IO packet ${JSON.stringify(kind)}`);
    }
  }

  onPacket(packet) {
    if (packet.nsp !== this.nsp) return;
    switch (packet.type) {
      case PacketType.CONNECT:
        clearTimeout(this.timers.connect);
        this.id = packet.data?.sid ?? null;
        {
          const pid = packet.data?.pid;
          this.recovered = typeof pid === "string" && pid === this.pid;
          this.pid = typeof pid === "string" ? pid : null;
        }
        this.connected = true;
        this.attempts = 0;
        this.dispatch("connect", []);
        for (const early of this.received.splice(0)) {
          if (this.connected) this.onEvent(early);
        }
        break;
      case PacketType.CONNECT_ERROR: {
        const detail = packet.data;
        const error = new Error(typeof detail === "string" ? detail : String(detail?.message ?? "refused"));
        error.data = typeof detail === "object" ? detail.data : undefined;
        this.active = false;
        this.teardown();
        this.dispatch("connect_error", [error]);
        break;
      }
      case PacketType.DISCONNECT: {
        const wasConnected = this.connected;
        this.active = false;
        this.teardown();
        if (wasConnected) this.dispatch("disconnect", ["io server disconnect"]);
        break;
      }
      case PacketType.EVENT:
        // Some servers emit from their connect handler before sending CONNECT; keep
        // those events until the connection is announced, like the reference client.
        if (this.connected) this.onEvent(packet);
        else if (this.received.length < MAX_EARLY_EVENTS) this.received.push(packet);
        else throw new ProtocolError("too many events before CONNECT");
        break;
      case PacketType.ACK: {
        const entry = this.acks.get(packet.id);
        if (!entry) break;
        this.acks.delete(packet.id);
        clearTimeout(entry.timer);
        if (entry.withError) entry.fn(null, ...packet.data);
        else entry.fn(...packet.data);
        break;
      }
      default:
        throw new ProtocolError(`unexpected packet type ${packet.type}`);
    }
  }

  onEvent(packet) {
    const [event, ...args] = packet.data;
    if (LOCAL_EVENTS.has(event)) return;
    // The server appends the offset; like the reference client, the arguments stay as sent.
    if (this.pid !== null && typeof args[args.length - 1] === "string") this.lastOffset = args[args.length - 1];
    if (packet.id !== null) args.push(this.ackResponder(packet.id));
    this.dispatch(event, args);
  }

  ackResponder(id) {
    let sent = false;
    return (...args) => {
      if (sent || !this.connected) return;
      sent = true;
      this.sendFrames(encodePacket({ type: PacketType.ACK, nsp: this.nsp, data: args, id }));
    };
  }

  /** Close the transport and forget everything tied to it; no events. */
  teardown() {
    const ws = this.ws;
    this.ws = null;
    this.connected = false;
    this.id = null;
    this.received = [];
    for (const key of Object.keys(this.timers)) {
      clearTimeout(this.timers[key]);
      this.timers[key] = null;
    }
    if (ws) {
      ws.onmessage = null;
      ws.onclose = null;
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close();
    }
    const pending = [...this.acks.values()];
    this.acks.clear();
    for (const entry of pending) {
      clearTimeout(entry.timer);
      if (entry.withError) entry.fn(new Error("socket has been disconnected"));
    }
  }

  onConnectFailure(error) {
    this.teardown();
    this.dispatch("connect_error", [error]);
    this.scheduleReconnect();
  }

  transportLost(reason) {
    if (!this.active) return;
    const wasConnected = this.connected;
    this.teardown();
    if (wasConnected) this.dispatch("disconnect", [reason]);
    else this.dispatch("connect_error", [new Error(reason)]);
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    // A listener may have called disconnect() or connect() while we were dispatching.
    if (!this.active || this.ws !== null || this.timers.reconnect !== null) return;
    const delay = backoffDelay(this.attempts, this.backoff);
    this.attempts += 1;
    this.dispatch("reconnect_attempt", [this.attempts, delay]);
    this.timers.reconnect = setTimeout(() => this.open(), delay);
  }
}
