/**
 * What the whole agent costs: its CPU share and peak RSS while a synthetic input stream of
 * about 1 kHz (real X events under Xvfb: xdotool chains of relative pointer moves and key
 * presses into an xterm, a captured app with typed vocabulary on) runs through the whole
 * pipeline — hook, context filter, redaction, aggregation, encrypted store, and uploads to a
 * real Candor server on loopback the agent is paired with (each session is ended every 15 s so
 * that windows close and leave while the input runs) — beside a bare process that only listens
 * with uiohook-napi to the same stream. Prints the rate actually
 * reached and both processes' figures; never passes or fails on them (target: at most 1.5×
 * the bare listener's CPU, under 100 MB RSS). soak.bench.ts runs the same for longer.
 *
 * The agent is measured as a user runs it: `candor daemon`, i.e. `node agent/bin/candor.js
 * daemon`, which runs the esbuild bundle agent/dist/candor.js (built first if missing or older
 * than its sources) in that same process — no TypeScript loader.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { ControlClient } from '../src/control/client.ts';

const HERE = fileURLToPath(import.meta.url);
/** uiohook-napi resolves from here for the bare listener's require. */
const AGENT_DIR = fileURLToPath(new URL('..', import.meta.url));
const CANDOR = fileURLToPath(new URL('../bin/candor.js', import.meta.url));
const SEED_STUDY = fileURLToPath(new URL('../../seeds/studies/coding-practice.v1.json', import.meta.url));
const TARGET_HZ = 1_000;
const TICK_MS = 100;
const MB = 1024 * 1024;
/** How often a run checks that the agent is still capturing. */
const SESSION_CHECK_SECONDS = 5;
const run = promisify(execFile);

/** RSS splits into anonymous memory (heaps, malloc arenas: where a leak shows) and file-backed
 * pages (node's binary and libraries paged in as code paths first run: not a leak). */
type ProcessSample = { cpuSeconds: number; rssBytes: number; anonBytes: number; fileBytes: number; peakRssBytes: number };

const CLOCK_TICKS = Number((await run('getconf', ['CLK_TCK'])).stdout.trim()) || 100;

/** CPU time (user + system) and memory of a process, from /proc. */
function sample(pid: number): ProcessSample {
  const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
  // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = readFileSync(`/proc/${String(pid)}/status`, 'utf8');
  const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { cpuSeconds: ticks / CLOCK_TICKS, rssBytes: kb('VmRSS'), anonBytes: kb('RssAnon'), fileBytes: kb('RssFile'), peakRssBytes: kb('VmHWM') };
}

/**
 * The bare listener: plain JavaScript run by node itself (no TypeScript loader), the least a
 * process can do to see the same events: count them.
 */
const BARE_LISTENER = `
const { uIOhook } = require('uiohook-napi');
let events = 0;
uIOhook.on('input', () => { events += 1; });
uIOhook.start();
process.on('message', (message) => {
  if (message === 'count') process.send({ events });
  if (message === 'exit') { uIOhook.stop(); process.exit(0); }
});
process.send('ready');
`;

/**
 * The soak's heap probe, preloaded into the agent with --expose-gc: over the IPC channel it
 * answers `heap` with process.memoryUsage(), and `heap-after-gc` with the same after a full
 * GC, which tells a leak (live objects) from V8 sizing its heap; with the bytes of compiled
 * code in the heap, which grows while V8 optimises and then settles, and the bytes of V8's heap
 * resident in memory, which tells V8's share of the RSS from native memory (malloc, SQLite,
 * the input hook). It changes nothing else.
 */
const HEAP_PROBE = `
import { getHeapSpaceStatistics } from 'node:v8';
process.on('message', (message) => {
  if (message !== 'heap' && message !== 'heap-after-gc') return;
  if (message === 'heap-after-gc') globalThis.gc();
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
  const spaces = getHeapSpaceStatistics();
  const codeSpace = spaces.find((space) => space.space_name === 'code_space')?.space_used_size ?? 0;
  const heapResident = spaces.reduce((sum, space) => sum + space.physical_space_size, 0);
  process.send({ rss, heapTotal, heapUsed, external, arrayBuffers, codeSpace, heapResident });
});
process.channel?.unref();
`;

export type HeapSample = { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number; codeSpace: number; heapResident: number };

export type CostOptions = {
  /** Record RSS (and, with the probe, the heap and windows stored) this often. */
  sampleEverySeconds: number;
  /** Preload the heap probe and take heapUsed after a full GC at the start, every `gcEverySeconds` and at the end. */
  heapProbe?: { gcEverySeconds: number };
  /** Run the study with windows this long (the seed study's are 15 minutes; 5 is the least allowed). */
  windowMinutes?: number;
  /** Called with each sample as it is taken, so a long run shows its progress. */
  onSample?: (point: OverTimePoint) => void;
  /**
   * Pair the agent with a real Candor server on loopback (no hold before upload) and end the
   * session this often, starting the next at once: each end closes the session's windows,
   * which are encrypted, stored and uploaded while the input runs. More often than a study's
   * windows close, so the figures are an upper bound for that part.
   */
  uploadEverySeconds?: number;
};

export type OverTimePoint = { at: number; rssBytes: number; anonBytes: number; fileBytes: number; heap?: HeapSample; windowsHeld?: number };
type OverTime = OverTimePoint[];

export type CostReport = {
  seconds: number;
  windowMinutes: number;
  loadAverage: { start: number; end: number };
  /** Whether the daemon shut down by itself within 15 s of SIGTERM. */
  agentExitedOnSigterm: boolean;
  eventsSent: number;
  /** Sessions started: the first, and one each time the study's session limit ended the last (as a participant would). */
  sessions: number;
  /** With `uploadEverySeconds`: the batches the server stored, and the windows in them. */
  uploaded?: { batches: number; windows: number };
  agent: { events: number; start: ProcessSample; end: ProcessSample; rssOverTime: OverTime; heapAfterGc: { at: number; heap: HeapSample }[] };
  bare: { events: number; start: ProcessSample; end: ProcessSample; rssOverTime: OverTime };
};

/** Asks the heap probe in `child` for a sample. */
function askHeap(child: ChildProcess, message: 'heap' | 'heap-after-gc'): Promise<HeapSample> {
  return new Promise((resolve) => {
    child.once('message', (reply) => { resolve(reply as HeapSample); });
    child.send(message);
  });
}

/** Resolves true when the process exits within `ms`, false otherwise. */
function exitsWithin(child: ChildProcess, ms: number): Promise<boolean> {
  return Promise.race([untilExit(child).then(() => true), new Promise<boolean>((resolve) => setTimeout(() => { resolve(false); }, ms).unref())]);
}

function untilExit(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => { resolve(); });
  });
}

async function connect(socketPath: string): Promise<ControlClient> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const client = await ControlClient.connect({ socketPath });
      await client.call('ping', {});
      return client;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Runs the agent daemon and the bare listener under one Xvfb for `seconds` of ~1 kHz input. */
export async function measureAgentCost(seconds: number, options: CostOptions): Promise<CostReport> {
  const { startXvfb } = await import('../../tests/support/xvfb.ts');
  const x = await startXvfb();
  const root = mkdtempSync(join(tmpdir(), 'candor-cost-'));
  const dataDir = join(root, 'data');
  const studiesDir = join(root, 'studies');
  mkdirSync(dataDir, { mode: 0o700 });
  mkdirSync(studiesDir);
  const study = JSON.parse(readFileSync(SEED_STUDY, 'utf8')) as { windowMinutes: number };
  const windowMinutes = options.windowMinutes ?? study.windowMinutes;
  writeFileSync(join(studiesDir, 'coding-practice.v1.json'), JSON.stringify({ ...study, windowMinutes }));
  const probe = join(root, 'heap-probe.mjs');
  writeFileSync(probe, HEAP_PROBE);
  const env = { ...process.env, DISPLAY: x.display };
  const children: ChildProcess[] = [];
  const { startPairingServer } = await import('../../tests/e2e/paired-agent.ts');
  const server = options.uploadEverySeconds === undefined ? undefined : await startPairingServer('coding-practice');
  const uploadedWindows: number[] = [];
  try {
    const terminal = await x.openWindow('xterm', 'bash — ~/src/candor');
    await x.focus(terminal);
    const daemon = [CANDOR, 'daemon', '--data-dir', dataDir, '--studies', studiesDir];
    const agent = options.heapProbe
      ? spawn(process.execPath, ['--expose-gc', '--import', pathToFileURL(probe).href, ...daemon], { env, stdio: ['ignore', 'ignore', 'ignore', 'ipc'] })
      : spawn(process.execPath, daemon, { env, stdio: 'ignore' });
    children.push(agent);
    const client = await connect(join(dataDir, 'agent.sock'));
    if (server) {
      await client.call('pair', { serverUrl: server.url, studyId: 'coding-practice', code: await server.pairingCode(), serverKeyId: server.serverKeyId });
      server.onStored((envelope) => {
        const device = server.world.store.findDevice(envelope.header.senderKeyId);
        if (device) uploadedWindows.push(server.windowsIn(envelope, device.publicKey).length);
        return Promise.resolve();
      });
    }
    const notice = await client.call('notice', { studyId: 'coding-practice' });
    await client.call('enroll', { studyId: 'coding-practice', noticeHash: notice.noticeHash });
    const started = await client.call('start', {});
    if (!started.capturing) throw new Error(`the agent is not capturing: ${started.reason ?? 'no reason given'}`);

    const bare = spawn(process.execPath, ['-e', BARE_LISTENER], { env, cwd: AGENT_DIR, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    children.push(bare);
    await new Promise<void>((resolve) => bare.once('message', () => { resolve(); }));
    const agentPid = agent.pid ?? 0;
    const barePid = bare.pid ?? 0;

    // One chain: 60 relative pointer moves and 20 key presses (a press and a release each): 100 events.
    const chain: string[] = [];
    for (let index = 0; index < 60; index += 1) chain.push('mousemove_relative', '--', index % 2 === 0 ? '3' : '-3', '0');
    for (let index = 0; index < 20; index += 1) chain.push('key', '--delay', '0', index % 2 === 0 ? 'a' : 'BackSpace');
    const perChain = 100;

    const report: CostReport = {
      seconds: 0,
      windowMinutes,
      loadAverage: { start: loadavg()[0] ?? 0, end: 0 },
      agentExitedOnSigterm: false,
      eventsSent: 0,
      sessions: 1,
      agent: { events: 0, start: sample(agentPid), end: sample(agentPid), rssOverTime: [], heapAfterGc: [] },
      bare: { events: 0, start: sample(barePid), end: sample(barePid), rssOverTime: [] },
    };
    const began = performance.now();
    let nextSample = 0;
    let nextGc = 0;
    let nextSessionCheck = SESSION_CHECK_SECONDS;
    let nextUpload = options.uploadEverySeconds ?? Number.POSITIVE_INFINITY;
    let eventsInEndedSessions = 0;
    for (;;) {
      const elapsed = (performance.now() - began) / 1000;
      if (elapsed >= nextUpload) {
        // Ending the session closes its windows, which are stored and uploaded; the next starts at once.
        eventsInEndedSessions += (await client.call('stop', {})).eventsAccepted;
        const next = await client.call('start', {});
        if (!next.capturing) throw new Error(`the agent did not start another session: ${next.reason ?? 'no reason given'}`);
        report.sessions += 1;
        nextUpload += options.uploadEverySeconds ?? Number.POSITIVE_INFINITY;
      }
      if (elapsed >= nextSessionCheck) {
        // A session lasts at most the study's maxSessionMinutes; a long run starts the next one.
        const status = await client.call('status', {});
        if (!status.capturing) {
          // The ended session's count stays until the next starts: eventsAccepted counts one session.
          eventsInEndedSessions += status.eventsAccepted;
          const next = await client.call('start', {});
          if (!next.capturing) throw new Error(`the agent did not start another session: ${next.reason ?? 'no reason given'}`);
          report.sessions += 1;
        }
        nextSessionCheck += SESSION_CHECK_SECONDS;
      }
      if (elapsed >= nextSample) {
        const at = Math.round(elapsed);
        // Before the GC below, so that it does not flatter this sample.
        const heap = options.heapProbe ? await askHeap(agent, 'heap') : undefined;
        const windowsHeld = options.heapProbe ? (await client.call('status', {})).storage.windowsHeld : undefined;
        const { rssBytes, anonBytes, fileBytes } = sample(agentPid);
        const point = { at, rssBytes, anonBytes, fileBytes, ...(heap ? { heap } : {}), ...(windowsHeld === undefined ? {} : { windowsHeld }) };
        report.agent.rssOverTime.push(point);
        options.onSample?.(point);
        const bareNow = sample(barePid);
        report.bare.rssOverTime.push({ at, rssBytes: bareNow.rssBytes, anonBytes: bareNow.anonBytes, fileBytes: bareNow.fileBytes });
        nextSample += options.sampleEverySeconds;
      }
      const done = elapsed >= seconds;
      if (done) {
        // The end figures come before the last forced GC, which would flatter them.
        report.seconds = (performance.now() - began) / 1000;
        report.agent.end = sample(agentPid);
        report.bare.end = sample(barePid);
        report.loadAverage.end = loadavg()[0] ?? 0;
      }
      if (options.heapProbe && (elapsed >= nextGc || done)) {
        report.agent.heapAfterGc.push({ at: Math.round(elapsed), heap: await askHeap(agent, 'heap-after-gc') });
        nextGc += options.heapProbe.gcEverySeconds;
      }
      if (done) break;
      // Paced to the target rate; when xdotool cannot keep up it simply runs flat out.
      if (report.eventsSent > elapsed * TARGET_HZ) {
        await new Promise((resolve) => setTimeout(resolve, TICK_MS / 10));
        continue;
      }
      await x.xdotool(...chain);
      report.eventsSent += perChain;
    }
    const last = await client.call('status', {});
    report.agent.events = eventsInEndedSessions + last.eventsAccepted;
    if (server) report.uploaded = { batches: uploadedWindows.length, windows: uploadedWindows.reduce((sum, count) => sum + count, 0) };
    report.bare.events = await new Promise<number>((resolve) => {
      bare.once('message', (message) => { resolve((message as { events: number }).events); });
      bare.send('count');
    });
    // The study's session limit may have ended the session as the run ended.
    if (last.state === 'running' || last.state === 'paused') await client.call('stop', {});
    client.close();
    bare.send('exit');
    agent.kill('SIGTERM');
    report.agentExitedOnSigterm = await exitsWithin(agent, 15_000);
    await untilExit(bare);
    return report;
  } finally {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(children.map(untilExit));
    await x.stop();
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  }
}

export function printCost(report: CostReport): void {
  const row = (name: string, side: CostReport['bare']) => {
    const cpu = side.end.cpuSeconds - side.start.cpuSeconds;
    return {
      process: name,
      'events seen': side.events,
      'CPU s': cpu.toFixed(2),
      'CPU share %': ((cpu / report.seconds) * 100).toFixed(2),
      'RSS start MB': (side.start.rssBytes / MB).toFixed(1),
      'RSS end MB': (side.end.rssBytes / MB).toFixed(1),
      'peak RSS MB': (side.end.peakRssBytes / MB).toFixed(1),
    };
  };
  const agentCpu = report.agent.end.cpuSeconds - report.agent.start.cpuSeconds;
  const bareCpu = report.bare.end.cpuSeconds - report.bare.start.cpuSeconds;
  console.log('agent: `node agent/bin/candor.js daemon`, running the bundle agent/dist/candor.js (no TypeScript loader)');
  console.log(`load average (1 min) on this shared machine: ${report.loadAverage.start.toFixed(2)} at the start, ${report.loadAverage.end.toFixed(2)} at the end`);
  console.log(`input: ${String(report.eventsSent)} X events sent in ${report.seconds.toFixed(1)} s = ${(report.eventsSent / report.seconds).toFixed(0)} events/s (target ${String(TARGET_HZ)}); the bare listener saw ${(report.bare.events / report.seconds).toFixed(0)}/s`);
  if (report.uploaded) {
    console.log(
      `sessions: ${String(report.sessions)}, each ended while the input ran, so that its windows were encrypted, stored and uploaded to a Candor server on loopback: ` +
        `${String(report.uploaded.batches)} batches, ${String(report.uploaded.windows)} windows stored by the server during the run`,
    );
  } else if (report.sessions > 1) {
    console.log(`sessions: ${String(report.sessions)} (each ended by the study's session limit, and the next started within ${String(SESSION_CHECK_SECONDS)} s)`);
  }
  console.table([row('candor agent (whole pipeline)', report.agent), row('bare uiohook-napi listener', report.bare)]);
  if (!report.agentExitedOnSigterm) console.log('note: the agent did not exit within 15 s of SIGTERM and was killed');
  console.log(`agent CPU / bare listener CPU: ${bareCpu > 0 ? (agentCpu / bareCpu).toFixed(2) : 'n/a'}× (target ≤ 1.5×); agent peak RSS ${(report.agent.end.peakRssBytes / MB).toFixed(1)} MB (target < 100 MB)`);
}

if (process.argv[1] === HERE) printCost(await measureAgentCost(60, { sampleEverySeconds: 10, uploadEverySeconds: 15 }));
