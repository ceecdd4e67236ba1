/**
 * The agent's one HTTP client, on node:http and node:https rather than fetch: fetch loads
 * undici and compiles its WebAssembly parser on first use, which cost the always-on daemon
 * about 14 MB of RSS for good and a peak of 20 MB more at its first request (docs/agent.md).
 * It follows no redirect (a 3xx is answered as it is), verifies TLS as node:https does (Node's
 * own certificate authorities, and an organisation's own through NODE_EXTRA_CA_CERTS), reads at most `maxBytes` of an answer (a larger one is refused as it
 * arrives, never buffered whole), and gives up after `timeoutMs` or when `signal` aborts.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export type HttpAnswer = { status: number; text: string };

export type RequestOptions = {
  method: 'GET' | 'POST';
  /** Sent as application/json. */
  body?: string;
  timeoutMs: number;
  maxBytes: number;
  signal?: AbortSignal;
};

/**
 * Why a request failed, by `code`: `timeout`, `aborted`, `too-large`, or the socket's own
 * (`ECONNREFUSED`, a TLS code such as `UNABLE_TO_VERIFY_LEAF_SIGNATURE`…). Never quotes what
 * was sent or received.
 */
export class RequestFailure extends Error {
  readonly code: string;

  constructor(code: string) {
    super(`request failed: ${code}`);
    this.name = 'RequestFailure';
    this.code = code;
  }
}

const codeOf = (error: unknown): string => (error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : 'unknown');

export function request(url: URL, options: RequestOptions): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (code: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      outgoing.destroy();
      reject(new RequestFailure(code));
    };
    const onAbort = (): void => {
      fail('aborted');
    };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const outgoing = send(
      url,
      {
        method: options.method,
        headers: options.body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(options.body) },
      },
      (incoming: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let length = 0;
        incoming.on('data', (chunk: Buffer) => {
          length += chunk.length;
          if (length > options.maxBytes) fail('too-large');
          else chunks.push(chunk);
        });
        incoming.on('error', (error) => {
          fail(codeOf(error));
        });
        incoming.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', onAbort);
          resolve({ status: incoming.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        });
      },
    );
    // Before anything can destroy it: a destroyed request still reports its error.
    outgoing.on('error', (error) => {
      fail(codeOf(error));
    });
    const timer = setTimeout(() => {
      fail('timeout');
    }, options.timeoutMs);
    if (options.signal?.aborted === true) {
      fail('aborted');
      return;
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });
    outgoing.end(options.body);
  });
}
