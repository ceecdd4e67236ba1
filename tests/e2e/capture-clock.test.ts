/**
 * Wall-clock deadlines when timers are late: a laptop that sleeps through the end of a session
 * wakes with its timers behind the wall clock. Capture must still stop at the session's end:
 * no batch goes on after it, and the hook comes off without waiting for a command.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../agent/src/daemon/clock.ts';
import { startTestAgent, type TestAgent } from '../support/agent.ts';
import { waitFor } from '../support/wait.ts';

const CODING = new URL('../../seeds/recordings/coding.jsonl', import.meta.url).pathname;

let agent: TestAgent | undefined;
afterEach(async () => {
  await agent?.close();
  agent = undefined;
});

describe('a session end passed while timers were asleep', () => {
  it('stops capture at the next batch, without any command or timer', async () => {
    let now = Date.now();
    // Timers that never fire: the machine slept through every deadline.
    const sleepingClock: Clock = { now: () => now, schedule: () => () => undefined };
    agent = await startTestAgent({ clock: sleepingClock, source: { kind: 'replay', file: CODING, speed: 20 } });
    const test = agent;
    await test.enroll();
    await test.client.call('start', { for: '5m' });
    await waitFor(async () => (await test.client.call('status', {})).eventsAccepted > 0, 'the replayed session to be captured', 10_000);

    now += 5 * 60_000;
    await waitFor(() => !test.daemon.source.running, 'capture to stop by itself', 10_000);
    const status = await test.client.call('status', {});
    expect(status).toMatchObject({ state: 'stopped', capturing: false, reason: 'the session reached its end' });
    const history = await test.client.call('history', {});
    expect(history.at(-1)).toMatchObject({ from: 'running', to: 'stopped', reason: 'the session reached its end' });
  });
});
