/**
 * A contract double of the server's ingest and erasure routes (shared/src/schemas/ingest.ts),
 * for agent tests while the real server is being built. It is a real HTTP server on
 * 127.0.0.1 that does what the contract promises: strict parsing, a 256 KiB body limit,
 * signatures checked with verifyEnvelope against registered device keys, idempotence on the
 * batch id (201 stored / 200 duplicate), signed erasure acknowledgements. Given the study key
 * it also opens each envelope, as the aggregator would, so tests can see what arrived.
 * It can be told to fail (503, 429, 400), to go down (connections dropped) or to hang (a
 * request is read and never answered; it is listed in `requests` with status 0).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  fromBase64Url,
  keyIdOf,
  openEnvelope,
  sign,
  toBase64Url,
  verifyEnvelope,
  verifySignature,
  type SealingKeyPair,
  type SigningKeyPair,
} from '@candor/shared/crypto';
import { PRIVACY_LIMITS } from '@candor/shared/defaults';
import { fromUtf8 } from '@candor/shared/encoding';
import { SealedEnvelope, UploadBatch, type EnvelopeHeader } from '@candor/shared/schemas/envelope';
import { SignedErasureRequest, type SignedErasureAck } from '@candor/shared/schemas/ingest';
import type { WindowAggregate } from '@candor/shared/schemas/window';
import { parseUnknown } from '@candor/shared/validation';
import { erasureAckSigningBytes, erasureRequestSigningBytes } from '@candor/shared/erasure';

export type ContractMode = 'ok' | 'unavailable' | 'rate-limited' | 'reject' | 'no-consent' | 'conflict' | 'unreadable' | 'down' | 'hang';

export type ReceivedBatch = { header: EnvelopeHeader; body: string; windows: WindowAggregate[] | null };

export type IngestContractServer = {
  readonly url: string;
  /** Batches stored, once each, in arrival order. */
  readonly received: ReceivedBatch[];
  readonly erasures: SignedErasureRequest[];
  /** Every request that reached a route, including refused and duplicate ones. */
  readonly requests: { path: string; status: number }[];
  registerDevice(publicKey: Uint8Array): void;
  setMode(mode: ContractMode): void;
  /**
   * Called after a batch is stored and before the answer is written; returning 'drop-answer'
   * closes the connection instead, as if the network failed just then.
   */
  onStored(hook: StoredHook | null): void;
  /** From now on, refuses envelopes not sealed to `next` (\`ingest.wrong-recipient\`), as the server does after a rotation. */
  rotateStudyKey(next: SealingKeyPair): void;
  close(): Promise<void>;
};

export type StoredHook = (batchId: string) => 'drop-answer' | undefined;

export type ContractServerOptions = { serverKey: SigningKeyPair; studyKey?: SealingKeyPair };

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function error(response: ServerResponse, status: number, code: string, message: string): number {
  send(response, status, { error: { code, message } });
  return status;
}

async function readBody(request: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > PRIVACY_LIMITS.maxUploadBodyBytes) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts the double on 127.0.0.1 at a port the OS picks. */
export async function startIngestContractServer(options: ContractServerOptions): Promise<IngestContractServer> {
  const devices = new Map<string, Uint8Array>();
  const received: ReceivedBatch[] = [];
  const byBatchId = new Set<string>();
  const erasures: SignedErasureRequest[] = [];
  const requests: { path: string; status: number }[] = [];
  const sockets = new Set<Socket>();
  let mode: ContractMode = 'ok';
  let storedHook: StoredHook | null = null;
  let studyKey = options.studyKey;

  const ingest = (text: string, response: ServerResponse): number => {
    let envelope: SealedEnvelope;
    try {
      envelope = parseUnknown(SealedEnvelope, JSON.parse(text), 'envelope');
    } catch {
      return error(response, 400, 'ingest.malformed', 'not a sealed envelope');
    }
    const device = devices.get(envelope.header.senderKeyId);
    if (!device) return error(response, 401, 'ingest.unknown-device', 'this device is not registered');
    try {
      verifyEnvelope(envelope, device);
    } catch {
      return error(response, 401, 'ingest.bad-signature', 'the envelope signature does not verify');
    }
    const { batchId } = envelope.header;
    if (byBatchId.has(batchId)) {
      send(response, 200, { batchId, status: 'duplicate' });
      return 200;
    }
    let windows: WindowAggregate[] | null = null;
    if (studyKey) {
      if (envelope.header.recipientKeyId !== studyKey.keyId) return error(response, 400, 'ingest.wrong-recipient', "the envelope is not sealed to the study's current key");
      try {
        const batch = parseUnknown(UploadBatch, JSON.parse(fromUtf8(openEnvelope(envelope, device, studyKey))), 'batch');
        if (batch.batchId !== batchId) return error(response, 400, 'ingest.batch-mismatch', 'the sealed batch id differs from the header');
        windows = batch.windows;
      } catch {
        return error(response, 400, 'ingest.unreadable', 'the batch does not open or does not parse');
      }
    }
    byBatchId.add(batchId);
    received.push({ header: envelope.header, body: text, windows });
    if (storedHook?.(batchId) === 'drop-answer') {
      response.socket?.destroy();
      return 0;
    }
    send(response, 201, { batchId, status: 'stored' });
    return 201;
  };

  const erase = (text: string, response: ServerResponse): number => {
    let signed: SignedErasureRequest;
    try {
      signed = parseUnknown(SignedErasureRequest, JSON.parse(text), 'erasure request');
    } catch {
      return error(response, 400, 'erasure.malformed', 'not an erasure request');
    }
    const device = devices.get(signed.request.deviceKeyId);
    if (!device || !verifySignature(fromBase64Url(signed.signature), erasureRequestSigningBytes(signed.request), device)) {
      return error(response, 401, 'erasure.bad-signature', 'the request is not signed by a registered device');
    }
    erasures.push(signed);
    const ack: SignedErasureAck['ack'] = {
      requestId: signed.request.requestId,
      studyId: signed.request.studyId,
      deviceKeyId: signed.request.deviceKeyId,
      erasedAt: new Date().toISOString(),
      serverKeyId: options.serverKey.keyId,
    };
    send(response, 200, { ack, signature: toBase64Url(sign(erasureAckSigningBytes(ack), options.serverKey.secretKey)) });
    return 200;
  };

  const server = createServer((request, response) => {
    void (async () => {
      const path = request.url ?? '';
      if (mode === 'down') {
        request.socket.destroy();
        return;
      }
      const text = await readBody(request);
      if (mode === 'hang') {
        requests.push({ path, status: 0 });
        return;
      }
      let status: number;
      if (request.method !== 'POST' || (path !== '/api/v1/ingest' && path !== '/api/v1/erasure')) {
        status = error(response, 404, 'not-found', 'no such route');
      } else if (text === null) {
        status = error(response, 413, 'body-too-large', 'the body exceeds 256 KiB');
      } else if (mode === 'unavailable') {
        status = error(response, 503, 'unavailable', 'try again later');
      } else if (mode === 'rate-limited') {
        status = error(response, 429, 'rate-limited', 'slow down');
      } else if (mode === 'reject') {
        status = error(response, 400, 'rejected', 'refused by the test');
      } else if (mode === 'no-consent' && path === '/api/v1/ingest') {
        status = error(response, 403, 'ingest.no-consent', 'no active consent for this study version');
      } else if (mode === 'unreadable') {
        status = error(response, 400, 'validation', 'invalid envelope: header.v: invalid input');
      } else if (mode === 'conflict') {
        status = error(response, 409, 'ingest.batch-conflict', 'this batch id is held for another device');
      } else {
        status = path === '/api/v1/ingest' ? ingest(text, response) : erase(text, response);
      }
      requests.push({ path, status });
    })();
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${String(port)}`,
    received,
    erasures,
    requests,
    registerDevice: (publicKey) => {
      devices.set(keyIdOf(publicKey), publicKey);
    },
    setMode: (next) => {
      mode = next;
    },
    onStored: (hook) => {
      storedHook = hook;
    },
    rotateStudyKey: (next) => {
      studyKey = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}
