/**
 * The device master keys, which wrap every data key and device secret in the store. They
 * live in the OS keychain where a real one exists, otherwise in a key file readable only by
 * the user. Usually one key; two for a moment while a withdrawal rotates the master key
 * (the old key is removed once nothing is wrapped under it any more).
 */
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { fromBase64Url, KEY_BYTES, randomId, toBase64Url, type DataKey } from '@candor/shared/crypto';
import { CandorError } from '@candor/shared/errors';
import { Base64Url, RandomId } from '@candor/shared/schemas/primitives';
import { parseUnknown } from '@candor/shared/validation';
import { readKeyFile, writeKeyFile } from './key-file.ts';
import { detectKeychain, readFromKeychain, runSecretTool, writeToKeychain, type KeychainItem, type SecretToolRunner } from './secret-service.ts';

/** Which backend holds the master keys, and why: `candor status` shows this. */
export type KeyBackendInfo =
  | { kind: 'secret-service'; description: string }
  | { kind: 'key-file'; path: string; description: string };

export type KeyRing = {
  readonly backend: KeyBackendInfo;
  /** The stored master keys, oldest first; empty when none was made yet. */
  load(): DataKey[];
  /** Replaces the stored master keys. */
  save(keys: readonly DataKey[]): void;
};

export type KeyRingOptions = {
  /** Where the key file goes when there is no keychain (created 0700). */
  keyDir: string;
  platform?: NodeJS.Platform;
  env?: NodeJS.ProcessEnv;
  runSecretTool?: SecretToolRunner;
};

const KeyRingDocument = z.strictObject({
  v: z.literal(1),
  keys: z.array(z.strictObject({ keyId: RandomId, key: Base64Url.length(Math.ceil((KEY_BYTES * 4) / 3)) })).max(16),
});

function encode(keys: readonly DataKey[]): string {
  return JSON.stringify({ v: 1, keys: keys.map(({ keyId, key }) => ({ keyId, key: toBase64Url(key) })) });
}

function decode(text: string | null, where: string): DataKey[] {
  if (text === null) return [];
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CandorError('keys.unreadable', `the master keys in ${where} are not readable`);
  }
  return parseUnknown(KeyRingDocument, json, `master keys in ${where}`).keys.map(({ keyId, key }) => ({ keyId, key: fromBase64Url(key) }));
}

export const KEY_FILE_NAME = 'master-keys.json';
/** The store's random id, naming its keychain item; in the data dir, so it moves with it. */
export const STORE_ID_FILE = 'keychain-store-id';

/**
 * The id in `keyDir`, made on first use. Never replaced: a new id would lose the keychain
 * item the old one names.
 * @throws CandorError `keys.unreadable` for a file that does not hold an id.
 */
function storeIdIn(keyDir: string): string {
  const path = join(keyDir, STORE_ID_FILE);
  const text = readKeyFile(path);
  if (text === null) {
    const id = randomId();
    writeKeyFile(path, id);
    return id;
  }
  const parsed = RandomId.safeParse(text.trim());
  if (!parsed.success) throw new CandorError('keys.unreadable', `${path} does not hold the store's keychain id; restore it from a backup of this data dir`);
  return parsed.data;
}

/**
 * Picks the keychain when a real one answers, the key file otherwise. A key file left from a
 * time without a keychain moves into one that now works: written, read back and compared,
 * then the file is removed; until all of that succeeds the file stays the one in use.
 * @throws CandorError `keys.insecure-file`, `keys.unreadable` (a key file to move that cannot
 * be read), and from load/save `keys.keychain-write`, `keys.keychain-locked`,
 * `keys.keychain-unavailable`.
 */
export function openKeyRing(options: KeyRingOptions): KeyRing {
  const run = options.runSecretTool ?? runSecretTool;
  const keyDir = resolve(options.keyDir);
  const path = join(keyDir, KEY_FILE_NAME);
  const detection = detectKeychain(options.platform ?? process.platform, options.env ?? process.env, run);
  const fileRing = (reason: string): KeyRing => ({
    backend: { kind: 'key-file', path, description: `a key file readable only by you (${path}), because ${reason}` },
    load: () => decode(readKeyFile(path), path),
    save: (keys) => {
      writeKeyFile(path, encode(keys));
    },
  });
  if (!detection.available) return fileRing(detection.reason);
  const item = { storeId: storeIdIn(keyDir), label: keyDir };
  const keychain: KeyRing = {
    backend: { kind: 'secret-service', description: 'the desktop keyring (Secret Service)' },
    load: () => decode(readFromKeychain(run, item), 'the desktop keyring'),
    save: (keys) => {
      if (!writeToKeychain(run, item, encode(keys))) {
        throw new CandorError('keys.keychain-write', 'the desktop keyring refused to store the master key (is it locked?)');
      }
    },
  };
  const inFile = readKeyFile(path);
  if (inFile === null) return keychain;
  const keys = decode(inFile, path);
  if (!writeToKeychain(run, item, encode(keys)) || readBackOrNull(run, item) !== encode(keys)) {
    return fileRing('the desktop keyring did not take the keys from the key file');
  }
  rmSync(path);
  return keychain;
}

/** What the keychain gives back for `item`; null for anything short of the document. */
function readBackOrNull(run: SecretToolRunner, item: KeychainItem): string | null {
  try {
    return readFromKeychain(run, item);
  } catch {
    return null;
  }
}
