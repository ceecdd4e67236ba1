/**
 * The Linux keychain: the freedesktop Secret Service (GNOME Keyring, KWallet…) through
 * `secret-tool` from libsecret-tools. It is detected, never assumed: the tool must exist, a
 * session bus must be there, and a probe secret must round-trip (a locked or absent service
 * fails the probe). A keychain that stores secrets in plaintext (Electron's `basic_text`
 * backend on Linux) would count as none; the agent runs in plain Node and never uses it.
 */
import { spawnSync } from 'node:child_process';
import { randomId } from '@candor/shared/crypto';
import { CandorError } from '@candor/shared/errors';

export type CommandResult = { status: number | null; stdout: string; stderr: string };
/** Runs `secret-tool` with `args`, feeding `input` on stdin. Injectable so detection is testable. */
export type SecretToolRunner = (args: readonly string[], input?: string) => CommandResult;

const TIMEOUT_MS = 5_000;
const ATTRIBUTES = ['service', 'candor-agent'] as const;

export const runSecretTool: SecretToolRunner = (args, input) => {
  const result = spawnSync('secret-tool', [...args], { input: input ?? '', encoding: 'utf8', timeout: TIMEOUT_MS });
  // status is null when the tool is missing (ENOENT) or was killed by the timeout.
  return { status: result.error ? null : result.status, stdout: result.stdout, stderr: result.stderr };
};

export type KeychainDetection = { available: true } | { available: false; reason: string };

/** Whether a real, unlocked keychain can hold the master keys on this machine, and if not, why. */
export function detectKeychain(platform: NodeJS.Platform, env: NodeJS.ProcessEnv, run: SecretToolRunner): KeychainDetection {
  if (platform !== 'linux') {
    return { available: false, reason: `the agent has no keychain integration for ${platform} yet` };
  }
  if (!env.DBUS_SESSION_BUS_ADDRESS) return { available: false, reason: 'there is no D-Bus session bus, so no Secret Service' };
  const probe = randomId();
  // Its own item: two agents starting at once must not read back, or clear, each other's probe.
  const attributes = [...ATTRIBUTES, 'purpose', 'probe', 'probe-id', probe];
  // secret-tool has no --version (Debian's 0.20 exits 2 on it): the probe itself tells.
  const stored = run(['store', '--label=Candor agent probe', ...attributes], probe);
  if (stored.status === null) return { available: false, reason: `secret-tool (libsecret-tools) is not installed, or the Secret Service did not answer within ${String(TIMEOUT_MS / 1000)} s` };
  if (stored.status !== 0) {
    return { available: false, reason: 'the Secret Service refused a secret (no keyring running, or it is locked)' };
  }
  const readBack = run(['lookup', ...attributes]);
  run(['clear', ...attributes]);
  if (readBack.status !== 0 || readBack.stdout.trim() !== probe) {
    return { available: false, reason: 'the Secret Service did not return the secret it was given' };
  }
  return { available: true };
}

/**
 * Where one store's master keys are: its item, named by the store's own random id (kept in its
 * data dir, so it moves with it), so that two agents of one user (a second `--data-dir`) never
 * share, or rotate away, each other's keys. `label` is for people browsing their keyring.
 */
export type KeychainItem = { storeId: string; label: string };

const masterAttributes = (item: KeychainItem): string[] => [...ATTRIBUTES, 'purpose', 'master-keys', 'store', item.storeId];

const UNTOUCHED = 'Nothing was read, changed or deleted.';

/**
 * The stored key-ring document, or null when the keychain holds none for the store. Only a
 * keychain that answered, and had no such item, gives null: a store whose key is there but
 * out of reach must not be taken for one whose key is gone, whose last resort (moving it aside,
 * a fresh key under the same item) would lose the key for good.
 * @throws CandorError `keys.keychain-locked` when the item is there but locked,
 * `keys.keychain-unavailable` when the keychain did not answer.
 */
export function readFromKeychain(run: SecretToolRunner, item: KeychainItem): string | null {
  const attributes = masterAttributes(item);
  const result = run(['lookup', ...attributes]);
  if (result.status === 0 && result.stdout.trim() !== '') return result.stdout.trim();
  if (result.status === 1 && result.stderr.trim() === '') {
    // `lookup` says nothing both when no item matches and when the one that does is locked;
    // `search` lists a locked item (without its secret). Its output is only looked at, never kept.
    const search = run(['search', ...attributes]);
    if (search.status === 0 && search.stdout.trim() === '') return null;
    if (search.status === 0 && /^\[/m.test(search.stdout)) {
      throw new CandorError(
        'keys.keychain-locked',
        `the desktop keyring holds the local store's master key but keeps it locked: unlock the keyring (log in to the desktop, or open it in your keyring app) and start the agent again. ${UNTOUCHED}`,
      );
    }
  }
  throw new CandorError(
    'keys.keychain-unavailable',
    `the desktop keyring did not answer when asked for the local store's master key (it may still be starting): start the agent again in a moment. ${UNTOUCHED}`,
  );
}

/** @returns false when the keychain refused the write. */
export function writeToKeychain(run: SecretToolRunner, item: KeychainItem, document: string): boolean {
  return run(['store', `--label=Candor agent master keys (${item.label})`, ...masterAttributes(item)], document).status === 0;
}
