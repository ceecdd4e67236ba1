/** The agent's HTTP client against real HTTP servers on 127.0.0.1. */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { request, RequestFailure } from './request.ts';

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function serve(listener: RequestListener): Promise<URL> {
  const server = createServer(listener);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return new URL(`http://127.0.0.1:${String((server.address() as AddressInfo).port)}/api`);
}

const options = { method: 'POST' as const, body: '{"a":1}', timeoutMs: 5_000, maxBytes: 1024 };

async function failure(pending: Promise<unknown>): Promise<string> {
  try {
    await pending;
  } catch (error) {
    if (error instanceof RequestFailure) return error.code;
    throw error;
  }
  throw new Error('expected the request to fail');
}

describe('one request', () => {
  it('sends the body as JSON and answers with the status and the text', async () => {
    const received: string[] = [];
    const url = await serve((incoming, response) => {
      let body = '';
      incoming.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      incoming.on('end', () => {
        received.push(`${incoming.method ?? ''} ${incoming.headers['content-type'] ?? ''} ${body}`);
        response.writeHead(201).end('{"ok":true}');
      });
    });
    expect(await request(url, options)).toEqual({ status: 201, text: '{"ok":true}' });
    expect(received).toEqual(['POST application/json {"a":1}']);
  });

  it('follows no redirect: the 3xx is the answer, and the other address is never asked', async () => {
    let elsewhere = 0;
    const other = await serve((_, response) => {
      elsewhere += 1;
      response.end('{}');
    });
    const url = await serve((_, response) => response.writeHead(302, { location: other.href }).end());
    expect((await request(url, options)).status).toBe(302);
    expect(elsewhere).toBe(0);
  });

  it('refuses an answer larger than maxBytes as it arrives', async () => {
    let written = 0;
    const url = await serve((_, response) => {
      response.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const more = (): void => {
        while (written < 64 * 1024 * 1024 && response.write(chunk)) written += chunk.length;
        if (written < 64 * 1024 * 1024) response.once('drain', more);
        else response.end();
      };
      more();
    });
    expect(await failure(request(url, options))).toBe('too-large');
    // The client hung up long before the server had written its 64 MiB.
    expect(written).toBeLessThan(64 * 1024 * 1024);
  });

  it('gives up after timeoutMs, or when its signal aborts', async () => {
    const url = await serve(() => undefined);
    expect(await failure(request(url, { ...options, timeoutMs: 200 }))).toBe('timeout');
    const controller = new AbortController();
    const pending = request(url, { ...options, signal: controller.signal });
    controller.abort();
    expect(await failure(pending)).toBe('aborted');
    expect(await failure(request(url, { ...options, signal: AbortSignal.abort() }))).toBe('aborted');
  });

  it('names a refused connection by its code', async () => {
    // Port 1 on loopback: a privileged port nothing here listens on.
    expect(await failure(request(new URL('http://127.0.0.1:1/api'), options))).toBe('ECONNREFUSED');
  });
});
