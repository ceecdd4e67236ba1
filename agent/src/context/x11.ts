/**
 * Just enough of the X11 protocol to ask which window has the keyboard, over one long-lived
 * connection: GetInputFocus, QueryTree, GetProperty, InternAtom. A lookup is a few round trips
 * on a Unix socket (well under a millisecond) instead of two child processes per batch, and
 * an X server going away is an error value here, not Xlib's exit(). Local displays only.
 */
import { readFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { createConnection, type Socket } from 'node:net';

export type XScreen = { root: number; width: number; height: number };

export type XConnection = {
  readonly screen: XScreen;
  /** Sends one request; resolves with its reply, or null for an X error, timeout or lost server. */
  request(bytes: Uint8Array): Promise<Buffer | null>;
  /** True once the server is gone or the connection was closed. */
  readonly closed: boolean;
  close(): void;
};

const REQUEST_TIMEOUT_MS = 2000;
const pad4 = (n: number): number => (4 - (n % 4)) % 4;

/** `:0`, `:1.0`, `unix:2` → display number; null for a remote display (`host:0`). */
export function localDisplayNumber(display: string): number | null {
  const match = /^(?:unix)?:(\d+)(?:\.\d+)?$/.exec(display);
  return match ? Number(match[1]) : null;
}

type AuthEntry = { family: number; address: string; number: string; name: string; data: Buffer };

/** Entries of an Xauthority file (all fields big-endian length-prefixed). */
export function parseXauthority(bytes: Buffer): AuthEntry[] {
  const entries: AuthEntry[] = [];
  let offset = 0;
  const field = (): Buffer | null => {
    if (offset + 2 > bytes.length) return null;
    const length = bytes.readUInt16BE(offset);
    if (offset + 2 + length > bytes.length) return null;
    const value = bytes.subarray(offset + 2, offset + 2 + length);
    offset += 2 + length;
    return value;
  };
  while (offset + 2 <= bytes.length) {
    const family = bytes.readUInt16BE(offset);
    offset += 2;
    const [address, number, name, data] = [field(), field(), field(), field()];
    if (!address || !number || !name || !data) break;
    entries.push({ family, address: address.toString('latin1'), number: number.toString('latin1'), name: name.toString('latin1'), data: Buffer.from(data) });
  }
  return entries;
}

const FAMILY_LOCAL = 256;
const FAMILY_WILD = 65535;
const COOKIE = 'MIT-MAGIC-COOKIE-1';

function cookieFor(displayNumber: number, env: NodeJS.ProcessEnv): Buffer | null {
  let bytes: Buffer;
  try {
    bytes = readFileSync(env.XAUTHORITY !== undefined && env.XAUTHORITY !== '' ? env.XAUTHORITY : join(env.HOME ?? homedir(), '.Xauthority'));
  } catch {
    return null;
  }
  const host = hostname();
  const entry = parseXauthority(bytes).find(
    (candidate) =>
      candidate.name === COOKIE &&
      (candidate.family === FAMILY_WILD || (candidate.family === FAMILY_LOCAL && candidate.address === host)) &&
      (candidate.number === '' || candidate.number === String(displayNumber)),
  );
  return entry?.data ?? null;
}

function setupRequest(cookie: Buffer | null): Buffer {
  const name = cookie ? Buffer.from(COOKIE, 'latin1') : Buffer.alloc(0);
  const data = cookie ?? Buffer.alloc(0);
  const header = Buffer.alloc(12);
  header.writeUInt8(0x6c, 0); // 'l': little-endian
  header.writeUInt16LE(11, 2);
  header.writeUInt16LE(0, 4);
  header.writeUInt16LE(name.length, 6);
  header.writeUInt16LE(data.length, 8);
  return Buffer.concat([header, name, Buffer.alloc(pad4(name.length)), data, Buffer.alloc(pad4(data.length))]);
}

function firstScreen(reply: Buffer): XScreen {
  const vendorLength = reply.readUInt16LE(24);
  const formats = reply.readUInt8(29);
  const screen = 40 + vendorLength + pad4(vendorLength) + 8 * formats;
  return { root: reply.readUInt32LE(screen), width: reply.readUInt16LE(screen + 20), height: reply.readUInt16LE(screen + 22) };
}

/**
 * Connects to a local X display.
 * @throws Error when the display is not local, cannot be reached, or refuses the connection.
 */
export function connectX11(display: string, env: NodeJS.ProcessEnv): Promise<XConnection> {
  const number = localDisplayNumber(display);
  if (number === null) return Promise.reject(new Error('only a local X display is supported'));
  return new Promise((resolve, reject) => {
    const socket: Socket = createConnection(`/tmp/.X11-unix/X${number}`);
    let buffer = Buffer.alloc(0);
    let screen: XScreen | null = null;
    let sequence = 0;
    const pending = new Map<number, (reply: Buffer | null) => void>();
    const failAll = (): void => {
      for (const settle of pending.values()) settle(null);
      pending.clear();
    };
    socket.once('error', (error) => {
      failAll();
      if (!screen) reject(error);
    });
    socket.on('close', failAll);
    socket.once('connect', () => socket.write(setupRequest(cookieFor(number, env))));
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!screen) {
        if (buffer.length < 8) return;
        const total = 8 + 4 * buffer.readUInt16LE(6);
        if (buffer.length < total) return;
        const reply = buffer.subarray(0, total);
        buffer = buffer.subarray(total);
        if (reply[0] !== 1) {
          socket.destroy();
          reject(new Error('the X server refused the connection (authorization)'));
          return;
        }
        screen = firstScreen(reply);
        const connected = screen;
        resolve({
          screen: connected,
          request(bytes) {
            if (socket.destroyed) return Promise.resolve(null);
            sequence = (sequence + 1) & 0xffff;
            const mine = sequence;
            return new Promise((settle) => {
              const timer = setTimeout(() => {
                pending.delete(mine);
                settle(null);
              }, REQUEST_TIMEOUT_MS);
              pending.set(mine, (reply) => {
                clearTimeout(timer);
                settle(reply);
              });
              socket.write(bytes);
            });
          },
          get closed() {
            return socket.destroyed;
          },
          close() {
            socket.destroy();
          },
        });
      }
      while (buffer.length >= 32) {
        const kind = buffer.readUInt8(0);
        const total = kind === 1 ? 32 + 4 * buffer.readUInt32LE(4) : 32;
        if (buffer.length < total) return;
        const message = buffer.subarray(0, total);
        buffer = buffer.subarray(total);
        if (kind > 1) continue; // an event: none is selected, but ignore any that come
        const settle = pending.get(message.readUInt16LE(2));
        pending.delete(message.readUInt16LE(2));
        settle?.(kind === 1 ? Buffer.from(message) : null);
      }
    });
  });
}

// Requests, little-endian. Lengths are in 4-byte units, header included.

export function getInputFocus(): Buffer {
  return Buffer.from([43, 0, 1, 0]);
}

/** A request whose only argument is one window (or drawable) id: 8 bytes, length 2. */
function windowRequest(opcode: number, window: number): Buffer {
  const request = Buffer.alloc(8);
  request.writeUInt8(opcode, 0);
  request.writeUInt16LE(2, 2);
  request.writeUInt32LE(window, 4);
  return request;
}

export const queryTree = (window: number): Buffer => windowRequest(15, window);
export const getWindowAttributes = (window: number): Buffer => windowRequest(3, window);
export const getGeometry = (drawable: number): Buffer => windowRequest(14, drawable);

/** A QueryTree reply's children, bottom of the stacking order first. */
export function childrenOf(reply: Buffer): number[] {
  const count = reply.readUInt16LE(16);
  return Array.from({ length: count }, (_, index) => reply.readUInt32LE(32 + 4 * index));
}

export function getProperty(window: number, property: number, maxBytes = 4096): Buffer {
  const request = Buffer.alloc(24);
  request.writeUInt8(20, 0);
  request.writeUInt16LE(6, 2);
  request.writeUInt32LE(window, 4);
  request.writeUInt32LE(property, 8);
  request.writeUInt32LE(0, 12); // AnyPropertyType
  request.writeUInt32LE(0, 16);
  request.writeUInt32LE(Math.ceil(maxBytes / 4), 20);
  return request;
}

export function internAtom(name: string): Buffer {
  const bytes = Buffer.from(name, 'latin1');
  const request = Buffer.alloc(8 + bytes.length + pad4(bytes.length));
  request.writeUInt8(16, 0);
  request.writeUInt8(0, 1);
  request.writeUInt16LE(request.length / 4, 2);
  request.writeUInt16LE(bytes.length, 4);
  bytes.copy(request, 8);
  return request;
}

/** A GetProperty reply's value bytes (format 8 only), or null when the property is absent. */
export function propertyBytes(reply: Buffer | null): Buffer | null {
  if (!reply || reply.readUInt32LE(8) === 0 || reply.readUInt8(1) !== 8) return null;
  return reply.subarray(32, 32 + reply.readUInt32LE(16));
}
