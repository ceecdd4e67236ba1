/**
 * The uploader: due windows → UploadBatch → envelope signed with the study's device key and
 * sealed to the study key → POST /api/v1/ingest. The store is its durable outbox: a batch is
 * persisted before its first attempt and deleted only after the server confirms it, so a kill
 * at any point retries the same batch id (the server keeps it once). It also delivers the
 * signed erasure requests that withdrawal queues, until a verified acknowledgement arrives.
 */
import { pino, type Logger } from 'pino';
import { sealEnvelope, wipe, keyIdOf } from '@candor/shared/crypto';
import { PRIVACY_LIMITS } from '@candor/shared/defaults';
import { utf8 } from '@candor/shared/encoding';
import { InvariantError } from '@candor/shared/errors';
import { API_PATHS, ApiError, IngestAccepted, SignedErasureAck } from '@candor/shared/schemas/ingest';
import { parseUnknown } from '@candor/shared/validation';
import { request } from '../net/request.ts';
import type { LocalStore, PendingErasure, PreparedBatch } from '../store/store.ts';
import { retryDelayMs } from './backoff.ts';
import { verifyErasureAck } from '@candor/shared/erasure';

export type UploaderOptions = {
  store: LocalStore;
  /** The server's origin, e.g. `https://candor.example.org`. */
  serverUrl: string;
  /** The study's X25519 public key (from enrollment); undefined holds its windows back. */
  studyKey: (studyId: string) => Uint8Array | undefined;
  /** The server's Ed25519 key that signs erasure acknowledgements. */
  serverPublicKey: Uint8Array;
  /** The consent gate: false (expired, revoked, new version) stops that study's uploads at once. */
  mayUpload: (studyId: string) => boolean;
  /** The server refused a batch as sealed to a study key it has rotated away from: learn the current one. */
  onStaleStudyKey?: (studyId: string) => void;
  /** A background pass sent, dropped, deferred or confirmed something: what the status shows may have changed. */
  onPass?: (report: UploadReport) => void;
  now?: () => number;
  random?: () => number;
  logger?: Logger;
  requestTimeoutMs?: number;
};

export type UploadReport = {
  batchesSent: number;
  windowsSent: number;
  batchesRejected: number;
  batchesDeferred: number;
  erasuresAcknowledged: number;
};

type Outcome = 'sent' | 'rejected' | 'deferred' | 'halted';

/**
 * The server's refusals of one batch that no retry can change: the batch is dropped and
 * counted (`dropped.rejected`): a batch id held for another device, a body too large, an
 * envelope the server cannot read (`validation`: the same bytes would be refused again, and
 * kept they would hold back every newer window of the study). Every other refusal — no consent the server knows of, a study
 * not open, a device it does not know, a proxy's 404 — says the server takes no uploads from
 * this device now, whatever the batch: the batch is kept and retried with backoff, the
 * participant is told, and the store's age limit is the last word.
 */
const FINAL_REFUSALS: ReadonlySet<string> = new Set(['ingest.batch-conflict', 'request.too-large', 'validation']);

/** The server's refusal of this device's uploads, in words for the participant. */
export type UploadRefusal = { studyId: string; reason: string; since: number };

const REFUSAL_REASONS: Readonly<Record<string, string>> = {
  'ingest.no-consent': 'it holds no active consent from this device for this study version',
  'ingest.study-not-open': 'the study is not open for uploads',
  'ingest.unknown-device': 'it does not know this device',
  'ingest.bad-signature': "it cannot verify this device's signature",
};

/** An answer to an upload or an erasure request is a few hundred bytes; more is not our server. */
const MAX_ANSWER_BYTES = 64 * 1024;
const MIN_SLEEP_MS = 1_000;
const MAX_SLEEP_MS = 60_000;

export class Uploader {
  readonly #options: Required<Omit<UploaderOptions, 'logger'>>;
  readonly #logger: Logger;
  readonly #inFlight = new Map<string, AbortController>();
  readonly #halted = new Set<string>();
  #running: Promise<void> | undefined;
  #stop: AbortController | undefined;
  #wake: (() => void) | undefined;
  #refusal: UploadRefusal | null = null;

  constructor(options: UploaderOptions) {
    this.#options = { now: Date.now, random: Math.random, requestTimeoutMs: 30_000, onStaleStudyKey: () => undefined, onPass: () => undefined, ...options };
    this.#logger = options.logger ?? pino({ enabled: false });
  }

  /**
   * Stops a study's uploads at once: aborts the request in flight and sends nothing more in
   * this process. Call before `store.withdraw(studyId)`, and on consent expiry.
   */
  halt(studyId: string): void {
    this.#halted.add(studyId);
    this.#inFlight.get(studyId)?.abort();
    if (this.#refusal?.studyId === studyId) this.#refusal = null;
  }

  /** The server's standing refusal of this device's uploads, until a batch is accepted again. */
  refusal(): UploadRefusal | null {
    return this.#refusal;
  }

  /** Lets a halted study upload again (after a new consent). */
  resume(studyId: string): void {
    this.#halted.delete(studyId);
  }

  /** One pass: erasure requests first, then every study's due batches until one fails. */
  async runOnce(): Promise<UploadReport> {
    const report: UploadReport = { batchesSent: 0, windowsSent: 0, batchesRejected: 0, batchesDeferred: 0, erasuresAcknowledged: 0 };
    const { store } = this.#options;
    store.enforceBudget();
    for (const erasure of store.dueErasures(this.#options.now())) {
      if (await this.#sendErasure(erasure)) report.erasuresAcknowledged += 1;
    }
    for (const studyId of store.studiesToUpload(this.#options.now())) {
      for (;;) {
        const now = this.#options.now();
        if (!this.#allowed(studyId)) break;
        const batch = store.prepareBatch(studyId, now);
        if (!batch || batch.nextAttemptAt > now) break;
        const outcome = await this.#sendBatch(batch);
        if (outcome === 'sent') {
          report.batchesSent += 1;
          report.windowsSent += batch.windowCount;
        } else if (outcome === 'rejected') {
          report.batchesRejected += 1;
        } else {
          if (outcome === 'deferred') report.batchesDeferred += 1;
          break;
        }
      }
    }
    return report;
  }

  /** Runs passes in the background until `stop()`, sleeping until the next thing is due (1 s–1 min). */
  start(): void {
    if (this.#running) return;
    const stop = new AbortController();
    this.#stop = stop;
    this.#running = (async () => {
      // A function, not the property: the compiler would narrow `aborted` across the awaits.
      const stopping = (): boolean => stop.signal.aborted;
      while (!stopping()) {
        try {
          const report = await this.runOnce();
          if (Object.values(report).some((count) => count > 0)) this.#options.onPass(report);
        } catch (error) {
          this.#logger.error({ event: 'upload.failed', code: error instanceof Error ? error.name : 'unknown' }, 'an upload pass failed');
        }
        const next = this.#options.store.nextDueAt();
        const wait = next === null ? MAX_SLEEP_MS : Math.min(MAX_SLEEP_MS, Math.max(MIN_SLEEP_MS, next - this.#options.now()));
        // stop() may have aborted during the pass: an abort listener added now would never fire.
        if (stopping()) break;
        await new Promise<void>((resolve) => {
          const done = (): void => {
            clearTimeout(timer);
            this.#wake = undefined;
            resolve();
          };
          const timer = setTimeout(done, wait);
          this.#wake = done;
          stop.signal.addEventListener('abort', done);
        });
      }
    })();
  }

  /** Ends the background loop's sleep now: new windows were stored or an erasure queued. */
  wake(): void {
    this.#wake?.();
  }

  async stop(): Promise<void> {
    this.#stop?.abort();
    for (const controller of this.#inFlight.values()) controller.abort();
    await this.#running;
    this.#running = undefined;
  }

  #allowed(studyId: string): boolean {
    return !this.#halted.has(studyId) && !this.#options.store.isWithdrawn(studyId) && this.#options.mayUpload(studyId);
  }

  async #sendBatch(batch: PreparedBatch): Promise<Outcome> {
    const { store } = this.#options;
    const recipient = this.#options.studyKey(batch.studyId);
    if (!recipient) return 'halted';
    const device = store.deviceKey(batch.studyId);
    let body: string;
    try {
      const envelope = sealEnvelope(
        batch.payload,
        { studyId: batch.studyId, studyVersion: batch.studyVersion, batchId: batch.batchId, createdAt: new Date(batch.createdAt).toISOString() },
        device,
        recipient,
      );
      body = JSON.stringify(envelope);
    } finally {
      wipe(device.secretKey);
    }
    if (utf8(body).length > PRIVACY_LIMITS.maxUploadBodyBytes) throw new InvariantError('a sealed batch exceeds the upload body limit');
    // The gate again, right before the bytes leave: consent may have ended while sealing.
    if (!this.#allowed(batch.studyId)) return 'halted';
    const response = await this.#post(batch.studyId, API_PATHS.ingest, body);
    if (response === 'halted') return 'halted';
    if (response !== 'network-error' && (response.status === 200 || response.status === 201)) {
      const accepted = IngestAccepted.safeParse(response.json);
      if (accepted.success && accepted.data.batchId === batch.batchId) {
        store.completeBatch(batch.batchId);
        if (this.#refusal?.studyId === batch.studyId) this.#refusal = null;
        this.#logger.info({ event: 'upload.sent', windows: batch.windowCount, status: accepted.data.status }, 'batch delivered');
        return 'sent';
      }
    } else if (response !== 'network-error' && ApiError.safeParse(response.json).data?.error.code === 'ingest.wrong-recipient') {
      // The study's sealing key was rotated since this agent learnt it. Each try seals the batch
      // afresh, so it waits for the current key rather than being dropped; if the agent learnt
      // it while this try was on its way, the batch goes again at once.
      const current = this.#options.studyKey(batch.studyId);
      if (current && keyIdOf(current) !== keyIdOf(recipient)) {
        store.deferBatch(batch.batchId, batch.attempts, this.#options.now());
        return 'deferred';
      }
      this.#options.onStaleStudyKey(batch.studyId);
    } else if (response !== 'network-error' && response.status >= 400 && response.status < 500 && response.status !== 429) {
      const code = ApiError.safeParse(response.json).data?.error.code;
      if (response.status === 413 || (code !== undefined && FINAL_REFUSALS.has(code))) {
        store.rejectBatch(batch.batchId);
        this.#logger.warn({ event: 'upload.rejected', status: response.status, code, windows: batch.windowCount }, 'the server refused a batch');
        return 'rejected';
      }
      const reason = (code === undefined ? undefined : REFUSAL_REASONS[code]) ?? `it answered ${String(response.status)}`;
      if (this.#refusal?.studyId !== batch.studyId) this.#refusal = { studyId: batch.studyId, reason, since: this.#options.now() };
      else this.#refusal = { ...this.#refusal, reason };
      this.#logger.warn({ event: 'upload.refused', status: response.status, code }, 'the server refuses uploads; the windows are kept and retried');
    }
    const attempts = batch.attempts + 1;
    store.deferBatch(batch.batchId, attempts, this.#options.now() + retryDelayMs(attempts, this.#options.random));
    this.#logger.info(
      { event: 'upload.deferred', attempts, status: response === 'network-error' ? null : response.status },
      'will retry the batch later',
    );
    return 'deferred';
  }

  async #sendErasure(erasure: PendingErasure): Promise<boolean> {
    const { store } = this.#options;
    const { request } = erasure.request;
    const response = await this.#post(`erasure:${request.requestId}`, API_PATHS.erasure, JSON.stringify(erasure.request));
    if (response !== 'halted' && response !== 'network-error' && response.status === 200) {
      try {
        verifyErasureAck(parseUnknown(SignedErasureAck, response.json, 'erasure acknowledgement'), request, this.#options.serverPublicKey);
        store.acknowledgeErasure(request.requestId);
        this.#logger.info({ event: 'erasure.acknowledged' }, 'the server confirmed the erasure');
        return true;
      } catch (error) {
        this.#logger.warn({ event: 'erasure.bad-ack', code: error instanceof Error ? error.name : 'unknown' }, 'ignored an invalid acknowledgement');
      }
    }
    // Retried whatever the status: only a verified acknowledgement ends an erasure request.
    const attempts = erasure.attempts + 1;
    store.deferErasure(request.requestId, attempts, this.#options.now() + retryDelayMs(attempts, this.#options.random));
    return false;
  }

  async #post(flightKey: string, path: string, body: string): Promise<{ status: number; json: unknown } | 'network-error' | 'halted'> {
    const controller = new AbortController();
    this.#inFlight.set(flightKey, controller);
    try {
      const answer = await request(new URL(path, this.#options.serverUrl), {
        method: 'POST',
        body,
        timeoutMs: this.#options.requestTimeoutMs,
        maxBytes: MAX_ANSWER_BYTES,
        signal: controller.signal,
      });
      let json: unknown = null;
      try {
        json = JSON.parse(answer.text);
      } catch {
        // A body that is not JSON is treated like any other unexpected answer.
      }
      return { status: answer.status, json };
    } catch {
      return this.#halted.has(flightKey) ? 'halted' : 'network-error';
    } finally {
      this.#inFlight.delete(flightKey);
    }
  }
}
