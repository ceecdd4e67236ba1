/**
 * Each process keeps its own secrets in its own file, readable only by its user (0600),
 * written atomically and synced. The API server's file holds only its Ed25519 signing keys;
 * study keys and the master key that wraps participant keys live only in the aggregator's file.
 * A file is changed only under its lock file (`<file>.lock`, created exclusively), since the
 * running processes and `candor-server keys rotate` change the same files: without it, one
 * change read before another was written would undo it. docs/server.md says how each is rotated.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { z } from 'zod';
import { endorseServerKey, ServerKeyEndorsement } from '@candor/shared/endorsement';
import { CandorError } from '@candor/shared/errors';
import { parseUnknown } from '@candor/shared/validation';
import { Base64Url, KeyId, Slug, UtcTimestamp } from '@candor/shared/schemas/primitives';
import {
  fromBase64Url,
  generateDataKey,
  generateSealingKeyPair,
  generateSigningKeyPair,
  sealingKeyPairFromSecret,
  signingKeyPairFromSecret,
  toBase64Url,
  type DataKey,
  type SealingKeyPair,
  type SigningKeyPair,
} from '@candor/shared/crypto';

const SigningKeyEntry = z.strictObject({ keyId: KeyId, secretKey: Base64Url, createdAt: UtcTimestamp, retiredAt: UtcTimestamp.nullable() });
// Endorsements came after the first files were written: a file without them has none (its
// agents pinned before any rotation that made one, and re-pair if a rotation came between).
const ServerKeyFile = z.strictObject({
  kind: z.literal('candor.server-keys/1'),
  signing: z.array(SigningKeyEntry).min(1),
  endorsements: z.array(ServerKeyEndorsement).default([]),
});
type ServerKeyFile = z.infer<typeof ServerKeyFile>;

const StudyKeyEntry = z.strictObject({ studyId: Slug, keyId: KeyId, secretKey: Base64Url, createdAt: UtcTimestamp, retiredAt: UtcTimestamp.nullable() });
const AggregatorKeyFile = z.strictObject({
  kind: z.literal('candor.aggregator-keys/1'),
  masterKeys: z.array(z.strictObject({ keyId: z.string().min(1).max(64), key: Base64Url, createdAt: UtcTimestamp })).min(1),
  studies: z.array(StudyKeyEntry),
});
type AggregatorKeyFile = z.infer<typeof AggregatorKeyFile>;

function writeSecretFile(file: string, value: unknown): void {
  const temporary = `${file}.${String(process.pid)}.tmp`;
  const fd = openSync(temporary, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(value, null, 2));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, file);
}

/** How long a change waits for another process's, and how old a lock must be to count as left by a process that died. */
const LOCK_WAIT_MS = 10_000;
const STALE_LOCK_MS = 60_000;
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Runs `change` holding `<file>.lock`. Key changes are rare and quick, so a wait blocks.
 * @throws CandorError `keys.busy` when another process holds the lock past LOCK_WAIT_MS.
 */
function underLock<T>(file: string, change: () => T): T {
  const lock = `${file}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx', 0o600));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const age = existsSync(lock) ? Date.now() - statSync(lock).mtimeMs : 0;
    if (age > STALE_LOCK_MS) rmSync(lock, { force: true });
    else if (Date.now() > deadline) throw new CandorError('keys.busy', `${file} is being changed by another process; try again (or, if no Candor process runs, remove ${lock})`);
    else Atomics.wait(pause, 0, 0, 10);
  }
  try {
    return change();
  } finally {
    rmSync(lock, { force: true });
  }
}

/** @throws CandorError `keys.unreadable` when the file exists but is not a key file. */
function readSecretFile<S extends z.ZodType>(file: string, schema: S): z.output<S> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new CandorError('keys.unreadable', `cannot read key file ${file}`, { cause });
  }
  try {
    return parseUnknown(schema, JSON.parse(text) as unknown, `key file ${file}`);
  } catch (cause) {
    throw new CandorError('keys.unreadable', `key file ${file} is not a Candor key file`, { cause });
  }
}

export type ServerKeys = {
  /** The key that signs now: receipts' countersignatures, audit checkpoints, erasure acknowledgements. */
  current: SigningKeyPair;
  /** Public halves of every key ever used, so old checkpoints and acks still verify after rotation. */
  publicKeys: ReadonlyMap<string, Uint8Array>;
  /** Each rotation's endorsement of the new key by the old, oldest first: the chain agents walk. */
  endorsements: readonly ServerKeyEndorsement[];
};

function serverKeysOf(file: ServerKeyFile): ServerKeys {
  const pairs = file.signing.map((entry) => ({ entry, pair: signingKeyPairFromSecret(fromBase64Url(entry.secretKey)) }));
  const active = pairs.filter(({ entry }) => entry.retiredAt === null).at(-1);
  if (!active) throw new CandorError('keys.unreadable', 'server key file has no active signing key');
  return { current: active.pair, publicKeys: new Map(pairs.map(({ pair }) => [pair.keyId, pair.publicKey])), endorsements: file.endorsements };
}

/** Loads the API server's keys, creating the file with a fresh key on first start. @throws CandorError `keys.unreadable`. */
export function loadOrCreateServerKeys(file: string, now = new Date()): ServerKeys {
  if (!existsSync(file)) {
    underLock(file, () => {
      if (existsSync(file)) return;
      const pair = generateSigningKeyPair();
      writeSecretFile(file, {
        kind: 'candor.server-keys/1',
        signing: [{ keyId: pair.keyId, secretKey: toBase64Url(pair.secretKey), createdAt: now.toISOString(), retiredAt: null }],
        endorsements: [],
      } satisfies ServerKeyFile);
    });
  }
  return serverKeysOf(readSecretFile(file, ServerKeyFile));
}

/**
 * Adds a new signing key, endorsed by the key that signs now, and retires the old ones (their
 * public halves stay for verification). Paired agents follow the endorsement to the new key.
 * @throws CandorError `keys.unreadable`.
 */
export function rotateServerSigningKey(file: string, now = new Date()): { retired: string[]; current: string } {
  return underLock(file, () => rotateServerSigningKeyLocked(file, now));
}

function rotateServerSigningKeyLocked(file: string, now: Date): { retired: string[]; current: string } {
  const keys = readSecretFile(file, ServerKeyFile);
  const outgoing = serverKeysOf(keys).current;
  const pair = generateSigningKeyPair();
  const at = now.toISOString();
  const retired = keys.signing.filter((entry) => entry.retiredAt === null).map((entry) => entry.keyId);
  writeSecretFile(file, {
    kind: 'candor.server-keys/1',
    signing: [
      ...keys.signing.map((entry) => ({ ...entry, retiredAt: entry.retiredAt ?? at })),
      { keyId: pair.keyId, secretKey: toBase64Url(pair.secretKey), createdAt: at, retiredAt: null },
    ],
    endorsements: [...keys.endorsements, endorseServerKey(outgoing, pair, now)],
  } satisfies ServerKeyFile);
  return { retired, current: pair.keyId };
}

export type AggregatorKeys = {
  masterKeys: readonly DataKey[];
  /** The newest master key wraps new participant keys; older ones still unwrap until re-wrapped. */
  currentMaster: DataKey;
  studyKeys: ReadonlyMap<string, SealingKeyPair & { studyId: string; retired: boolean }>;
};

function aggregatorKeysOf(file: AggregatorKeyFile): AggregatorKeys {
  const masterKeys = file.masterKeys.map((entry) => ({ keyId: entry.keyId, key: fromBase64Url(entry.key) }));
  const currentMaster = masterKeys.at(-1);
  if (!currentMaster) throw new CandorError('keys.unreadable', 'aggregator key file has no master key');
  const studyKeys = new Map(
    file.studies.map((entry) => {
      const pair = sealingKeyPairFromSecret(fromBase64Url(entry.secretKey));
      return [pair.keyId, { ...pair, studyId: entry.studyId, retired: entry.retiredAt !== null }] as const;
    }),
  );
  return { masterKeys, currentMaster, studyKeys };
}

/** @throws CandorError `keys.unreadable`. */
export function loadOrCreateAggregatorKeys(file: string, now = new Date()): AggregatorKeys {
  if (!existsSync(file)) {
    underLock(file, () => {
      if (existsSync(file)) return;
      const master = generateDataKey();
      writeSecretFile(file, {
        kind: 'candor.aggregator-keys/1',
        masterKeys: [{ keyId: master.keyId, key: toBase64Url(master.key), createdAt: now.toISOString() }],
        studies: [],
      } satisfies AggregatorKeyFile);
    });
  }
  return aggregatorKeysOf(readSecretFile(file, AggregatorKeyFile));
}

/** Creates a study's sealing key pair in the aggregator's file and returns it. @throws CandorError `keys.unreadable`. */
export function addStudyKey(file: string, studyId: string, now = new Date()): SealingKeyPair {
  return underLock(file, () => {
    const keys = readSecretFile(file, AggregatorKeyFile);
    const pair = generateSealingKeyPair();
    const at = now.toISOString();
    writeSecretFile(file, {
      ...keys,
      studies: [
        ...keys.studies.map((entry) => (entry.studyId === studyId ? { ...entry, retiredAt: entry.retiredAt ?? at } : entry)),
        { studyId, keyId: pair.keyId, secretKey: toBase64Url(pair.secretKey), createdAt: at, retiredAt: null },
      ],
    } satisfies AggregatorKeyFile);
    return pair;
  });
}

/** Adds a new master key; the aggregator re-wraps every participant key under it on its next pass. @throws CandorError `keys.unreadable`. */
export function addMasterKey(file: string, now = new Date()): string {
  return underLock(file, () => {
    const keys = readSecretFile(file, AggregatorKeyFile);
    const master = generateDataKey();
    writeSecretFile(file, { ...keys, masterKeys: [...keys.masterKeys, { keyId: master.keyId, key: toBase64Url(master.key), createdAt: now.toISOString() }] });
    return master.keyId;
  });
}

/**
 * Drops the master keys older than `wrappingKeyId`, once every participant key is wrapped under
 * it; a key added after it (a rotation that landed meanwhile) stays. @throws CandorError `keys.unreadable`.
 */
export function dropOldMasterKeys(file: string, wrappingKeyId: string): void {
  underLock(file, () => {
    const keys = readSecretFile(file, AggregatorKeyFile);
    const from = keys.masterKeys.findIndex((entry) => entry.keyId === wrappingKeyId);
    if (from > 0) writeSecretFile(file, { ...keys, masterKeys: keys.masterKeys.slice(from) });
  });
}
