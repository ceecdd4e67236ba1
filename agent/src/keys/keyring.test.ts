import { chmodSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateDataKey } from '@candor/shared/crypto';
import { CandorError } from '@candor/shared/errors';
import { KEY_FILE_NAME, openKeyRing, STORE_ID_FILE } from './keyring.ts';
import { detectKeychain, type CommandResult, type SecretToolRunner } from './secret-service.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function keyDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'candor-keys-'));
  dirs.push(dir);
  return join(dir, 'keys');
}

const ok = (stdout = ''): CommandResult => ({ status: 0, stdout, stderr: '' });
const failed = (stderr = 'error'): CommandResult => ({ status: 1, stdout: '', stderr });

/**
 * A scripted stand-in for `secret-tool`: no Secret Service can run in this test environment.
 * `behaviour` decides how it deviates from a working keyring.
 */
function scriptedSecretTool(behaviour: 'works' | 'missing' | 'locked' | 'returns-other'): { run: SecretToolRunner; items: Map<string, string> } {
  const items = new Map<string, string>();
  const run: SecretToolRunner = (args, input) => {
    if (behaviour === 'missing') return { status: null, stdout: '', stderr: '' };
    const [command, ...rest] = args;
    const attributes = rest.filter((arg) => !arg.startsWith('--')).join(' ');
    switch (command) {
      case 'store':
        if (behaviour === 'locked') return failed('Cannot create an item in a locked collection');
        items.set(attributes, input ?? '');
        return ok();
      case 'lookup': {
        const value = items.get(attributes);
        if (value === undefined) return failed('');
        return ok(behaviour === 'returns-other' ? 'something else' : value);
      }
      case 'search':
        // Lists the matching item (a locked one without its secret), nothing when none matches.
        return ok(items.has(attributes) ? '[/1]\nlabel = Candor agent master keys\n' : '');
      case 'clear':
        items.delete(attributes);
        return ok();
      case undefined:
      default:
        return failed('unknown command');
    }
  };
  return { run, items };
}

describe('the key file backend', () => {
  it('keeps the master keys in a file only its owner can read, in a directory only its owner can enter', () => {
    const dir = keyDir();
    const ring = openKeyRing({ keyDir: dir, env: {} });
    const key = generateDataKey();
    ring.save([key]);
    expect(ring.backend.kind).toBe('key-file');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, KEY_FILE_NAME)).mode & 0o777).toBe(0o600);
    expect(ring.load()).toEqual([key]);
  });

  it('says why no keychain is used, for candor status', () => {
    expect(openKeyRing({ keyDir: keyDir(), env: {} }).backend.description).toMatch(/key file readable only by you .* because there is no D-Bus session bus/);
  });

  it.each([
    ['the key file', (dir: string) => join(dir, KEY_FILE_NAME), 0o644, /chmod 600/],
    ['the key directory', (dir: string) => dir, 0o755, /chmod 700/],
  ])('refuses to use keys when %s is open to other users', (_, pathOf, mode, fix) => {
    const dir = keyDir();
    openKeyRing({ keyDir: dir, env: {} }).save([generateDataKey()]);
    chmodSync(pathOf(dir), mode);
    expect(() => openKeyRing({ keyDir: dir, env: {} }).load()).toThrow(fix);
    expect(() => openKeyRing({ keyDir: dir, env: {} }).load()).toThrow(CandorError);
  });

  it('reports a key file that is not a key ring without echoing its contents', () => {
    const dir = keyDir();
    const ring = openKeyRing({ keyDir: dir, env: {} });
    ring.save([generateDataKey()]);
    writeFileSync(join(dir, KEY_FILE_NAME), '{"v":1,"keys":[{"keyId":"secret-looking-value","key":"x"}]}');
    expect(() => ring.load()).toThrow(/invalid master keys in .*: keys\[0\]\.keyId/);
    expect(() => ring.load()).not.toThrow(/secret-looking-value/);
    writeFileSync(join(dir, KEY_FILE_NAME), 'not json at all');
    expect(() => ring.load()).toThrow(/are not readable/);
  });
});

describe('keychain detection (with a scripted stand-in for secret-tool)', () => {
  const bus = { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/run/user/1000/bus' };
  it.each([
    ['macOS, not yet integrated', 'darwin', bus, 'works', /no keychain integration for darwin/],
    ['no session bus', 'linux', {}, 'works', /no D-Bus session bus/],
    ['secret-tool not installed', 'linux', bus, 'missing', /not installed/],
    ['a locked or absent keyring', 'linux', bus, 'locked', /refused a secret/],
    ['a keyring that does not return what it stored', 'linux', bus, 'returns-other', /did not return/],
  ] as const)('finds no keychain: %s', (_, platform, env, behaviour, reason) => {
    const detection = detectKeychain(platform, env, scriptedSecretTool(behaviour).run);
    expect(detection.available).toBe(false);
    expect(detection.available ? '' : detection.reason).toMatch(reason);
  });

  it('uses a working Secret Service, leaves no key file and cleans up its probe', () => {
    const dir = keyDir();
    const tool = scriptedSecretTool('works');
    const ring = openKeyRing({ keyDir: dir, platform: 'linux', env: bus, runSecretTool: tool.run });
    expect(ring.backend.kind).toBe('secret-service');
    const key = generateDataKey();
    ring.save([key]);
    expect(ring.load()).toEqual([key]);
    const storeId = readFileSync(join(dir, STORE_ID_FILE), 'utf8');
    expect([...tool.items.keys()]).toEqual([`service candor-agent purpose master-keys store ${storeId}`]);
    expect(statSync(join(dir, STORE_ID_FILE)).mode & 0o777).toBe(0o600);
    expect(existsSync(join(dir, KEY_FILE_NAME))).toBe(false);
  });

  it('finds the keys of a data dir moved elsewhere: its item is named by an id kept inside it', () => {
    const dir = keyDir();
    const tool = scriptedSecretTool('works');
    const key = generateDataKey();
    openKeyRing({ keyDir: dir, platform: 'linux', env: bus, runSecretTool: tool.run }).save([key]);
    const moved = `${dir}-moved`;
    renameSync(dir, moved);
    dirs.push(moved);
    expect(openKeyRing({ keyDir: moved, platform: 'linux', env: bus, runSecretTool: tool.run }).load()).toEqual([key]);
  });

  it('refuses a damaged store id rather than make a new one, which would lose the keys', () => {
    const dir = keyDir();
    const tool = scriptedSecretTool('works');
    openKeyRing({ keyDir: dir, platform: 'linux', env: bus, runSecretTool: tool.run }).save([generateDataKey()]);
    writeFileSync(join(dir, STORE_ID_FILE), 'not an id', { mode: 0o600 });
    expect(() => openKeyRing({ keyDir: dir, platform: 'linux', env: bus, runSecretTool: tool.run })).toThrow(/does not hold the store's keychain id/);
    expect(readFileSync(join(dir, STORE_ID_FILE), 'utf8')).toBe('not an id');
  });

  it('keeps each data dir\'s keys apart: saving one never replaces another\'s', () => {
    const tool = scriptedSecretTool('works');
    const [first, second] = [keyDir(), keyDir()].map((dir) => openKeyRing({ keyDir: dir, platform: 'linux', env: bus, runSecretTool: tool.run }));
    const [one, two] = [generateDataKey(), generateDataKey()];
    first?.save([one]);
    second?.save([two]);
    expect(first?.load()).toEqual([one]);
    expect(second?.load()).toEqual([two]);
  });

  it('moves a key file made when there was no keychain into one that now works, and removes the file', () => {
    const dir = keyDir();
    const key = generateDataKey();
    openKeyRing({ keyDir: dir, env: {} }).save([key]);
    const tool = scriptedSecretTool('works');
    const ring = openKeyRing({ keyDir: dir, platform: 'linux', env: bus, runSecretTool: tool.run });
    expect(ring.backend.kind).toBe('secret-service');
    expect(ring.load()).toEqual([key]);
    expect(existsSync(join(dir, KEY_FILE_NAME))).toBe(false);
  });

  it.each([
    ['keeps the item locked', 'keys.keychain-locked', (result: CommandResult) => (result.status === 0 ? failed('') : result)],
    ['does not answer in time', 'keys.keychain-unavailable', () => ({ status: null, stdout: '', stderr: '' })],
    ['fails on D-Bus', 'keys.keychain-unavailable', () => failed('secret-tool: Could not connect: No such file or directory')],
  ])('does not take a keychain that %s for one without the key: load throws %s, and no fresh key is written', (_, code, lookup) => {
    const dir = keyDir();
    const tool = scriptedSecretTool('works');
    const key = generateDataKey();
    openKeyRing({ keyDir: dir, platform: 'linux', env: bus, runSecretTool: tool.run }).save([key]);
    const stored = [...tool.items.values()];
    const run: SecretToolRunner = (args, input) => {
      const result = tool.run(args, input);
      return args[0] === 'lookup' && args.includes('master-keys') ? lookup(result) : result;
    };
    const ring = openKeyRing({ keyDir: dir, platform: 'linux', env: bus, runSecretTool: run });
    expect(ring.backend.kind).toBe('secret-service');
    expect(() => ring.load()).toThrow(expect.objectContaining({ code }));
    expect(() => ring.load()).toThrow(/Nothing was read, changed or deleted/);
    expect([...tool.items.values()]).toEqual(stored);
  });

  it('loads no keys only when the keychain answered that it has none', () => {
    const tool = scriptedSecretTool('works');
    expect(openKeyRing({ keyDir: keyDir(), platform: 'linux', env: bus, runSecretTool: tool.run }).load()).toEqual([]);
  });

  it('keeps using the key file when the keychain does not take its keys back faithfully', () => {
    const dir = keyDir();
    const key = generateDataKey();
    openKeyRing({ keyDir: dir, env: {} }).save([key]);
    const tool = scriptedSecretTool('works');
    // The probe round-trips; the master keys come back changed.
    const run: SecretToolRunner = (args, input) => {
      const result = tool.run(args, input);
      return args[0] === 'lookup' && args.includes('master-keys') ? { ...result, stdout: '{"v":1,"keys":[]}' } : result;
    };
    const ring = openKeyRing({ keyDir: dir, platform: 'linux', env: bus, runSecretTool: run });
    expect(ring.backend.kind).toBe('key-file');
    expect(ring.backend.description).toMatch(/did not take the keys from the key file/);
    expect(ring.load()).toEqual([key]);
  });
});
