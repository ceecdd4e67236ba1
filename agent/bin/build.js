#!/usr/bin/env node
// Builds the agent (the daemon and the CLI, with @candor/shared, zod and libsodium) into one
// JavaScript file, agent/dist/candor.js, which bin/candor.js runs. The agent is always on, so
// it runs as plain JavaScript rather than through a TypeScript loader: on Node 20 tsx's module
// hooks run in a second V8 isolate on their own thread and transform every module at start,
// which cost the daemon ~40 MB of RSS for nothing.
//
// Run by `npm install`/`npm ci` (the root `prepare` script), and by bin/candor.js whenever a
// file the last build read has changed since, so no one ever runs stale code.
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(import.meta.dirname, '..', '..');
const OUT_DIR = join(ROOT, 'agent', 'dist');
export const BUNDLE = join(OUT_DIR, 'candor.js');
/** Written last: which files the bundle was built from, and when the build began reading them. */
const MANIFEST = join(OUT_DIR, 'build.json');
/** Files that change the build without being bundled themselves. */
const ALSO_READ = ['package.json', 'package-lock.json', 'tsconfig.json', 'agent/package.json', 'agent/tsconfig.json', 'shared/package.json', 'agent/bin/build.js'];
/**
 * Loaded from node_modules at run time, not bundled: native addons (better-sqlite3,
 * uiohook-napi) cannot be, and pino starts its transports from files by path.
 */
const EXTERNAL = ['better-sqlite3', 'uiohook-napi', 'pino'];

/**
 * Why the bundle cannot be run as it is (missing, or a file it was built from changed or
 * vanished since the build began), or null when it is current.
 */
export function staleReason() {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(MANIFEST, 'utf8'));
    statSync(BUNDLE);
  } catch {
    return 'the agent has not been built';
  }
  for (const file of manifest.inputs) {
    let modified;
    try {
      modified = statSync(join(ROOT, file)).mtimeMs;
    } catch {
      return `${file} is gone since the last build`;
    }
    // A change during the build itself counts too: the build may have read the old text.
    if (modified >= manifest.startedAt) return `${file} changed since the last build`;
  }
  return null;
}

/**
 * Sources that read `import.meta.url` (to find seeds/ beside the checkout) get their own
 * module's URL, as when run unbundled: the bundle sits elsewhere than the source did.
 */
const ownModuleUrl = {
  name: 'own-module-url',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (args.path.includes(`${sep}node_modules${sep}`) || !text.includes('import.meta.url')) return undefined;
      const fromBundle = relative(OUT_DIR, args.path).split(sep).join('/');
      return { contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(fromBundle)}, import.meta.url).href`), loader: 'ts' };
    });
  },
};

/** Writes `path` whole or not at all, so a concurrent run of `candor` never reads half a file. */
function writeAtomically(path, contents) {
  const temporary = `${path}.${String(process.pid)}.tmp`;
  writeFileSync(temporary, contents);
  renameSync(temporary, path);
}

/** @throws when esbuild is missing or the sources do not build (esbuild has printed why). */
export async function buildAgent() {
  const { build } = await import('esbuild');
  const startedAt = Date.now();
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: ['agent/src/cli/main.ts'],
    outfile: BUNDLE,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: EXTERNAL,
    // Error names reach the CLI's messages ("internal error (TypeError)"): keep them.
    keepNames: true,
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
    // Bundled CommonJS code may still call require() for Node's own modules.
    banner: { js: "import { createRequire as __candorCreateRequire } from 'node:module';\nconst require = __candorCreateRequire(import.meta.url);" },
    plugins: [ownModuleUrl],
    metafile: true,
    write: false,
    logLevel: 'error',
  });
  mkdirSync(OUT_DIR, { recursive: true });
  for (const output of result.outputFiles) writeAtomically(output.path, output.contents);
  // A file absent here (no lock file in some installs) would read as gone on every run.
  const inputs = [...Object.keys(result.metafile.inputs), ...ALSO_READ.filter((file) => existsSync(join(ROOT, file)))].map((file) => relative(ROOT, join(ROOT, file)).split(sep).join('/'));
  writeAtomically(MANIFEST, `${JSON.stringify({ startedAt, inputs: [...new Set(inputs)].sort() }, null, 1)}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    await buildAgent();
  } catch (error) {
    const missing = error instanceof Error && 'code' in error && error.code === 'ERR_MODULE_NOT_FOUND';
    process.stderr.write(missing ? 'candor: cannot build the agent: esbuild is not installed (run npm install)\n' : 'candor: the agent\'s sources do not build (errors above)\n');
    process.exitCode = 1;
  }
}
