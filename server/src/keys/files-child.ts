/**
 * A second process changing a key file, for files.test.ts: once loaded it writes `<go>.<prefix>`,
 * waits for `go` to exist, then adds `count` study keys named `<prefix>-<n>` to `file`. Not part of the server.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { addStudyKey } from './files.ts';

const [file = '', go = '', prefix = '', countText = '0'] = process.argv.slice(2);
writeFileSync(`${go}.${prefix}`, '');
while (!existsSync(go)) await new Promise((resolve) => setTimeout(resolve, 5));
for (let index = 0; index < Number(countText); index += 1) addStudyKey(file, `${prefix}-${String(index)}`);
