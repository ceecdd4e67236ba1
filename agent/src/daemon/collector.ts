/**
 * What the agent keeps of a session, and where it goes: filtered batches → the study's
 * redaction pipeline → closed windows → the encrypted store → the uploader. One path, owned
 * here; the agent (agent.ts) tells it when capture begins and ends, and the control API's
 * review commands (pending, delete, forget) and withdrawal act through it.
 *
 * Windows close on a timer and when a session ends. A window cut short by the end of a
 * session (stop, its time running out, consent ending) is closed at once and stored like any
 * other, covering only the minutes captured; a pause does not cut a window. A window cut
 * short by withdrawal, `forget` or a crash is never stored (docs/agent.md, "What is kept").
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { keyIdOf, type SigningKeyPair } from '@candor/shared/crypto';
import { CandorError, InvariantError, errorCode } from '@candor/shared/errors';
import type { AgentStatus, PendingWindow } from '@candor/shared/schemas/control';
import type { StudyVersion } from '@candor/shared/schemas/study';
import type { CaptureSink } from '../capture/source.ts';
import { openKeyRing } from '../keys/keyring.ts';
import type { UploadTarget } from '../pair/pairing.ts';
import { createPipeline, type Pipeline } from '../redact/pipeline.ts';
import { openStore, type LocalStore } from '../store/store.ts';
import { Uploader } from '../upload/uploader.ts';
import type { Clock } from './clock.ts';

export type CollectorOptions = {
  dataDir: string;
  /** Where redaction policies are read from, as `<id>.v<version>.json`. */
  policiesDir: string;
  clock: Clock;
  log: Logger;
  upload: UploadTarget | null;
  /** The consent gate, checked before every upload. */
  mayUpload: (studyId: string) => boolean;
  /** The server refused a batch as sealed to a study key it has rotated away from: ask it for the current one. */
  onStaleStudyKey?: (studyId: string) => void;
  /** Uploads changed what the store holds or whether the server refuses them: the status may have changed. */
  onStorageChanged?: () => void;
  /** How often ended windows are closed and stored. */
  closeEveryMs?: number;
};

export type StorageStatus = AgentStatus['storage'];

type Session = { study: StudyVersion; pipeline: Pipeline };

const DEFAULT_CLOSE_EVERY_MS = 30_000;

/**
 * The redaction pipeline for a study, with the policy its reference names.
 * @throws CandorError `capture.policy-missing` when the policy file is absent or unreadable,
 * and createPipeline's `redact.policy-mismatch` / `redact.vocabulary-not-allowed`.
 */
export function pipelineFor(study: StudyVersion, policiesDir: string, clock: () => number, log: Logger): Pipeline {
  const { id, version } = study.redactionPolicy;
  const path = join(policiesDir, `${id}.v${String(version)}.json`);
  let policy: unknown;
  try {
    policy = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new CandorError('capture.policy-missing', `the redaction policy ${id} v${String(version)} the study names is not on this device (${path})`);
  }
  try {
    return createPipeline(study, policy as Parameters<typeof createPipeline>[1], clock, { logger: log });
  } catch (error) {
    if (error instanceof CandorError) throw error;
    throw new CandorError('redact.policy-mismatch', `the redaction policy file ${path} is not valid`, { cause: error });
  }
}

export class Collector {
  readonly #options: CollectorOptions;
  readonly #store: LocalStore;
  #upload: UploadTarget | null = null;
  #uploader: Uploader | null = null;
  /** Studies halted here, so an uploader made for a new server key starts with them halted too. */
  readonly #halted = new Set<string>();
  /** The stop of an uploader made for an old server key, then the start of its successor. */
  #replacing: Promise<void> | null = null;
  #closed = false;
  readonly #timer: NodeJS.Timeout;
  #session: Session | null = null;
  /** Events stamped at or before this were captured before a `forget` and are dropped if they arrive late. */
  #forgottenUntil = -Infinity;

  /**
   * Opens the key ring and the store in `dataDir`; the uploader starts when a target is set
   * (`uploadTo`, called at start when the agent is paired and whenever a pairing completes).
   * @throws the store's and key ring's CandorErrors (`store.corrupt`, `store.keys-lost`, `keys.*`).
   */
  constructor(options: CollectorOptions) {
    this.#options = options;
    const keyRing = openKeyRing({ keyDir: options.dataDir });
    this.#store = openStore({ dataDir: options.dataDir, keyRing, now: () => options.clock.now(), logger: options.log.child({ part: 'store' }) });
    if (options.upload) this.uploadTo(options.upload);
    this.#timer = setInterval(() => {
      this.#closeWindows(false);
      // The uploader sleeps up to a minute by its own timer; something due now need not wait.
      const due = this.#store.nextDueAt();
      if (due !== null && due <= options.clock.now()) this.#uploader?.wake();
    }, options.closeEveryMs ?? DEFAULT_CLOSE_EVERY_MS);
    this.#timer.unref();
  }

  /** Where the capture step hands filtered batches. */
  readonly sink: CaptureSink = {
    accept: (batch) => {
      const session = this.#session;
      if (!session) return;
      const events = batch.events.filter((event) => event.time > this.#forgottenUntil);
      if (events.length > 0) session.pipeline.accept({ context: batch.context, events });
    },
  };

  /**
   * Sends held windows to `target` from now on. The server cannot change under a running
   * uploader (pairing keeps one server per agent); a new target for the same server adds
   * the studies paired since, and one with the server's next signing key (followed along its
   * endorsements) replaces the uploader.
   * @throws InvariantError for a target on another server.
   */
  uploadTo(target: UploadTarget): void {
    const previous = this.#upload;
    if (previous && previous.serverUrl !== target.serverUrl) throw new InvariantError('the agent uploads to one server only');
    this.#upload = target;
    const now = this.#options.clock.now();
    for (const [studyId, key] of target.studyKeys) {
      const known = previous?.studyKeys.get(studyId);
      // A batch refused as sealed to a study key since rotated waits for the new one: here it is.
      if (known && keyIdOf(known) !== keyIdOf(key) && this.#store.retryBatchNow(studyId, now)) {
        this.#options.log.info({ event: 'upload.study-key-changed' }, 'the study has a new sealing key; the batch waiting for it goes now');
      }
    }
    if (this.#replacing) return;
    if (previous && this.#uploader && keyIdOf(previous.serverPublicKey) !== keyIdOf(target.serverPublicKey)) {
      // The uploader checks erasure acknowledgements with the server key it was made with; after
      // the pairing followed the server to a new key, acknowledgements refused under the old one
      // are due again now, from an uploader made with the new key.
      const old = this.#uploader;
      this.#uploader = null;
      this.#replacing = (async () => {
        await old.stop();
        this.#replacing = null;
        if (this.#closed) return;
        const now = this.#options.clock.now();
        for (const erasure of this.#store.dueErasures(Number.POSITIVE_INFINITY)) this.#store.deferErasure(erasure.request.request.requestId, erasure.attempts, now);
        this.#startUploader();
      })();
      return;
    }
    if (this.#uploader) {
      this.#uploader.wake();
      return;
    }
    this.#startUploader();
  }

  #startUploader(): void {
    const target = this.#upload;
    if (!target) throw new InvariantError('an uploader needs a target');
    const options = this.#options;
    const uploader = new Uploader({
      store: this.#store,
      serverUrl: target.serverUrl,
      studyKey: (studyId) => this.#upload?.studyKeys.get(studyId),
      serverPublicKey: target.serverPublicKey,
      mayUpload: options.mayUpload,
      ...(options.onStaleStudyKey ? { onStaleStudyKey: options.onStaleStudyKey } : {}),
      ...(options.onStorageChanged ? { onPass: options.onStorageChanged } : {}),
      now: () => options.clock.now(),
      logger: options.log.child({ part: 'upload' }),
    });
    for (const studyId of this.#halted) uploader.halt(studyId);
    this.#uploader = uploader;
    uploader.start();
  }

  /** A copy of the study's device signing key (the caller wipes its secret). */
  deviceKey(studyId: string): SigningKeyPair {
    return this.#store.deviceKey(studyId);
  }

  /** Whether the participant withdrew from the study on this device (its keys are gone). */
  isWithdrawn(studyId: string): boolean {
    return this.#store.isWithdrawn(studyId);
  }

  /** Destroys the study's device key (a pairing that did not complete); the next one is fresh. */
  discardDeviceKey(studyId: string): void {
    this.#store.discardDeviceKey(studyId);
  }

  /**
   * Called before consent is recorded: a study withdrawn from on this device had its keys and
   * data destroyed, and the store refuses its windows for good, so consenting again here would
   * promise a capture that cannot happen.
   * @throws CandorError `consent.withdrawn`.
   */
  assertMayEnroll(studyId: string): void {
    if (this.#store.isWithdrawn(studyId)) {
      throw new CandorError('consent.withdrawn', `you withdrew from ${studyId} on this device, so it cannot collect here again`);
    }
  }

  /**
   * Called before capture starts: opens a session (its pipeline and a fresh data key) unless
   * this study version's session is open (a resume after a pause).
   * @throws CandorError `capture.withdrawn` for a study withdrawn from on this device, and
   * when the study's redaction policy is missing or does not match its hash.
   */
  beginCapture(study: StudyVersion): void {
    const current = this.#session;
    if (current && current.study.studyId === study.studyId && current.study.version === study.version) return;
    this.endCapture(false);
    // The store refuses a withdrawn study's windows for good; capturing them would be for nothing.
    if (this.#store.isWithdrawn(study.studyId)) {
      throw new CandorError('capture.withdrawn', `you withdrew from ${study.studyId} on this device, so it cannot collect here again`);
    }
    const pipeline = pipelineFor(study, this.#options.policiesDir, () => this.#options.clock.now(), this.#options.log.child({ part: 'redact' }));
    this.#store.startSession(study.studyId);
    this.#session = { study, pipeline };
    this.#forgottenUntil = -Infinity;
  }

  /**
   * Called whenever capture is not allowed. Paused: windows that ended are stored and the
   * session stays open. Otherwise the session ends: every window, the one cut short included,
   * is stored, and the session's data key leaves memory.
   */
  endCapture(paused: boolean): void {
    if (!this.#session) return;
    if (paused) {
      this.#closeWindows(false);
      return;
    }
    this.#closeWindows(true);
    this.#store.endSession(this.#session.study.studyId);
    this.#session = null;
  }

  pending(): PendingWindow[] {
    return this.#store.listPending();
  }

  deleteWindow(id: string): 'deleted' | 'not-found' | 'leaving' {
    return this.#store.deleteWindow(id);
  }

  /**
   * Forgets everything captured since `since`: first what the pipeline holds in memory, then
   * what the store holds, so no window with that time can be stored in between.
   * @throws CandorError `store.bad-time` for a time that is not finite.
   */
  forget(since: number): { deleted: number; leaving: number } {
    this.#session?.pipeline.discardSince(since);
    this.#forgottenUntil = this.#options.clock.now();
    return this.#store.forgetSince(since);
  }

  /** Stops the study's uploads at once (withdrawal, consent ended); `resume` lifts it. */
  halt(studyId: string): void {
    this.#halted.add(studyId);
    this.#uploader?.halt(studyId);
  }

  resume(studyId: string): void {
    this.#halted.delete(studyId);
    this.#uploader?.resume(studyId);
  }

  /** First step of withdrawal: uploads stop and what is held in memory is dropped unsaved. */
  beginWithdrawal(studyId: string): void {
    this.halt(studyId);
    if (this.#session?.study.studyId === studyId) {
      this.#store.endSession(studyId);
      this.#session = null;
    }
  }

  /**
   * Last step of withdrawal, after the withdrawn receipt is signed: the study's keys and rows
   * are destroyed and, for a study this agent uploads to a server (paired), a signed erasure
   * request is queued (sent until acknowledged); a study never paired left nothing to erase.
   * @throws the key ring's `keys.*` errors when the rotated master key cannot be stored.
   */
  completeWithdrawal(studyId: string): void {
    this.#store.withdraw(studyId, { requestErasure: this.#upload?.studyKeys.has(studyId) === true });
    this.#uploader?.wake();
  }

  storage(): StorageStatus {
    const status = this.#store.status();
    const refusal = this.#uploader?.refusal();
    return {
      keyBackend: { kind: status.keyBackend.kind, description: status.keyBackend.description },
      windowsHeld: status.windows,
      dropped: status.dropped,
      erasuresAwaitingAck: status.erasuresAwaitingAck,
      uploadsTo: this.#upload?.serverUrl ?? null,
      uploadsRefused: refusal ? { studyId: refusal.studyId, reason: refusal.reason, since: new Date(refusal.since).toISOString() } : null,
    };
  }

  /** Stops the timer and the uploader, then closes the store (wiping its keys). The open session's windows are not stored. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#closed = true;
    await this.#replacing;
    await this.#uploader?.stop();
    this.#session = null;
    this.#store.close();
  }

  #closeWindows(all: boolean): void {
    const session = this.#session;
    if (!session) return;
    const now = this.#options.clock.now();
    const windowMs = session.study.windowMinutes * 60_000;
    // Closing "as of" the end of the current window closes the one in progress too.
    const windows = session.pipeline.closeWindows(all ? now - (now % windowMs) + windowMs : now);
    if (windows.length === 0) return;
    try {
      this.#store.putWindows(windows, session.study.holdBeforeUploadHours);
      this.#uploader?.wake();
    } catch (error) {
      this.#options.log.error({ event: 'store.put-failed', code: errorCode(error), windows: windows.length }, 'closed windows could not be stored');
    }
  }
}
