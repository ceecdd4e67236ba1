/**
 * The agent's encrypted local store: the one writer of `store.db`, and the durable upload
 * outbox (STYLE.md §9). Every window is its own AEAD record under a random per-session data
 * key; data keys and device secrets are wrapped by the device master key (keys/keyring.ts).
 * Deleting rows is followed by a TRUNCATE checkpoint, with `secure_delete` on, so deleted
 * ciphertext does not linger in the file or its WAL. See docs/store.md.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino, type Logger } from 'pino';
import {
  blake2b,
  decryptRecord,
  encryptRecord,
  generateDataKey,
  generateSigningKeyPair,
  randomBytes,
  randomId,
  recordKeyId,
  signingKeyPairFromSecret,
  toHex,
  unwrapDataKey,
  wipe,
  wrapDataKey,
  type DataKey,
  type SigningKeyPair,
} from '@candor/shared/crypto';
import { PRIVACY_LIMITS } from '@candor/shared/defaults';
import { canonicalJson, fromUtf8, utf8 } from '@candor/shared/encoding';
import { CandorError, InvariantError } from '@candor/shared/errors';
import type { SignedErasureRequest } from '@candor/shared/schemas/ingest';
import { WindowAggregate } from '@candor/shared/schemas/window';
import { parseUnknown } from '@candor/shared/validation';
import type { KeyBackendInfo, KeyRing } from '../keys/keyring.ts';
import { signErasureRequest } from '@candor/shared/erasure';
import * as q from './db/queries.ts';
import { migrate } from './db/schema/migrate.ts';
import { describeWindow } from './describe.ts';
import { walFrameLosingCommits } from './wal.ts';

export const STORE_FILE = 'store.db';

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;
const BATCH_ID_SECRET = 'batch-id-key';
const deviceSecretName = (studyId: string): string => `device-key/${studyId}`;

export type StoreBudget = { maxBytes: number; maxAgeMs: number };

export type StoreOptions = {
  /** Created 0700 if missing; holds `store.db` and its WAL. */
  dataDir: string;
  keyRing: KeyRing;
  now?: () => number;
  logger?: Logger;
  /** Stricter than the limits if set; never looser (PRIVACY_LIMITS.maxQueueBytes / maxQueueDays). */
  budget?: Partial<StoreBudget>;
};

export type PendingWindow = {
  id: string;
  studyId: string;
  studyVersion: number;
  windowStart: string;
  /** When the hold ends and the window may leave. */
  dueAt: string;
  /** Already handed to the uploader: it can no longer be recalled from this device. */
  leaving: boolean;
  /** What the window would send, in plain language. */
  description: string;
};

export type StoreStatus = {
  keyBackend: KeyBackendInfo;
  windows: number;
  bytes: number;
  /** Windows dropped without being sent, by reason; shown to the participant. */
  dropped: Record<q.DropReason, number>;
  erasuresAwaitingAck: number;
};

/** A batch ready to send: the payload is the canonical JSON of an UploadBatch. */
export type PreparedBatch = {
  batchId: string;
  studyId: string;
  studyVersion: number;
  createdAt: number;
  attempts: number;
  nextAttemptAt: number;
  windowCount: number;
  payload: Uint8Array;
};

export type PendingErasure = { request: SignedErasureRequest; attempts: number; nextAttemptAt: number };

/** Room for the envelope's header, signature and base64 growth inside the 256 KiB body limit. */
export const MAX_BATCH_PAYLOAD_BYTES = Math.floor(((PRIVACY_LIMITS.maxUploadBodyBytes - 2048) * 3) / 4) - 16;
const MAX_BATCH_WINDOWS = 500;

function isCorruption(error: unknown): boolean {
  if (!(error instanceof Error) || !('code' in error) || typeof error.code !== 'string') return false;
  return error.code.startsWith('SQLITE_CORRUPT') || error.code === 'SQLITE_NOTADB';
}

function corrupt(path: string, detail: string, cause?: unknown): CandorError {
  return new CandorError(
    'store.corrupt',
    `the local store ${path} is damaged (${detail}); nothing was read or sent from it. ` +
      'Move it aside and start the agent again to begin with an empty store.',
    { cause },
  );
}

/** Pragmas every connection must have; each is read back and checked at open. */
const PRAGMAS: readonly { set: string; read: string; expect: string | number }[] = [
  { set: 'journal_mode = WAL', read: 'journal_mode', expect: 'wal' },
  // FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on power loss, and a
  // commit here means "this window is safe" or "the server has this batch". At a few
  // windows per quarter hour the extra fsync costs nothing (see agent/bench/store.bench.ts).
  { set: 'synchronous = FULL', read: 'synchronous', expect: 2 },
  { set: 'secure_delete = ON', read: 'secure_delete', expect: 1 },
  { set: 'foreign_keys = ON', read: 'foreign_keys', expect: 1 },
  { set: 'busy_timeout = 5000', read: 'busy_timeout', expect: 5000 },
  // VACUUM and large sorts would otherwise spill pages to temp files outside the data dir.
  { set: 'temp_store = MEMORY', read: 'temp_store', expect: 2 },
  // An always-on agent keeps its page cache for good. SQLite's default lets it reach 2 MiB;
  // the store is touched a few times a minute and at most 10 MB (PRIVACY_LIMITS.maxQueueBytes),
  // so 512 KiB keeps each pass in memory and the rest of the file is the OS's to cache.
  { set: 'cache_size = -512', read: 'cache_size', expect: -512 },
];

function applyPragmas(db: Database.Database): void {
  for (const pragma of PRAGMAS) {
    db.pragma(pragma.set);
    const actual = db.pragma(pragma.read, { simple: true });
    if (actual !== pragma.expect) {
      throw new CandorError('store.pragma', `SQLite refused ${pragma.set} (got ${String(actual)}); the store cannot be used safely`);
    }
  }
}

/**
 * Opens (creating if needed) the store in `dataDir`.
 * @throws CandorError `store.corrupt` for a truncated or damaged file, `store.too-new` for a
 * newer schema, `store.pragma` when a safety pragma does not take, `store.keys-lost` when the
 * master key that wraps existing data is gone, and the key ring's `keys.*` errors.
 */
export function openStore(options: StoreOptions): LocalStore {
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const path = join(options.dataDir, STORE_FILE);
  let db: Database.Database | undefined;
  try {
    // The user's alone whatever the umask: SQLite gives its -wal and -shm the main file's mode.
    closeSync(openSync(path, 'a', 0o600));
    // Before SQLite reads the log: it would drop what follows a damaged frame, and a checkpoint
    // would then make that loss final.
    const damagedFrame = walFrameLosingCommits(`${path}-wal`);
    if (damagedFrame !== null) {
      throw corrupt(path, `its write-ahead log is damaged ${damagedFrame === 0 ? 'in its header' : `at frame ${String(damagedFrame)}`}, before changes that were committed`);
    }
    db = new Database(path);
    applyPragmas(db);
    const problems = (db.pragma('integrity_check') as { integrity_check: string }[]).map((row) => row.integrity_check);
    if (problems.length !== 1 || problems[0] !== 'ok') throw corrupt(path, `integrity check found ${String(problems.length)} problems`);
    migrate(db);
    return new LocalStore(db, options);
  } catch (error) {
    db?.close();
    if (isCorruption(error)) throw corrupt(path, 'SQLite reports the file is malformed', error);
    throw error;
  }
}

export class LocalStore {
  readonly #db: Database.Database;
  readonly #keyRing: KeyRing;
  readonly #now: () => number;
  readonly #logger: Logger;
  readonly #budget: StoreBudget;
  /** Master keys by key id; the newest wraps everything written from now on. */
  readonly #masters = new Map<string, DataKey>();
  #activeMaster: DataKey;
  /** The current session's data key per study. */
  readonly #sessionKeys = new Map<string, DataKey>();
  /** Unwrapped data keys, by key id. */
  readonly #dataKeys = new Map<string, DataKey>();
  readonly #secrets = new Map<string, Uint8Array>();
  #closed = false;

  /** Use openStore. */
  constructor(db: Database.Database, options: StoreOptions) {
    this.#db = db;
    this.#keyRing = options.keyRing;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger ?? pino({ enabled: false });
    this.#budget = {
      maxBytes: Math.min(options.budget?.maxBytes ?? PRIVACY_LIMITS.maxQueueBytes, PRIVACY_LIMITS.maxQueueBytes),
      maxAgeMs: Math.min(options.budget?.maxAgeMs ?? PRIVACY_LIMITS.maxQueueDays * DAY_MS, PRIVACY_LIMITS.maxQueueDays * DAY_MS),
    };
    for (const key of this.#keyRing.load()) this.#masters.set(key.keyId, key);
    const wrapped = q.selectAllWrapped(db);
    if (this.#masters.size === 0) {
      if (wrapped.length > 0) {
        // Most often the key is in a keychain this process cannot reach (no desktop session):
        // say so before the last resort, which would also lose any erasure not yet confirmed.
        throw new CandorError(
          'store.keys-lost',
          `the master key of the local store is not in ${this.#keyRing.backend.description}. ` +
            (this.#keyRing.backend.kind === 'key-file'
              ? 'If it is kept in the desktop keyring, start the agent in your desktop session, where the keyring is reachable and unlocked. '
              : '') +
            'Nothing was read, changed or deleted. Only if the key is truly gone: the data can never be read again, and moving the store aside starts afresh.',
        );
      }
      const fresh = generateDataKey();
      this.#keyRing.save([fresh]);
      this.#masters.set(fresh.keyId, fresh);
    }
    this.#activeMaster = [...this.#masters.values()].at(-1) ?? invariantFailed('no master key');
    // A withdrawal killed mid-rotation leaves two master keys: finish it, whichever side of
    // the database commit it stopped on.
    if (this.#masters.size > 1) {
      if (wrapped.some((row) => recordKeyId(row.wrapped) !== this.#activeMaster.keyId)) {
        db.transaction(() => {
          this.#rewrapAll();
        })();
      }
      this.#keepOnlyActiveMaster();
    }
    if (!q.selectSecret(db, BATCH_ID_SECRET)) q.insertSecret(db, { name: BATCH_ID_SECRET, wrapped: this.#wrap(BATCH_ID_SECRET, randomBytes(32)) });
    q.deleteUnusedDataKeys(db, []);
  }

  /** The safety pragmas as this connection reports them (for tests and `candor status`). */
  pragmas(): Record<string, unknown> {
    this.#assertOpen();
    return Object.fromEntries(PRAGMAS.map((pragma) => [pragma.read, this.#db.pragma(pragma.read, { simple: true })]));
  }

  get keyBackend(): KeyBackendInfo {
    return this.#keyRing.backend;
  }

  // --- capture side ------------------------------------------------------------------------

  /** Starts a new random data key for a study's windows from now on (call at each session start). */
  startSession(studyId: string): void {
    this.#assertOpen();
    this.endSession(studyId);
    const key = generateDataKey();
    q.insertDataKey(this.#db, { keyId: key.keyId, studyId, wrapped: wrapDataKey(this.#activeMaster, key), createdAt: this.#now() });
    this.#sessionKeys.set(studyId, key);
    this.#dataKeys.set(key.keyId, key);
  }

  /** Forgets the session's key in memory; a key no window uses is deleted for good. */
  endSession(studyId: string): void {
    this.#assertOpen();
    const key = this.#sessionKeys.get(studyId);
    if (!key) return;
    this.#sessionKeys.delete(studyId);
    this.#dataKeys.delete(key.keyId);
    wipe(key.key);
    this.#collectKeys();
  }

  /**
   * Stores closed windows, each encrypted on its own, held for `holdBeforeUploadHours`.
   * All or nothing: one invalid window stores none.
   * @throws ValidationError for a window outside the shared schema, CandorError
   * `store.withdrawn` for a study the participant withdrew from, `store.bad-hold` for a
   * negative or non-finite hold.
   */
  putWindows(windows: readonly unknown[], holdBeforeUploadHours: number): string[] {
    this.#assertOpen();
    if (!Number.isFinite(holdBeforeUploadHours) || holdBeforeUploadHours < 0) {
      throw new CandorError('store.bad-hold', 'the hold before upload must be zero or more hours');
    }
    const parsed = windows.map((window) => parseUnknown(WindowAggregate, window, 'window'));
    const now = this.#now();
    for (const studyId of new Set(parsed.map((window) => window.studyId))) {
      this.#assertNotWithdrawn(studyId);
      if (!this.#sessionKeys.has(studyId)) this.startSession(studyId);
    }
    const ids = this.#db.transaction(() =>
      parsed.map((window) => {
        const key = this.#sessionKeys.get(window.studyId) ?? invariantFailed('session key');
        const id = randomId();
        const windowStart = Date.parse(window.windowStart);
        const row = { id, studyId: window.studyId, studyVersion: window.studyVersion };
        q.insertWindow(this.#db, {
          ...row,
          keyId: key.keyId,
          windowStart,
          windowEnd: windowStart + window.windowMinutes * 60_000,
          storedAt: now,
          dueAt: now + Math.max(0, holdBeforeUploadHours) * HOUR_MS,
          ciphertext: encryptRecord(key, utf8(canonicalJson(window)), windowAssociatedData(row)),
        });
        return id;
      }),
    )();
    this.enforceBudget();
    return ids;
  }

  // --- review (candor pending / delete / forget) -------------------------------------------

  /** Every window on the device, oldest first, with what it would send. Unreadable ones are described as such. */
  listPending(options: { studyId?: string; timeZone?: string } = {}): PendingWindow[] {
    this.#assertOpen();
    return q.selectWindows(this.#db, options.studyId ?? null).map((row) => {
      let description: string;
      try {
        description = describeWindow(this.#openWindow(row), options.timeZone);
      } catch (error) {
        if (!(error instanceof CandorError)) throw error;
        description = 'unreadable (it will be dropped, never sent)';
      }
      return {
        id: row.id,
        studyId: row.studyId,
        studyVersion: row.studyVersion,
        windowStart: new Date(row.windowStart).toISOString(),
        dueAt: new Date(row.dueAt).toISOString(),
        leaving: row.batchId !== null,
        description,
      };
    });
  }

  /**
   * Deletes one held window for good. A window already handed to the uploader cannot be
   * recalled (its batch may be on the server); withdrawal erases it there.
   */
  deleteWindow(id: string): 'deleted' | 'not-found' | 'leaving' {
    this.#assertOpen();
    const row = q.selectWindow(this.#db, id);
    if (!row) return 'not-found';
    if (row.batchId !== null) return 'leaving';
    q.deleteHeldWindow(this.#db, id);
    this.#afterDeletion();
    return 'deleted';
  }

  /**
   * Deletes every held window that overlaps the time since `since` (ms since the epoch) or
   * was stored since then. The daemon calls the pipeline's `discardSince(since)` first, so
   * no window holding that time can be flushed here after this returns.
   * @throws CandorError `store.bad-time` when `since` is not a finite time.
   */
  forgetSince(since: number): { deleted: number; leaving: number } {
    this.#assertOpen();
    if (!Number.isFinite(since)) throw new CandorError('store.bad-time', 'forget needs a point in time');
    const { deleted, leaving } = this.#db.transaction(() => ({
      leaving: q.countLeavingWindowsSince(this.#db, since),
      deleted: q.deleteHeldWindowsSince(this.#db, since),
    }))();
    if (deleted > 0) this.#afterDeletion();
    return { deleted, leaving };
  }

  // --- withdrawal ------------------------------------------------------------------------

  /**
   * Withdraws from a study on this device: stops its uploads (the uploader checks
   * `isWithdrawn` before every request), deletes its windows, data keys and device key,
   * rotates the master key so that a copy of the database taken before now cannot be
   * decrypted, checkpoints, vacuums, and queues a signed erasure request for the server
   * unless `requestErasure` is false: a study whose data never left this device (never
   * paired) leaves nothing to erase, and a request no server acknowledges would wait forever.
   * Call `uploader.halt(studyId)` first to abort a request in flight.
   * @throws CandorError `store.withdrawn` when already withdrawn; the key ring's `keys.*`
   * errors when the new master key cannot be stored.
   */
  withdraw(studyId: string, { requestErasure = true }: { requestErasure?: boolean } = {}): SignedErasureRequest | null {
    this.#assertOpen();
    const now = this.#now();
    let signed: SignedErasureRequest | null = null;
    if (requestErasure) {
      const device = this.deviceKey(studyId);
      signed = signErasureRequest({ studyId, deviceKeyId: device.keyId, requestedAt: new Date(now).toISOString(), requestId: randomId() }, device);
      wipe(device.secretKey);
    } else {
      this.#assertNotWithdrawn(studyId);
    }
    const sessionKey = this.#sessionKeys.get(studyId);
    if (sessionKey) {
      this.#sessionKeys.delete(studyId);
      wipe(sessionKey.key);
    }
    const next = generateDataKey();
    this.#keyRing.save([...this.#masters.values(), next]);
    this.#masters.set(next.keyId, next);
    this.#activeMaster = next;
    this.#db.transaction(() => {
      q.insertWithdrawn(this.#db, { studyId, at: now });
      const windows = q.deleteStudy(this.#db, studyId);
      q.deleteSecret(this.#db, deviceSecretName(studyId));
      if (signed) {
        q.insertErasure(this.#db, {
          requestId: signed.request.requestId,
          studyId,
          deviceKeyId: signed.request.deviceKeyId,
          body: JSON.stringify(signed),
          nextAttemptAt: now,
        });
      }
      this.#rewrapAll();
      this.#logger.info({ event: 'store.withdrawn', windows }, 'withdrew from a study on this device');
    })();
    this.#keepOnlyActiveMaster();
    this.#forgetCachedKeys();
    this.#checkpoint();
    this.#db.exec('VACUUM');
    this.#checkpoint();
    return signed;
  }

  #assertNotWithdrawn(studyId: string): void {
    if (q.isWithdrawn(this.#db, studyId)) throw new CandorError('store.withdrawn', 'this study was withdrawn from; nothing more is stored for it');
  }

  isWithdrawn(studyId: string): boolean {
    this.#assertOpen();
    return q.isWithdrawn(this.#db, studyId);
  }

  /** Erasure requests not yet acknowledged, due at `now`. */
  dueErasures(now: number): PendingErasure[] {
    this.#assertOpen();
    return q
      .selectErasures(this.#db)
      .filter((row) => row.acknowledgedAt === null && row.nextAttemptAt <= now)
      .map((row) => ({ request: JSON.parse(row.body) as SignedErasureRequest, attempts: row.attempts, nextAttemptAt: row.nextAttemptAt }));
  }

  deferErasure(requestId: string, attempts: number, nextAttemptAt: number): void {
    this.#assertOpen();
    q.deferErasure(this.#db, { requestId, attempts, nextAttemptAt });
  }

  acknowledgeErasure(requestId: string): void {
    this.#assertOpen();
    q.acknowledgeErasure(this.#db, { requestId, at: this.#now() });
  }

  // --- keys -------------------------------------------------------------------------------

  /**
   * The study-scoped device signing key, made on first use. The caller owns the returned
   * copy and should wipe its secret key when done.
   * @throws CandorError `store.withdrawn` for a study withdrawn from: its key was destroyed,
   * and a new one would sign what no server can verify (an erasure request acknowledged never).
   */
  deviceKey(studyId: string): SigningKeyPair {
    this.#assertOpen();
    this.#assertNotWithdrawn(studyId);
    const name = deviceSecretName(studyId);
    const existing = this.#secret(name);
    if (existing) return signingKeyPairFromSecret(existing.slice());
    const pair = generateSigningKeyPair();
    q.insertSecret(this.#db, { name, wrapped: this.#wrap(name, pair.secretKey) });
    this.#secrets.set(name, pair.secretKey.slice());
    return pair;
  }

  /**
   * Destroys a study's device key, so the next `deviceKey(studyId)` makes a fresh one. For a
   * pairing that did not complete: the server may have registered the key and would refuse it
   * again. The caller makes sure nothing that must still verify was signed with it.
   */
  discardDeviceKey(studyId: string): void {
    this.#assertOpen();
    const name = deviceSecretName(studyId);
    const cached = this.#secrets.get(name);
    if (cached) wipe(cached);
    this.#secrets.delete(name);
    q.deleteSecret(this.#db, name);
  }

  // --- upload side -----------------------------------------------------------------------

  /** Studies with a batch in flight or windows past their hold, in a stable order. */
  studiesToUpload(now: number): string[] {
    this.#assertOpen();
    const studies = new Set([...q.selectBatches(this.#db).map((batch) => batch.studyId), ...q.selectStudiesWithDueWindows(this.#db, now)]);
    return [...studies].sort();
  }

  /** When the next held window becomes due (ms), or null. */
  nextDueAt(): number | null {
    this.#assertOpen();
    const batches = q.selectBatches(this.#db).map((batch) => batch.nextAttemptAt);
    const due = q.selectNextDueAt(this.#db);
    const erasures = q.selectErasures(this.#db).filter((row) => row.acknowledgedAt === null).map((row) => row.nextAttemptAt);
    const all = [...batches, ...erasures, ...(due === null ? [] : [due])];
    return all.length === 0 ? null : Math.min(...all);
  }

  /**
   * The study's batch in flight (null while it waits out its backoff), or a new one made of
   * its due windows. A batch, once made, is
   * persisted with its windows, so a retry after any crash sends the same content under the
   * same id. Windows that do not decrypt and verify are dropped, never sent.
   */
  prepareBatch(studyId: string, now: number): PreparedBatch | null {
    this.#assertOpen();
    const open = q.selectBatches(this.#db).find((batch) => batch.studyId === studyId);
    // A batch waiting out its backoff is not rebuilt (decrypted) on every pass.
    if (open) return open.nextAttemptAt > now ? null : this.#rebuildBatch(open);
    const due = q.selectDueWindows(this.#db, { studyId, now, limit: MAX_BATCH_WINDOWS });
    const version = due[0]?.studyVersion;
    const chosen: { row: q.WindowRow; window: WindowAggregate }[] = [];
    let bytes = 0;
    for (const row of due) {
      if (row.studyVersion !== version) break;
      let window: WindowAggregate;
      try {
        window = this.#openWindow(row);
      } catch (error) {
        if (!(error instanceof CandorError)) throw error;
        this.#dropWindow(row, 'undecryptable');
        continue;
      }
      const size = utf8(canonicalJson(window)).length + 1;
      if (bytes + size > MAX_BATCH_PAYLOAD_BYTES) {
        if (chosen.length === 0) this.#dropWindow(row, 'rejected');
        break;
      }
      bytes += size;
      chosen.push({ row, window });
    }
    const first = chosen[0];
    if (!first) return null;
    const batchId = this.#batchId(chosen.map((item) => item.row.id), chosen.map((item) => item.window));
    const batch: q.BatchRow = { batchId, studyId, studyVersion: first.row.studyVersion, createdAt: now, attempts: 0, nextAttemptAt: now };
    this.#db.transaction(() => {
      q.insertBatch(this.#db, batch);
      for (const { row } of chosen) q.assignWindowToBatch(this.#db, { id: row.id, batchId });
    })();
    return { ...batch, windowCount: chosen.length, payload: batchPayload(batchId, chosen.map((item) => item.window)) };
  }

  /** The server holds the batch: delete the local copy for good. */
  completeBatch(batchId: string): void {
    this.#assertOpen();
    q.deleteBatch(this.#db, batchId);
    this.#afterDeletion();
  }

  /** The server refused the batch for good (4xx): drop it and count its windows. */
  rejectBatch(batchId: string): void {
    this.#assertOpen();
    const batch = q.selectBatch(this.#db, batchId);
    if (!batch) return;
    this.#db.transaction(() => {
      q.addDropped(this.#db, { studyId: batch.studyId, reason: 'rejected', count: q.deleteBatch(this.#db, batchId) });
    })();
    this.#afterDeletion();
  }

  deferBatch(batchId: string, attempts: number, nextAttemptAt: number): void {
    this.#assertOpen();
    q.deferBatch(this.#db, { batchId, attempts, nextAttemptAt });
  }

  /**
   * Makes the study's batch waiting out a backoff due at `now` (its attempts kept): what it waited for has changed.
   * @returns whether a batch was waiting.
   */
  retryBatchNow(studyId: string, now: number): boolean {
    this.#assertOpen();
    const waiting = q.selectBatches(this.#db).find((batch) => batch.studyId === studyId && batch.nextAttemptAt > now);
    if (waiting) q.deferBatch(this.#db, { batchId: waiting.batchId, attempts: waiting.attempts, nextAttemptAt: now });
    return waiting !== undefined;
  }

  /**
   * Keeps the queue within its disk budget and age: the oldest windows go first (a batch in
   * flight goes whole, since its content cannot change), and each is counted.
   * @returns how many windows were dropped.
   */
  enforceBudget(): number {
    this.#assertOpen();
    const cutoff = this.#now() - this.#budget.maxAgeMs;
    const dropped = this.#db.transaction(() => {
      let count = 0;
      for (;;) {
        const oldest = q.selectOldestWindow(this.#db);
        if (!oldest) break;
        const tooOld = oldest.storedAt < cutoff;
        if (!tooOld && q.queueSize(this.#db).bytes <= this.#budget.maxBytes) break;
        const removed = oldest.batchId === null ? (q.deleteWindowById(this.#db, oldest.id), 1) : q.deleteBatch(this.#db, oldest.batchId);
        q.addDropped(this.#db, { studyId: oldest.studyId, reason: tooOld ? 'age' : 'budget', count: removed });
        count += removed;
      }
      return count;
    })();
    if (dropped > 0) {
      this.#logger.warn({ event: 'store.dropped', windows: dropped }, 'dropped the oldest windows to stay within the offline budget');
      this.#afterDeletion();
    }
    return dropped;
  }

  status(): StoreStatus {
    this.#assertOpen();
    const size = q.queueSize(this.#db);
    const dropped: Record<q.DropReason, number> = { budget: 0, age: 0, rejected: 0, undecryptable: 0 };
    for (const row of q.selectDropped(this.#db)) dropped[row.reason] += row.count;
    return {
      keyBackend: this.#keyRing.backend,
      windows: size.windows,
      bytes: size.bytes,
      dropped,
      erasuresAwaitingAck: q.selectErasures(this.#db).filter((row) => row.acknowledgedAt === null).length,
    };
  }

  /** Wipes every key held in memory and closes the database. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#forgetCachedKeys();
    for (const key of this.#sessionKeys.values()) wipe(key.key);
    this.#sessionKeys.clear();
    for (const key of this.#masters.values()) wipe(key.key);
    this.#masters.clear();
    this.#db.close();
  }

  // --- internals ---------------------------------------------------------------------------

  #assertOpen(): void {
    if (this.#closed) throw new InvariantError('the store is closed');
  }

  #master(wrapped: Uint8Array): DataKey {
    const master = this.#masters.get(recordKeyId(wrapped));
    if (!master) throw new CandorError('store.keys-lost', 'a key in the local store is wrapped by a master key that no longer exists');
    return master;
  }

  #wrap(name: string, secret: Uint8Array): Uint8Array {
    return wrapDataKey(this.#activeMaster, { keyId: `secret/${name}`, key: secret });
  }

  #secret(name: string): Uint8Array | undefined {
    const cached = this.#secrets.get(name);
    if (cached) return cached;
    const wrapped = q.selectSecret(this.#db, name);
    if (!wrapped) return undefined;
    const secret = unwrapDataKey(this.#master(wrapped), `secret/${name}`, wrapped).key;
    this.#secrets.set(name, secret);
    return secret;
  }

  #dataKey(keyId: string): Uint8Array | undefined {
    const cached = this.#dataKeys.get(keyId);
    if (cached) return cached.key;
    const wrapped = q.selectWrappedDataKey(this.#db, keyId);
    if (!wrapped) return undefined;
    const key = unwrapDataKey(this.#master(wrapped), keyId, wrapped);
    this.#dataKeys.set(keyId, key);
    return key.key;
  }

  /** Decrypts and validates one window; its clear columns must agree with its content. */
  #openWindow(row: q.WindowRow): WindowAggregate {
    const plaintext = decryptRecord(row.ciphertext, (keyId) => this.#dataKey(keyId), windowAssociatedData(row));
    let json: unknown;
    try {
      json = JSON.parse(fromUtf8(plaintext));
    } finally {
      wipe(plaintext);
    }
    const window = parseUnknown(WindowAggregate, json, 'stored window');
    if (window.studyId !== row.studyId || window.studyVersion !== row.studyVersion || Date.parse(window.windowStart) !== row.windowStart) {
      throw new CandorError('store.mismatch', 'a stored window does not match its row');
    }
    return window;
  }

  #rebuildBatch(batch: q.BatchRow): PreparedBatch | null {
    const rows = q.selectBatchWindows(this.#db, batch.batchId);
    try {
      const windows = rows.map((row) => this.#openWindow(row));
      if (windows.length === 0 || this.#batchId(rows.map((row) => row.id), windows) !== batch.batchId) {
        throw new CandorError('store.mismatch', 'a batch no longer matches its id');
      }
      return { ...batch, windowCount: windows.length, payload: batchPayload(batch.batchId, windows) };
    } catch (error) {
      if (!(error instanceof CandorError)) throw error;
      // Its content can no longer be the content its id names: never send it.
      this.#db.transaction(() => {
        q.addDropped(this.#db, { studyId: batch.studyId, reason: 'undecryptable', count: q.deleteBatch(this.#db, batch.batchId) });
      })();
      this.#afterDeletion();
      return null;
    }
  }

  /** docs/crypto.md: BLAKE2b-256 of the batch's canonical content, keyed with a device secret. */
  #batchId(ids: readonly string[], windows: readonly WindowAggregate[]): string {
    const key = this.#secret(BATCH_ID_SECRET) ?? invariantFailed('batch id secret');
    return toHex(blake2b(utf8(canonicalJson({ ids, windows })), 32, key));
  }

  #dropWindow(row: q.WindowRow, reason: q.DropReason): void {
    this.#db.transaction(() => {
      q.deleteWindowById(this.#db, row.id);
      q.addDropped(this.#db, { studyId: row.studyId, reason, count: 1 });
    })();
    this.#logger.warn({ event: 'store.dropped', reason }, 'dropped a window that cannot be sent');
    this.#afterDeletion();
  }

  #collectKeys(): void {
    const active = [...this.#sessionKeys.values()].map((key) => key.keyId);
    if (q.deleteUnusedDataKeys(this.#db, active) > 0) {
      for (const [keyId, key] of this.#dataKeys) {
        if (!active.includes(keyId) && !q.selectWrappedDataKey(this.#db, keyId)) {
          wipe(key.key);
          this.#dataKeys.delete(keyId);
        }
      }
      this.#checkpoint();
    }
  }

  #afterDeletion(): void {
    this.#collectKeys();
    this.#checkpoint();
  }

  #checkpoint(): void {
    const [result] = this.#db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    if (result?.busy) this.#logger.warn({ event: 'store.checkpoint-busy' }, 'the WAL could not be truncated yet');
  }

  /** Re-wraps every data key and secret under the active master key (inside the caller's transaction). */
  #rewrapAll(): void {
    for (const row of q.selectAllWrapped(this.#db)) {
      const keyId = row.kind === 'data-key' ? row.name : `secret/${row.name}`;
      const key = unwrapDataKey(this.#master(row.wrapped), keyId, row.wrapped);
      q.updateWrapped(this.#db, { ...row, wrapped: wrapDataKey(this.#activeMaster, key) });
      wipe(key.key);
    }
  }

  #keepOnlyActiveMaster(): void {
    this.#keyRing.save([this.#activeMaster]);
    for (const [keyId, key] of this.#masters) {
      if (keyId === this.#activeMaster.keyId) continue;
      wipe(key.key);
      this.#masters.delete(keyId);
    }
  }

  #forgetCachedKeys(): void {
    const session = new Set([...this.#sessionKeys.values()].map((key) => key.keyId));
    for (const [keyId, key] of this.#dataKeys) {
      if (session.has(keyId)) continue;
      wipe(key.key);
      this.#dataKeys.delete(keyId);
    }
    for (const secret of this.#secrets.values()) wipe(secret);
    this.#secrets.clear();
  }
}

function invariantFailed(what: string): never {
  throw new InvariantError(`missing ${what}`);
}

/** Binds a ciphertext to its row: moved to another row (or study), it fails to decrypt. */
function windowAssociatedData(row: { id: string; studyId: string; studyVersion: number }): Uint8Array {
  return utf8(`candor/window/v1/${row.studyId}/${String(row.studyVersion)}/${row.id}`);
}

function batchPayload(batchId: string, windows: readonly WindowAggregate[]): Uint8Array {
  return utf8(canonicalJson({ batchId, windows }));
}
