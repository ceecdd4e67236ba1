/**
 * The master key in a real desktop keyring (tests/support/secret-service.ts: a private D-Bus
 * session bus and GNOME Keyring, unlocked), with real `candor daemon` processes replaying a
 * recording. The key is kept there, one item per data dir, and no key file is written; a
 * daemon started outside the desktop session (no bus) is refused with where its key is and
 * changes nothing; a key file made when there was no keyring moves into it; and one data
 * dir's withdrawal, which rotates its master key, leaves another's keys alone. Last, what
 * the real `secret-tool` answers when the key's item is there, absent, locked, or the keyring
 * is gone is read as such: only "absent" may ever lead to a fresh key.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../agent/src/control/client.ts';
import { KEY_FILE_NAME, STORE_ID_FILE } from '../../agent/src/keys/keyring.ts';
import { readFromKeychain, runSecretTool, writeToKeychain } from '../../agent/src/keys/secret-service.ts';
import { startSecretService, type SecretService } from '../support/secret-service.ts';
import { waitFor } from '../support/wait.ts';
import { CANDOR, CODING, LIVENESS_MS, connectWhenAnswering, runCandor } from './paired-agent.ts';

const STUDIES = new URL('../../seeds/studies', import.meta.url).pathname;
const STUDY = 'coding-practice';

let root: string;
let keyring: SecretService;
const running = new Set<ChildProcess>();

/** This process's environment without a session bus: a daemon started over ssh or by a system service. */
function outsideDesktop(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['DBUS_SESSION_BUS_ADDRESS'];
  return env;
}

function spawnDaemon(dataDir: string, inDesktop: boolean): ChildProcess {
  const env = inDesktop ? { ...outsideDesktop(), ...keyring.env } : outsideDesktop();
  const child = spawn(process.execPath, [CANDOR, 'daemon', '--data-dir', dataDir, '--source', `replay:${CODING}`, '--studies', STUDIES], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** A daemon answering on its socket, and how to stop it as the participant's session ends (SIGTERM). */
async function startDaemon(dataDir: string, inDesktop: boolean): Promise<{ client: ControlClient; stop: () => Promise<void> }> {
  const child = spawnDaemon(dataDir, inDesktop);
  const connected = await connectWhenAnswering(dataDir, () => {
    if (child.exitCode !== null) throw new Error(`the daemon exited (${String(child.exitCode)})`);
  });
  return {
    client: connected,
    stop: async () => {
      connected.close();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Consents, captures a little of the recording and stops: the windows wait, encrypted, for the study's hold. */
async function captureSome(client: ControlClient): Promise<number> {
  const notice = await client.call('notice', { studyId: STUDY });
  await client.call('enroll', { studyId: STUDY, noticeHash: notice.noticeHash });
  await client.call('start', {});
  await waitFor(async () => (await client.call('status', {})).eventsAccepted > 10, 'replayed events to be captured', LIVENESS_MS);
  await client.call('stop', {});
  const held = (await client.call('status', {})).storage.windowsHeld;
  expect(held).toBeGreaterThan(0);
  return held;
}

/** The keyring's item for a data dir, as `secret-tool` finds it, or null. */
function keyringItem(dataDir: string): string | null {
  const storeId = readFileSync(join(dataDir, STORE_ID_FILE), 'utf8');
  const found = spawnSync('secret-tool', ['lookup', 'service', 'candor-agent', 'purpose', 'master-keys', 'store', storeId], { env: { ...outsideDesktop(), ...keyring.env }, encoding: 'utf8' });
  return found.status === 0 && found.stdout.trim() !== '' ? found.stdout.trim() : null;
}

/** Every file under `dir` with a hash of its bytes: what "changed nothing" is checked against. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => {
        const path = join(entry.parentPath, entry.name);
        return [path, createHash('sha256').update(readFileSync(path)).digest('hex')];
      }),
  );
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'candor-keychain-'));
  keyring = await startSecretService();
}, LIVENESS_MS);

afterAll(async () => {
  for (const child of running) child.kill('SIGKILL');
  await keyring.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('the master key in a real desktop keyring', () => {
  const first = (): string => join(root, 'first');
  const second = (): string => join(root, 'second');
  let firstHeld = 0;

  it('is kept there, one item for this data dir, and no key file is written', async () => {
    const daemon = await startDaemon(first(), true);
    firstHeld = await captureSome(daemon.client);
    const status = await runCandor(first(), 'status');
    expect(status.stdout).toContain('Master key kept in the desktop keyring (Secret Service).');
    await daemon.stop();
    expect(keyringItem(first())).toMatch(/^\{"v":1,"keys":\[/);
    expect(existsSync(join(first(), KEY_FILE_NAME))).toBe(false);
  }, 2 * LIVENESS_MS);

  it('is looked for, not given up, by a daemon started outside the desktop session: refused with where the key is, nothing changed', async () => {
    const before = snapshot(first());
    const child = spawnDaemon(first(), false);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(4);
    expect(stderr).toContain('start the agent in your desktop session, where the keyring is reachable and unlocked');
    expect(stderr).toContain('Nothing was read, changed or deleted');
    expect(stderr).not.toMatch(/\bat \S+ \(/);
    // No key file was made for a new, empty key ring, and the store is as it was.
    expect(existsSync(join(first(), KEY_FILE_NAME))).toBe(false);
    expect(snapshot(first())).toEqual(before);
    // Back in the desktop session, everything is there.
    const daemon = await startDaemon(first(), true);
    expect((await daemon.client.call('status', {})).storage.windowsHeld).toBe(firstHeld);
    await daemon.stop();
  }, 2 * LIVENESS_MS);

  it('takes over a key file made when there was no keyring, and the windows stay readable', async () => {
    const outside = await startDaemon(second(), false);
    const held = await captureSome(outside.client);
    expect((await outside.client.call('status', {})).storage.keyBackend.kind).toBe('key-file');
    await outside.stop();
    expect(existsSync(join(second(), KEY_FILE_NAME))).toBe(true);

    const inside = await startDaemon(second(), true);
    const status = await inside.client.call('status', {});
    expect(status.storage.keyBackend.kind).toBe('secret-service');
    expect(status.storage.windowsHeld).toBe(held);
    // Each pending window is decrypted and verified to be described.
    expect(await inside.client.call('pending', {})).toHaveLength(held);
    expect(existsSync(join(second(), KEY_FILE_NAME))).toBe(false);
    expect(keyringItem(second())).not.toBe(keyringItem(first()));

    // Withdrawal rotates this data dir's master key in the keyring; the other's stays readable.
    expect((await inside.client.call('withdraw', { studyId: STUDY })).state).toBe('not-enrolled');
    await inside.stop();
    const other = await startDaemon(first(), true);
    expect(await other.client.call('pending', {})).toHaveLength(firstHeld);
    await other.stop();
  }, 3 * LIVENESS_MS);
});

describe('the key read back from a real desktop keyring', () => {
  const item = { storeId: 'read-back-check', label: 'read-back check' };
  const inDesktop = <T>(read: () => T): T => {
    const saved = { ...process.env };
    Object.assign(process.env, keyring.env);
    try {
      return read();
    } finally {
      for (const name of Object.keys(keyring.env)) {
        if (saved[name] === undefined) Reflect.deleteProperty(process.env, name);
        else process.env[name] = saved[name];
      }
    }
  };

  it('is the document when there, none when absent, and never taken for absent when locked or unreachable', async () => {
    expect(inDesktop(() => readFromKeychain(runSecretTool, item))).toBeNull();
    expect(inDesktop(() => writeToKeychain(runSecretTool, item, '{"v":1,"keys":[]}'))).toBe(true);
    expect(inDesktop(() => readFromKeychain(runSecretTool, item))).toBe('{"v":1,"keys":[]}');

    // The participant's keyring locked again (a screen lock that locks it, or by hand).
    const locked = spawnSync(
      'dbus-send',
      ['--session', '--print-reply', '--dest=org.freedesktop.secrets', '/org/freedesktop/secrets', 'org.freedesktop.Secret.Service.Lock', 'array:objpath:/org/freedesktop/secrets/collection/login'],
      { env: { ...outsideDesktop(), ...keyring.env }, encoding: 'utf8' },
    );
    expect(locked.status).toBe(0);
    expect(() => inDesktop(() => readFromKeychain(runSecretTool, item))).toThrow(expect.objectContaining({ code: 'keys.keychain-locked' }));

    await keyring.stop();
    expect(() => inDesktop(() => readFromKeychain(runSecretTool, item))).toThrow(expect.objectContaining({ code: 'keys.keychain-unavailable' }));
  });
});
