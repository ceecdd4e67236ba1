/**
 * The process that crash.test.ts kills with SIGKILL: it stores windows (two per transaction)
 * and uploads them through the real store and uploader, printing `stored <index>` only after
 * each commit, so the test knows which windows were acknowledged to the caller.
 * Arguments: dataDir serverUrl studyPublicKey(base64url) serverPublicKey(base64url) first count
 */
import { join } from 'node:path';
import { fromBase64Url } from '@candor/shared/crypto';
import { openKeyRing } from '../keys/keyring.ts';
import { sampleWindow } from '../store/sample-windows.ts';
import { openStore } from '../store/store.ts';
import { Uploader } from './uploader.ts';

const [dataDir = '', serverUrl = '', studyKey = '', serverKey = '', firstText = '0', countText = '0'] = process.argv.slice(2);
const first = Number(firstText);
const count = Number(countText);

const store = openStore({ dataDir, keyRing: openKeyRing({ keyDir: join(dataDir, 'keys'), env: {} }) });
const uploader = new Uploader({
  store,
  serverUrl,
  studyKey: () => fromBase64Url(studyKey),
  serverPublicKey: fromBase64Url(serverKey),
  mayUpload: () => true,
  // No waiting between retries: the test is about what survives a kill, not about pacing.
  random: () => 0,
});
process.stdout.write('ready\n');

for (let index = first; index < first + count; index += 2) {
  const indices = [index, index + 1].filter((value) => value < first + count);
  store.putWindows(indices.map((value) => sampleWindow(value)), 0);
  process.stdout.write(indices.map((value) => `stored ${String(value)}\n`).join(''));
  await uploader.runOnce();
}
while (store.status().windows > 0) await uploader.runOnce();
store.close();
process.stdout.write('drained\n');
