/**
 * A real freedesktop Secret Service for tests: a private D-Bus session bus, and GNOME Keyring's
 * secrets component on it, unlocked, keeping its keyrings under a temporary directory (never
 * the machine's own). What the agent meets in a desktop session, for `secret-tool` to talk to.
 * Debian packages: dbus, gnome-keyring, libsecret-tools (.ci/debian-packages).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { waitFor } from './wait.ts';

export type SecretService = {
  /** The environment of a process in that desktop session: merge into a child's env. */
  readonly env: Readonly<Record<string, string>>;
  stop(): Promise<void>;
};

function stopped(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => {
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export async function startSecretService(): Promise<SecretService> {
  const root = mkdtempSync(join(tmpdir(), 'candor-keyring-'));
  const runtime = join(root, 'run');
  mkdirSync(runtime, { mode: 0o700 });
  const bus = spawn('dbus-daemon', ['--session', '--nofork', '--print-address=1'], { stdio: ['ignore', 'pipe', 'ignore'] });
  bus.on('error', () => undefined);
  const children: ChildProcess[] = [bus];
  const stop = async (): Promise<void> => {
    for (const child of children.reverse()) await stopped(child);
    rmSync(root, { recursive: true, force: true });
  };
  try {
    const address = await new Promise<string>((resolve, reject) => {
      bus.once('error', reject);
      bus.once('exit', (code) => {
        reject(new Error(`dbus-daemon exited (${String(code)}) before printing its address`));
      });
      createInterface({ input: bus.stdout }).once('line', resolve);
    });
    const env = { DBUS_SESSION_BUS_ADDRESS: address, XDG_DATA_HOME: join(root, 'data'), XDG_RUNTIME_DIR: runtime, HOME: root };
    const keyring = spawn('gnome-keyring-daemon', ['--foreground', '--unlock', '--components=secrets'], { env: { ...process.env, ...env }, stdio: ['pipe', 'ignore', 'ignore'] });
    children.push(keyring);
    // A missing binary or an early exit must fail the start below, not the test process.
    keyring.on('error', () => undefined);
    keyring.stdin.on('error', () => undefined);
    // --unlock reads the login keyring's password from stdin; a new keyring takes it as its own.
    keyring.stdin.end('candor-test-keyring');
    // Asked before this keyring owns the name, the bus would start another (D-Bus activation)
    // outside this directory, whose login keyring is locked; NameHasOwner starts nothing.
    const hasOwner = ['--session', '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.NameHasOwner', 'string:org.freedesktop.secrets'];
    await waitFor(
      () => spawnSync('dbus-send', hasOwner, { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 5_000 }).stdout.includes('boolean true'),
      'GNOME Keyring to own the Secret Service name on the session bus',
      20_000,
    );
    return { env, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
