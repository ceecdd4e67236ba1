// `npm run bench`: runs every benchmark (`*/bench/*.bench.ts` and `tests/bench/*.bench.ts`)
// one after another, each in its own process so that one's heap does not skew the next.
// Benchmarks print tables of figures; they never pass or fail on timings.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const only = process.argv.slice(2);
const files = ['shared', 'agent', 'server', 'desktop', 'tests']
  .map((folder) => `${folder}/bench`)
  .filter((folder) => existsSync(folder))
  .flatMap((folder) => readdirSync(folder).filter((name) => name.endsWith('.bench.ts')).map((name) => `${folder}/${name}`))
  .sort()
  .filter((file) => only.length === 0 || only.some((name) => file.includes(name)));
if (files.length === 0) {
  console.log('no benchmarks found');
  process.exit(0);
}
let failed = 0;
for (const file of files) {
  console.log(`\n# ${file}\n`);
  const result = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', file], { stdio: 'inherit' });
  if (result.status !== 0) failed += 1;
}
process.exit(failed === 0 ? 0 : 1);
