/**
 * The one client of the agent's control API, used by the `candor` CLI and the tray app.
 * Typed from CONTROL_METHODS, so a call of the wrong shape does not compile, and every
 * answer is parsed before use: the daemon is another process, not a trusted caller.
 */
import { createConnection, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { CandorError } from '@candor/shared/errors';
import {
  CONTROL_METHODS,
  ControlEvent,
  ControlResponse,
  NETWORK_ANSWER_MS,
  NETWORK_METHODS,
  type ControlMethod,
  type ControlParams,
  type ControlResult,
} from '@candor/shared/schemas/control';
import { parseUnknown } from '@candor/shared/validation';
import type { z } from 'zod';

export type ControlEventMessage = z.infer<typeof ControlEvent>;

/** Where the daemon listens; `daemon unreachable` errors name it so a person can check. */
export type ControlClientOptions = { socketPath: string; timeoutMs?: number };

/**
 * Errors a client can meet: `agent.unreachable` (no daemon on that socket), `agent.timeout`,
 * `agent.protocol` (an answer that is not the contract), or the daemon's own coded error.
 */
export class ControlClient {
  readonly #socket: Socket;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  readonly #listeners = new Set<(event: ControlEventMessage) => void>();
  readonly #timeoutMs: number;
  #nextId = 1;
  #closed: Error | undefined;

  private constructor(socket: Socket, timeoutMs: number) {
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    createInterface({ input: socket }).on('line', (line) => {
      this.#receive(line);
    });
    socket.on('close', () => {
      this.#failAll(new CandorError('agent.unreachable', 'the agent closed the connection'));
    });
  }

  /** @throws CandorError `agent.unreachable` when no daemon listens on `socketPath`. */
  static connect({ socketPath, timeoutMs = 10_000 }: ControlClientOptions): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(socketPath);
      socket.once('connect', () => {
        socket.removeAllListeners('error');
        socket.on('error', () => undefined);
        resolve(new ControlClient(socket, timeoutMs));
      });
      socket.once('error', () => {
        reject(new CandorError('agent.unreachable', `no Candor agent is listening at ${socketPath} (start it with: candor daemon)`));
      });
    });
  }

  /**
   * Calls one method; resolves with its parsed result or rejects with a CandorError. Methods
   * that wait on the server get at least NETWORK_ANSWER_MS.
   */
  call<M extends ControlMethod>(method: M, params: ControlParams<M>): Promise<ControlResult<M>> {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = this.#nextId++;
    const timeoutMs = NETWORK_METHODS.has(method) ? Math.max(this.#timeoutMs, NETWORK_ANSWER_MS) : this.#timeoutMs;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new CandorError('agent.timeout', `the agent did not answer ${method} in time`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#socket.write(`${JSON.stringify({ id, method, params })}\n`);
    }).then((result) => parseUnknown(CONTROL_METHODS[method].result, result, `${method} result`) as ControlResult<M>);
  }

  /** Receives status events pushed by the daemon; returns a function that unsubscribes. */
  onEvent(listener: (event: ControlEventMessage) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#socket.end();
    this.#failAll(new CandorError('agent.unreachable', 'the connection to the agent is closed'));
  }

  #receive(line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      this.#failAll(new CandorError('agent.protocol', 'the agent sent a line that is not JSON'));
      return;
    }
    if (typeof message === 'object' && message !== null && 'event' in message) {
      const event = ControlEvent.safeParse(message);
      if (event.success) for (const listener of this.#listeners) listener(event.data);
      return;
    }
    const response = ControlResponse.safeParse(message);
    if (!response.success) {
      this.#failAll(new CandorError('agent.protocol', 'the agent sent an answer outside the control contract'));
      return;
    }
    const { id } = response.data;
    const pending = id === null ? undefined : this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(response.data.id ?? -1);
    clearTimeout(pending.timer);
    if (response.data.ok) pending.resolve(response.data.result);
    else pending.reject(new CandorError(response.data.error.code, response.data.error.message));
  }

  #failAll(error: Error): void {
    this.#closed ??= error;
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.#pending.clear();
  }
}
