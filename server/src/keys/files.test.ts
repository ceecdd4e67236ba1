/** Key files changed by several processes at once (the API server, the aggregator, the CLI) lose no change. */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../../tests/support/wait.ts';
import { addMasterKey, dropOldMasterKeys, loadOrCreateAggregatorKeys } from './files.ts';

const CHILD = new URL('./files-child.ts', import.meta.url).pathname;
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function run(args: string[]): Promise<number | null> {
  return new Promise((resolve) => {
    spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: 'inherit' }).once('exit', (code) => {
      resolve(code);
    });
  });
}

describe('key files', () => {
  it('keep every study key two processes add at the same time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'candor-keys-'));
    dirs.push(dir);
    const file = join(dir, 'aggregator-keys.json');
    loadOrCreateAggregatorKeys(file);
    const go = join(dir, 'go');
    const runs = [run([file, go, 'first', '25']), run([file, go, 'second', '25'])];
    // Both processes are loaded and waiting before either starts.
    await waitFor(() => existsSync(`${go}.first`) && existsSync(`${go}.second`), 'both processes to be ready', 20_000);
    writeFileSync(go, '');
    expect(await Promise.all(runs)).toEqual([0, 0]);
    const studies = [...loadOrCreateAggregatorKeys(file).studyKeys.values()].map((key) => key.studyId).sort();
    expect(studies).toHaveLength(50);
  }, 60_000);

  it('drop only the master keys older than the one everything is wrapped under, never one added since', () => {
    const dir = mkdtempSync(join(tmpdir(), 'candor-keys-'));
    dirs.push(dir);
    const file = join(dir, 'aggregator-keys.json');
    loadOrCreateAggregatorKeys(file);
    const second = addMasterKey(file);
    // The aggregator re-wrapped everything under `second`; meanwhile an operator added `third`.
    const third = addMasterKey(file);
    dropOldMasterKeys(file, second);
    expect(loadOrCreateAggregatorKeys(file).masterKeys.map((key) => key.keyId)).toEqual([second, third]);
  });
});
