#!/usr/bin/env node
// The `candor` command: runs the agent as built by build.js (agent/dist/candor.js), in this
// process. When the build is missing or older than a file it was built from — a developer
// edited a source, or pulled — it is rebuilt first, in a child process (so esbuild never
// stays in the daemon's memory), and never run stale.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { BUNDLE, staleReason } from './build.js';

const INTERNAL_ERROR = 70;

// V8 doubles the young generation whenever a scavenge finds much still alive, as loading the
// agent does, and an always-on daemon then keeps 16 MB of it for a steady ~1 kHz of small,
// short-lived event objects that 1 MB holds. The growth factor, unlike the size limits, is
// read at each resize, so setting it here, before the agent loads, takes effect.
setFlagsFromString('--semi-space-growth-factor=1');

const stale = staleReason();
let built = stale === null;
if (!built) {
  // Only a person at a terminal is told; scripts and tests see the command's own output.
  if (process.stderr.isTTY) process.stderr.write(`candor: ${stale}; building the agent first\n`);
  const build = spawnSync(process.execPath, [join(import.meta.dirname, 'build.js')], { stdio: ['ignore', 'ignore', 'inherit'] });
  built = build.status === 0;
}
if (built) {
  const { main } = await import(pathToFileURL(BUNDLE).href);
  process.exitCode = await main(process.argv.slice(2));
} else {
  process.exitCode = INTERNAL_ERROR;
}
