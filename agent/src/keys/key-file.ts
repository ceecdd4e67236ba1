/**
 * The fallback when there is no real keychain: a key file readable only by its owner (0600)
 * in a directory only its owner can enter (0700). Written atomically (temporary file, fsync,
 * rename, fsync of the directory) so a kill never leaves half a key ring behind.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync, chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CandorError } from '@candor/shared/errors';

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

function isMissing(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === 'ENOENT';
}

function assertPrivate(path: string, kind: 'file' | 'directory'): void {
  const stat = statSync(path);
  const loose = stat.mode & 0o077;
  const owner = process.getuid?.();
  if (loose !== 0 || (owner !== undefined && stat.uid !== owner)) {
    const fix = kind === 'file' ? 'chmod 600' : 'chmod 700';
    throw new CandorError(
      'keys.insecure-file',
      `the key ${kind} ${path} is readable by other users; run \`${fix} ${path}\` (as its owner) and start again`,
    );
  }
}

/** Creates the key directory with mode 0700 (or checks an existing one). @throws CandorError `keys.insecure-file`. */
export function ensureKeyDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  assertPrivate(dir, 'directory');
}

/**
 * The key file's contents, or null when there is none yet.
 * @throws CandorError `keys.insecure-file` when the file or its directory is open to others.
 */
export function readKeyFile(path: string): string | null {
  ensureKeyDirectory(dirname(path));
  try {
    assertPrivate(path, 'file');
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
  return readFileSync(path, 'utf8');
}

/** Replaces the key file atomically; the file is 0600 from the moment it exists. */
export function writeKeyFile(path: string, contents: string): void {
  const dir = dirname(path);
  ensureKeyDirectory(dir);
  const temporary = join(dir, `.${String(process.pid)}.tmp`);
  const fd = openSync(temporary, 'w', FILE_MODE);
  try {
    chmodSync(temporary, FILE_MODE);
    writeSync(fd, contents);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
