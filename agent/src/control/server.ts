/**
 * The control API's server end: newline-delimited JSON over a Unix socket. Each line is
 * parsed as a `ControlRequest`, its params with the method's strict schema, and answered
 * with a `ControlResponse`; anything else gets a coded error and the connection (and the
 * daemon) keeps going. A handler that waits on the network answers when it settles (its own
 * requests carry timeouts), so answers on one connection may come out of order, by id.
 * Access control is the file system's: the socket is 0600 inside a 0700 directory owned by
 * the user (node:net does not expose SO_PEERCRED; docs/control-api.md).
 */
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { CandorError } from '@candor/shared/errors';
import { CONTROL_METHODS, ControlRequest, type AgentStatus, type ControlMethod } from '@candor/shared/schemas/control';
import { parseUnknown } from '@candor/shared/validation';
import type { AgentHandlers } from '../daemon/agent.ts';

/** One request line at most this long; a client sending more is cut off. */
export const MAX_LINE_BYTES = 64 * 1024;

export type ControlServer = {
  readonly socketPath: string;
  broadcast(status: AgentStatus, at: number): void;
  close(): Promise<void>;
};

type Connection = { socket: Socket; subscribed: boolean };

function isMethod(name: string): name is ControlMethod {
  return Object.hasOwn(CONTROL_METHODS, name);
}

/**
 * The directory holding the socket must be the user's alone: created 0700, and refused when
 * it exists with wider access or another owner.
 * @throws CandorError `control.unsafe-directory`.
 */
export function ensurePrivateDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = lstatSync(dir);
  const uid = process.getuid?.();
  if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid) || (stat.mode & 0o077) !== 0) {
    throw new CandorError('control.unsafe-directory', `${dir} must be a directory owned by you with mode 0700 (chmod 700 ${dir})`);
  }
}

function isSocketFile(path: string): boolean {
  try {
    return lstatSync(path).isSocket();
  } catch {
    return false;
  }
}

function isListening(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => {
      resolve(false);
    });
  });
}

/** @throws CandorError `daemon.already-running` when an agent answers on `socketPath`. */
export async function assertNoAgentListening(socketPath: string): Promise<void> {
  if (isSocketFile(socketPath) && (await isListening(socketPath))) throw new CandorError('daemon.already-running', `a Candor agent already listens at ${socketPath}`);
}

/**
 * Listens on `socketPath`, replacing a stale socket file left by a crash.
 * @throws CandorError `control.unsafe-directory`, or `daemon.already-running` when another
 * agent answers on that socket.
 */
export async function startControlServer(socketPath: string, handlers: AgentHandlers, log: Logger): Promise<ControlServer> {
  ensurePrivateDirectory(dirname(socketPath));
  await assertNoAgentListening(socketPath);
  if (isSocketFile(socketPath)) unlinkSync(socketPath);

  const connections = new Set<Connection>();
  const server: Server = createServer((socket) => {
    const connection: Connection = { socket, subscribed: false };
    connections.add(connection);
    socket.setEncoding('utf8');
    let buffer = '';
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let newline = buffer.indexOf('\n');
      while (newline !== -1) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        answer(connection, line);
        newline = buffer.indexOf('\n');
      }
      if (Buffer.byteLength(buffer) > MAX_LINE_BYTES) {
        send(socket, { id: null, ok: false, error: { code: 'control.too-long', message: `a request line is limited to ${MAX_LINE_BYTES} bytes` } });
        socket.end();
        buffer = '';
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => connections.delete(connection));
  });

  const send = (socket: Socket, message: unknown): void => {
    if (socket.writable) socket.write(`${JSON.stringify(message)}\n`);
  };

  const answer = (connection: Connection, line: string): void => {
    void answerLine(connection, line);
  };

  const answerLine = async (connection: Connection, line: string): Promise<void> => {
    if (line.trim() === '') return;
    let id: number | null = null;
    try {
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch {
        throw new CandorError('control.not-json', 'each request is one line of JSON');
      }
      const request = parseUnknown(ControlRequest, message, 'request');
      id = request.id;
      if (!isMethod(request.method)) throw new CandorError('control.unknown-method', 'no such method');
      const method = request.method;
      const params = parseUnknown(CONTROL_METHODS[method].params, request.params ?? {}, `${method} params`);
      if (method === 'subscribe') {
        connection.subscribed = true;
        send(connection.socket, { id, ok: true, result: { ok: true } });
        return;
      }
      const handler = handlers[method] as (input: unknown) => unknown;
      send(connection.socket, { id, ok: true, result: await handler(params) });
    } catch (error) {
      if (error instanceof CandorError) {
        send(connection.socket, { id, ok: false, error: { code: error.code, message: error.message.slice(0, 1000) } });
      } else {
        log.error({ err: error instanceof Error ? error.name : 'unknown' }, 'control request failed');
        send(connection.socket, { id, ok: false, error: { code: 'internal', message: 'the agent hit an internal error; see its log' } });
      }
    }
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(socketPath, 0o600);

  return {
    socketPath,
    broadcast(status, at) {
      const event = { event: 'status', status, at: new Date(at).toISOString() };
      for (const connection of connections) if (connection.subscribed) send(connection.socket, event);
    },
    close() {
      for (const connection of connections) connection.socket.destroy();
      return new Promise((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}
