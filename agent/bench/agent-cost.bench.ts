/**
 * What the whole agent costs: its CPU share and peak RSS while a synthetic input stream of
 * about 1 kHz (real X events under Xvfb: xdotool chains of relative pointer moves and key
 * presses into an xterm, a captured app with typed vocabulary on) runs through the whole
 * pipeline — hook, context filter, redaction, aggregation, encrypted store — beside a bare
 * process that only listens with uiohook-napi to the same stream. Prints the rate actually
 * reached and both processes' figures; never passes or fails on them (target: at most 1.5×
 * the bare listener's CPU, under 100 MB RSS). soak.bench.ts runs the same for ten minutes.
 * The agent runs as `candor daemon` does, through tsx's loader, so its RSS includes the loader.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
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
const run = promisify(execFile);

type ProcessSample = { cpuSeconds: number; rssBytes: number; peakRssBytes: number };

const CLOCK_TICKS = Number((await run('getconf', ['CLK_TCK'])).stdout.trim()) || 100;

/** CPU time (user + system) and memory of a process, from /proc. */
function sample(pid: number): ProcessSample {
  const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
  // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = readFileSync(`/proc/${String(pid)}/status`, 'utf8');
  const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { cpuSeconds: ticks / CLOCK_TICKS, rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM') };
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

export type CostReport = {
  seconds: number;
  /** Whether the daemon shut down by itself within 15 s of SIGTERM. */
  agentExitedOnSigterm: boolean;
  eventsSent: number;
  agent: { events: number; start: ProcessSample; end: ProcessSample; rssOverTime: { at: number; rssBytes: number }[] };
  bare: { events: number; start: ProcessSample; end: ProcessSample; rssOverTime: { at: number; rssBytes: number }[] };
};

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

/**
 * Runs the agent daemon and the bare listener under one Xvfb for `seconds` of ~1 kHz input.
 * `sampleEverySeconds` records RSS over time (for the soak).
 */
export async function measureAgentCost(seconds: number, sampleEverySeconds: number): Promise<CostReport> {
  const { startXvfb } = await import('../../tests/support/xvfb.ts');
  const x = await startXvfb();
  const root = mkdtempSync(join(tmpdir(), 'candor-cost-'));
  const dataDir = join(root, 'data');
  const studiesDir = join(root, 'studies');
  mkdirSync(dataDir, { mode: 0o700 });
  mkdirSync(studiesDir);
  writeFileSync(join(studiesDir, 'coding-practice.v1.json'), readFileSync(SEED_STUDY));
  const env = { ...process.env, DISPLAY: x.display };
  const children: ChildProcess[] = [];
  try {
    const terminal = await x.openWindow('xterm', 'bash — ~/src/candor');
    await x.focus(terminal);
    const agent = spawn(process.execPath, [CANDOR, 'daemon', '--data-dir', dataDir, '--studies', studiesDir], { env, stdio: 'ignore' });
    children.push(agent);
    const client = await connect(join(dataDir, 'agent.sock'));
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
      agentExitedOnSigterm: false,
      eventsSent: 0,
      agent: { events: 0, start: sample(agentPid), end: sample(agentPid), rssOverTime: [] },
      bare: { events: 0, start: sample(barePid), end: sample(barePid), rssOverTime: [] },
    };
    const began = performance.now();
    let nextSample = 0;
    for (;;) {
      const elapsed = (performance.now() - began) / 1000;
      if (elapsed >= nextSample) {
        report.agent.rssOverTime.push({ at: Math.round(elapsed), rssBytes: sample(agentPid).rssBytes });
        report.bare.rssOverTime.push({ at: Math.round(elapsed), rssBytes: sample(barePid).rssBytes });
        nextSample += sampleEverySeconds;
      }
      if (elapsed >= seconds) break;
      // Paced to the target rate; when xdotool cannot keep up it simply runs flat out.
      if (report.eventsSent > elapsed * TARGET_HZ) {
        await new Promise((resolve) => setTimeout(resolve, TICK_MS / 10));
        continue;
      }
      await x.xdotool(...chain);
      report.eventsSent += perChain;
    }
    report.seconds = (performance.now() - began) / 1000;
    report.agent.end = sample(agentPid);
    report.bare.end = sample(barePid);
    report.agent.events = (await client.call('status', {})).eventsAccepted;
    report.bare.events = await new Promise<number>((resolve) => {
      bare.once('message', (message) => { resolve((message as { events: number }).events); });
      bare.send('count');
    });
    await client.call('stop', {});
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
    rmSync(root, { recursive: true, force: true });
  }
}

export function printCost(report: CostReport): void {
  const row = (name: string, side: CostReport['agent']) => {
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
  console.log(`input: ${String(report.eventsSent)} X events sent in ${report.seconds.toFixed(1)} s = ${(report.eventsSent / report.seconds).toFixed(0)} events/s (target ${String(TARGET_HZ)}); the bare listener saw ${(report.bare.events / report.seconds).toFixed(0)}/s`);
  console.table([row('candor agent (whole pipeline)', report.agent), row('bare uiohook-napi listener', report.bare)]);
  if (!report.agentExitedOnSigterm) console.log('note: the agent did not exit within 15 s of SIGTERM and was killed');
  console.log(`agent CPU / bare listener CPU: ${bareCpu > 0 ? (agentCpu / bareCpu).toFixed(2) : 'n/a'}× (target ≤ 1.5×); agent peak RSS ${(report.agent.end.peakRssBytes / MB).toFixed(1)} MB (target < 100 MB)`);
}

if (process.argv[1] === HERE) printCost(await measureAgentCost(60, 10));
