/**
 * Privacy invariant 1 under a real X server: the real uiohook-napi hook, real xdotool input,
 * real X clients, a real daemon on a real control socket. "The hook is off" is observed on
 * uiohook itself (tests/support/hook.ts), beneath Candor's filtering, and every "nothing
 * arrived" is paired with the same input arriving once the hook is on.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createManualClock } from '../../agent/src/daemon/clock.ts';
import { probeHook, type HookProbe } from '../support/hook.ts';
import { startTestAgent, type TestAgent } from '../support/agent.ts';
import { SETTLE_MS, sleep, waitFor } from '../support/wait.ts';
import { startXvfb, type XServer } from '../support/xvfb.ts';

let x: XServer;
let probe: HookProbe;
let terminal: string;
let keepass: string;
let blender: string;
let agent: TestAgent | undefined;
const previousDisplay = process.env.DISPLAY;

beforeAll(async () => {
  x = await startXvfb();
  // uiohook and the foreground resolver open the display named here.
  process.env.DISPLAY = x.display;
  probe = await probeHook();
  terminal = await x.openWindow('xterm', 'bash — ~/src/candor');
  keepass = await x.openWindow('KeePassXC', 'Passwords.kdbx - KeePassXC');
  blender = await x.openWindow('Blender', 'untitled.blend');
  await x.focus(terminal);
});

afterEach(async () => {
  await agent?.close();
  agent = undefined;
  await x.focus(terminal);
});

afterAll(async () => {
  probe.close();
  await x.stop();
  if (previousDisplay === undefined) delete process.env.DISPLAY;
  else process.env.DISPLAY = previousDisplay;
});

let position = 0;
/** Real input: a pointer move to a fresh spot and a key press, through the X server. */
async function act(): Promise<void> {
  position = (position + 37) % 600;
  await x.xdotool('mousemove', String(100 + position), String(100 + position), 'key', 'a', 'key', 'b');
}

async function expectHookOff(): Promise<void> {
  probe.reset();
  await act();
  await sleep(SETTLE_MS);
  expect(probe.count, 'events seen by uiohook while the hook should be off').toBe(0);
}

async function expectHookOn(): Promise<void> {
  probe.reset();
  await act();
  await waitFor(() => probe.count > 0, 'uiohook to report input');
}

async function accepted(test: TestAgent): Promise<number> {
  return (await test.client.call('status', {})).eventsAccepted;
}

/** Keeps acting until the session's accepted count grows (a focus switch drops its own batch). */
async function expectCaptureGrows(test: TestAgent): Promise<void> {
  const before = await accepted(test);
  await waitFor(async () => {
    await act();
    await sleep(150);
    return (await accepted(test)) > before;
  }, 'the session to capture events');
}

describe('capture under a real X server', () => {
  it('captures nothing before consent, and refuses to start a session', async () => {
    agent = await startTestAgent();
    await expectHookOff();
    await expect(agent.client.call('start', {})).rejects.toMatchObject({ code: 'consent.missing' });
    await expectHookOff();
    const status = await agent.client.call('status', {});
    expect(status).toMatchObject({ state: 'not-enrolled', capturing: false, eventsAccepted: 0 });
  });

  it('captures during a session, removes the hook while paused and after stop, and reinstalls it on resume', async () => {
    agent = await startTestAgent();
    await agent.enroll();
    await expectHookOff();
    expect(await agent.client.call('start', {})).toMatchObject({ state: 'running', capturing: true });
    await expectHookOn();
    await expectCaptureGrows(agent);

    expect(await agent.client.call('pause', {})).toMatchObject({ state: 'paused', capturing: false });
    const atPause = await accepted(agent);
    await expectHookOff();
    expect(await accepted(agent)).toBe(atPause);

    await agent.client.call('resume', {});
    await expectHookOn();
    await expectCaptureGrows(agent);

    expect(await agent.client.call('stop', {})).toMatchObject({ state: 'stopped', capturing: false });
    await expectHookOff();
  });

  it('ends a session by itself at its end, removing the hook', async () => {
    const clock = createManualClock(Date.now());
    agent = await startTestAgent({ clock });
    await agent.enroll();
    await agent.client.call('start', { for: '5m' });
    await expectHookOn();
    clock.advance(5 * 60_000 - 1);
    await expectHookOn();
    clock.advance(1);
    const status = await agent.client.call('status', {});
    expect(status).toMatchObject({ state: 'stopped', capturing: false, reason: 'the session reached its end' });
    await expectHookOff();
  });

  it('never lets a session outlast the study maximum, whatever --for asks', async () => {
    const clock = createManualClock(Date.now());
    agent = await startTestAgent({ clock }, { maxSessionMinutes: 30 });
    await agent.enroll();
    const status = await agent.client.call('start', { for: '4h' });
    expect(Date.parse(status.sessionEndsAt ?? '') - clock.now()).toBe(30 * 60_000);
    clock.advance(30 * 60_000);
    await expectHookOff();
  });

  it('stops capture when a new study version appears, until the participant consents again', async () => {
    agent = await startTestAgent();
    await agent.enroll();
    await agent.client.call('start', {});
    await expectHookOn();

    agent.publish({ version: 2, title: 'How engineers use the terminal (v2)' });
    const status = await agent.client.call('status', {});
    expect(status).toMatchObject({ state: 'stopped', capturing: false });
    expect(status.reason).toMatch(/new version \(2\)/);
    await expectHookOff();
    await expect(agent.client.call('start', {})).rejects.toMatchObject({ code: 'consent.outdated' });
    await expectHookOff();

    await agent.enroll();
    expect(await agent.client.call('start', {})).toMatchObject({ capturing: true, study: { version: 2 } });
    await expectHookOn();
  });

  it('drops everything typed in a sensitive app even when the study allows it, and in a study-denied app; switching back resumes', async () => {
    agent = await startTestAgent({}, {
      apps: { allow: [{ match: 'xterm', label: 'terminal' }, { match: 'KeePassXC', label: 'vault' }], deny: [{ match: 'Blender', label: 'modelling' }] },
      vocabularyApps: [{ match: 'xterm', label: 'terminal' }],
    });
    const test = agent;
    await test.enroll();
    await test.client.call('start', {});
    await expectCaptureGrows(test);

    for (const window of [keepass, blender]) {
      await x.focus(window);
      await sleep(SETTLE_MS);
      const before = await test.client.call('status', {});
      await act();
      await x.xdotool('type', '--delay', '20', 'hunter2');
      // The hook is on (uiohook and the excluded count see the keys); the filter drops them all.
      await waitFor(async () => (await test.client.call('status', {})).eventsExcluded > before.eventsExcluded, 'excluded events to be counted');
      await sleep(SETTLE_MS);
      expect(probe.count).toBeGreaterThan(0);
      expect(await accepted(test)).toBe(before.eventsAccepted);
    }

    await x.focus(terminal);
    await expectCaptureGrows(test);
  });

  it('does not resume a session after the agent restarts', async () => {
    agent = await startTestAgent();
    await agent.enroll();
    await agent.client.call('start', {});
    await expectHookOn();
    await agent.restart();
    const status = await agent.client.call('status', {});
    expect(status).toMatchObject({ state: 'stopped', capturing: false });
    expect(status.reason).toMatch(/restarted/);
    await expectHookOff();
    const history = await agent.client.call('history', {});
    expect(history.map((entry) => `${entry.from}→${entry.to}`)).toEqual(['not-enrolled→enrolled', 'enrolled→running', 'running→stopped']);
  });
});
