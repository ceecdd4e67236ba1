/**
 * Consent state equals capture state (SECURITY.md, Agent): fast-check drives random sequences
 * of enroll, start, pause, resume, stop, withdraw, time passing (expiry, timed pauses), new
 * study versions and daemon restarts against a real daemon with the real uiohook hook under
 * Xvfb, and after every step checks that the hook runs exactly when an independent model says
 * capture is allowed — on uiohook itself (real input arrives or does not), on the source, and
 * in the status — and that nothing is captured while it must not be.
 *
 * Run against the live source, not the replay one: the replay source would prove the state
 * machine but not the hook, and the hook is the thing that must not run.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock, type ManualClock } from '../../agent/src/daemon/clock.ts';
import type { TestAgent } from '../support/agent.ts';
import { probeHook, type HookProbe } from '../support/hook.ts';
import { sleep, waitFor } from '../support/wait.ts';
import { startXvfb, type XServer } from '../support/xvfb.ts';

const MAX_SESSION_MINUTES = 60;
const MINUTE = 60_000;

type ModelState = 'not-enrolled' | 'enrolled' | 'running' | 'paused' | 'stopped';
type Model = {
  state: ModelState;
  consented: number | null;
  offered: number;
  now: number;
  endsAt: number;
  pausedUntil: number | null;
  /** Withdrawal destroys the study's keys and data on this device: it cannot be joined here again. */
  withdrawn: boolean;
};
type Real = { agent: TestAgent; clock: ManualClock };

let x: XServer;
let probe: HookProbe;
let startTestAgent: typeof import('../support/agent.ts').startTestAgent;
const previousDisplay = process.env.DISPLAY;

beforeAll(async () => {
  x = await startXvfb();
  process.env.DISPLAY = x.display;
  probe = await probeHook();
  ({ startTestAgent } = await import('../support/agent.ts'));
  await x.focus(await x.openWindow('xterm', 'bash — ~/src/candor'));
});

afterAll(async () => {
  probe.close();
  await x.stop();
  if (previousDisplay === undefined) delete process.env.DISPLAY;
  else process.env.DISPLAY = previousDisplay;
});

/** The model's own reading of the rules (../shared/DESIGN.md invariant 1), not the agent's code. */
function catchUp(model: Model): void {
  if (model.state !== 'running' && model.state !== 'paused') return;
  if (model.consented !== model.offered || model.now >= model.endsAt) model.state = 'stopped';
  else if (model.state === 'paused' && model.pausedUntil !== null && model.now >= model.pausedUntil) model.state = 'running';
}

const capturing = (model: Model): boolean => model.state === 'running';

let position = 0;
async function checkHook(model: Model, real: Real): Promise<void> {
  const status = await real.agent.client.call('status', {});
  expect(status.state).toBe(model.state);
  expect(status.capturing).toBe(capturing(model));
  expect(real.agent.daemon.source.running).toBe(capturing(model));
  probe.reset();
  position = (position + 41) % 500;
  await x.xdotool('mousemove', String(50 + position), String(60 + position), 'key', 'k');
  if (capturing(model)) {
    await waitFor(() => probe.count > 0, 'the hook to report input');
  } else {
    await sleep(250);
    expect(probe.count, 'uiohook reported input while capture was not allowed').toBe(0);
    expect((await real.agent.client.call('status', {})).eventsAccepted).toBe(status.eventsAccepted);
  }
}

/** One step: the model predicts acceptance or refusal; the agent must agree. */
function step(name: string, apply: (model: Model) => boolean, act: (real: Real, model: Model) => Promise<unknown>): fc.AsyncCommand<Model, Real> {
  return {
    check: () => true,
    async run(model, real) {
      catchUp(model);
      const accepted = apply(model);
      if (accepted) await act(real, model);
      else await expect(act(real, model), `${name} should be refused`).rejects.toHaveProperty('code');
      catchUp(model);
      await checkHook(model, real);
    },
    toString: () => name,
  };
}

const enroll = () =>
  step('enroll', (m) => {
    if (m.state === 'running' || m.state === 'paused' || m.withdrawn) return false;
    m.state = 'enrolled';
    m.consented = m.offered;
    return true;
  }, (r) => r.agent.enroll());

const start = (minutes: number | null) =>
  step(`start ${minutes ?? ''}`, (m) => {
    if ((m.state !== 'enrolled' && m.state !== 'stopped') || m.consented !== m.offered) return false;
    m.state = 'running';
    m.endsAt = m.now + Math.min(minutes ?? MAX_SESSION_MINUTES, MAX_SESSION_MINUTES) * MINUTE;
    return true;
  }, (r) => r.agent.client.call('start', minutes === null ? {} : { for: `${minutes}m` }));

const pause = (minutes: number | null) =>
  step(`pause ${minutes ?? ''}`, (m) => {
    if (m.state !== 'running') return false;
    m.state = 'paused';
    m.pausedUntil = minutes === null ? null : m.now + minutes * MINUTE;
    return true;
  }, (r) => r.agent.client.call('pause', minutes === null ? {} : { for: `${minutes}m` }));

const resume = () =>
  step('resume', (m) => {
    if (m.state !== 'paused' || m.consented !== m.offered) return false;
    m.state = 'running';
    return true;
  }, (r) => r.agent.client.call('resume', {}));

const stop = () =>
  step('stop', (m) => {
    if (m.state !== 'running' && m.state !== 'paused') return false;
    m.state = 'stopped';
    return true;
  }, (r) => r.agent.client.call('stop', {}));

const withdraw = () =>
  step('withdraw', (m) => {
    if (m.state === 'not-enrolled') return false;
    m.state = 'not-enrolled';
    m.consented = null;
    m.withdrawn = true;
    return true;
  }, (r) => r.agent.client.call('withdraw', { studyId: 'coding-practice' }));

const advance = (minutes: number) =>
  step(`advance ${minutes}m`, (m) => {
    m.now += minutes * MINUTE;
    return true;
  }, (r) => {
    r.clock.advance(minutes * MINUTE);
    return Promise.resolve();
  });

/** Lands just before, exactly on, or just after the next deadline (session end or timed pause). */
const advanceToDeadline = (offsetMs: number) => {
  let delta = 0;
  return step(`advance to deadline ${offsetMs >= 0 ? '+' : ''}${offsetMs}ms`, (m) => {
    const deadline = m.state === 'paused' && m.pausedUntil !== null ? Math.min(m.pausedUntil, m.endsAt) : m.endsAt;
    delta = m.state === 'running' || m.state === 'paused' ? Math.max(1, deadline + offsetMs - m.now) : MINUTE;
    m.now += delta;
    return true;
  }, (r) => {
    r.clock.advance(delta);
    return Promise.resolve();
  });
};

const newVersion = () =>
  step('new study version', (m) => {
    m.offered += 1;
    if (m.state === 'running' || m.state === 'paused') m.state = 'stopped';
    return true;
  }, (r, m) => {
    r.agent.publish({ version: m.offered, maxSessionMinutes: MAX_SESSION_MINUTES });
    // What the daemon's periodic catalog refresh does.
    r.agent.daemon.agent.refresh();
    return Promise.resolve();
  });

const restart = () =>
  step('daemon restart', (m) => {
    if (m.state === 'running' || m.state === 'paused') m.state = 'stopped';
    return true;
  }, (r) => r.agent.restart());

const duration = fc.option(fc.integer({ min: 1, max: 90 }), { nil: null });
// Listed twice: the steps that lead into and out of a running session, so that random
// histories spend their time where capture can go wrong rather than in refusals.
const commands = fc.commands(
  [
    fc.constant(enroll()),
    duration.map(start),
    duration.map(start),
    duration.map(pause),
    duration.map(pause),
    fc.constantFrom(-1, 0, 1).map(advanceToDeadline),
    fc.constant(resume()),
    fc.constant(stop()),
    fc.constant(withdraw()),
    fc.integer({ min: 1, max: 120 }).map(advance),
    fc.constantFrom(-1, 0, 1).map(advanceToDeadline),
    fc.constant(newVersion()),
    fc.constant(restart()),
  ],
  { maxCommands: 16 },
);

describe('consent state equals capture state', () => {
  it('runs the hook exactly when the model allows capture, over random session histories', async () => {
    await fc.assert(
      // Half the histories begin inside a running session.
      fc.asyncProperty(fc.boolean(), commands, async (startRunning, sequence) => {
        const clock = createManualClock(Date.parse('2026-11-23T09:00:00.000Z'));
        const agent = await startTestAgent({ clock }, { maxSessionMinutes: MAX_SESSION_MINUTES });
        try {
          const model: Model = { state: 'not-enrolled', consented: null, offered: 1, now: clock.now(), endsAt: 0, pausedUntil: null, withdrawn: false };
          const steps = startRunning ? [enroll(), start(null), ...sequence] : sequence;
          await fc.asyncModelRun(() => ({ model, real: { agent, clock } }), steps);
        } finally {
          await agent.close();
        }
      }),
      { numRuns: 20 },
    );
  }, 240_000);
});
