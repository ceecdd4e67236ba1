// Typechecks every layer against its own tsconfig: shared with no Node or DOM globals, the
// desktop renderer with DOM but no Node, the rest with Node. One tsc per layer, in order,
// stopping at the first failure so the error is the one a reader sees.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const projects = [
  'shared/tsconfig.json',
  'shared/tsconfig.test.json',
  'agent/tsconfig.json',
  'server/tsconfig.json',
  'server/tsconfig.web.json',
  'desktop/tsconfig.json',
  'desktop/tsconfig.renderer.json',
  'tsconfig.json',
].filter((project) => existsSync(project));

for (const project of projects) {
  const result = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', project, '--pretty'], { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`typecheck failed: ${project}`);
    process.exit(result.status ?? 1);
  }
}
console.log(`typecheck: ${projects.length} projects clean`);
