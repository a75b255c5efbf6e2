// Socket.IO protocol 5 packets over Engine.IO 4 frames: pure encode/decode, no I/O.
//
// A Socket.IO packet travels in an Engine.IO MESSAGE ("4..."), so on the wire an event is
// `42["name",arg]`, with an optional binary count (`451-`), namespace (`/chat,`) and ack
// id (`4213[...]`) between the type digit and the JSON. Binary arguments are replaced by
// {_placeholder: true, num: i} and sent as the following binary WebSocket frames.

export const EngineType = Object.freeze({
  OPEN: "0", CLOSE: "1", PING: "2", PONG: "3", MESSAGE: "4", UPGRADE: "5", NOOP: "6",
});

export const PacketType = Object.freeze({
  CONNECT: 0, DISCONNECT: 1, EVENT: 2, ACK: 3, CONNECT_ERROR: 4, BINARY_EVENT: 5, BINARY_ACK: 6,
});

export class ProtocolError extends Error {
  constructor(message) {
    super(message);
    this.name = "ProtocolError";
  }
}

function isBinary(value) {
  return value instanceof ArrayBuffer || ArrayBuffer.isView(value);
}

function hasBinary(value, depth = 0) {
  if (depth > 64 || value === null || typeof value !== "object") return false;
  if (isBinary(value)) return true;
  const children = Array.isArray(value) ? value : Object.values(value);
  return children.some((child) => hasBinary(child, depth + 1));
}

function extractBinary(value, buffers) {
  if (isBinary(value)) {
    buffers.push(value);
    return { _placeholder: true, num: buffers.length - 1 };
  }
  if (Array.isArray(value)) return value.map((item) => extractBinary(item, buffers));
  if (value !== null && typeof value === "object" && typeof value.toJSON !== "function") {
    const copy = {};
    for (const [key, item] of Object.entries(value)) copy[key] = extractBinary(item, buffers);
    return copy;
  }
  return value;
}

function insertBinary(value, buffers) {
  if (Array.isArray(value)) return value.map((item) => insertBinary(item, buffers));
  if (value !== null && typeof value === "object") {
    if (value._placeholder === true && Number.isInteger(value.num)) {
      if (value.num < 0 || value.num >= buffers.length) {
        throw new ProtocolError("binary placeholder out of range");
      }
      return buffers[value.num];
    }
    const copy = {};
    for (const [key, item] of Object.entries(value)) copy[key] = insertBinary(item, buffers);
    return copy;
  }
  return value;
}

/**
 * Encode a packet {type, nsp, data?, id?} into WebSocket frames: the first is the text
 * Engine.IO MESSAGE, any further ones are its binary attachments.
 */
export function encodePacket({ type, nsp = "/", data, id }) {
  const buffers = [];
  let wireType = type;
  let payload = data;
  if ((type === PacketType.EVENT || type === PacketType.ACK) && hasBinary(data)) {
    wireType = type === PacketType.EVENT ? PacketType.BINARY_EVENT : PacketType.BINARY_ACK;
    payload = extractBinary(data, buffers);
  }
  let text = EngineType.MESSAGE + String(wireType);
  if (buffers.length > 0) text += `${buffers.length}-`;
  if (nsp !== "/") text += `${nsp},`;
  if (id !== undefined && id !== null) text += String(id);
  if (payload !== undefined) text += JSON.stringify(payload);
  return [text, ...buffers];
}

function validPayload(type, data) {
  switch (type) {
    case PacketType.CONNECT:
      return data === undefined || (data !== null && typeof data === "object" && !Array.isArray(data));
    case PacketType.DISCONNECT:
      return data === undefined;
    case PacketType.CONNECT_ERROR:
      return typeof data === "string" || (data !== null && typeof data === "object");
    case PacketType.EVENT:
    case PacketType.BINARY_EVENT:
      return Array.isArray(data) && data.length > 0 && typeof data[0] === "string";
    case PacketType.ACK:
    case PacketType.BINARY_ACK:
      return Array.isArray(data);
    default:
      return false;
  }
}

/**
 * Decode the text of a Socket.IO packet (the Engine.IO MESSAGE data, without its "4").
 * Returns {type, nsp, id, data, attachments}; throws ProtocolError on malformed input.
 */
export function decodePacketText(text) {
  let i = 0;
  const type = Number(text.charAt(i));
  if (!Number.isInteger(type) || type < 0 || type > 6 || text.length === 0) {
    throw new ProtocolError(`unknown packet type in ${JSON.stringify(text.slice(0, 20))}`);
  }
  i += 1;
  let attachments = 0;
  if (type === PacketType.BINARY_EVENT || type === PacketType.BINARY_ACK) {
    const dash = text.indexOf("-", i);
    const count = text.slice(i, dash);
    if (dash < 0 || !/^\d{1,4}$/.test(count)) throw new ProtocolError("bad attachment count");
    attachments = Number(count);
    i = dash + 1;
  }
  let nsp = "/";
  if (text.charAt(i) === "/") {
    const comma = text.indexOf(",", i);
    const end = comma < 0 ? text.length : comma;
    nsp = text.slice(i, end);
    i = comma < 0 ? text.length : comma + 1;
  }
  let id = null;
  const digits = /^\d{1,15}/.exec(text.slice(i));
  if (digits) {
    id = Number(digits[0]);
    i += digits[0].length;
  }
  let data;
  if (i < text.length) {
    try {
      data = JSON.parse(text.slice(i));
    } catch {
      throw new ProtocolError("packet payload is not JSON");
    }
  }
  if (!validPayload(type, data)) throw new ProtocolError(`invalid payload for packet type ${type}`);
  return { type, nsp, id, data, attachments };
}

/**
 * Collects the binary frames that follow a BINARY_EVENT/BINARY_ACK header and yields the
 * finished packet once all have arrived.
 */
export class BinaryReassembler {
  constructor() {
    this.pending = null;
    this.buffers = [];
  }

  get waiting() {
    return this.pending !== null;
  }

  start(packet) {
    this.pending = packet;
    this.buffers = [];
  }

  /** Add one binary frame; returns the completed packet or null while more are due. */
  add(buffer) {
    if (this.pending === null) throw new ProtocolError("unexpected binary frame");
    this.buffers.push(buffer);
    if (this.buffers.length < this.pending.attachments) return null;
    const packet = this.pending;
    const data = insertBinary(packet.data, this.buffers);
    this.pending = null;
    this.buffers = [];
    return { ...packet, type: packet.type === PacketType.BINARY_EVENT ? PacketType.EVENT : PacketType.ACK, data };
  }
}
