import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAggregator } from '../../server/src/aggregate/aggregator.ts';
import { createWorld, keyboardWindow, type Device, type Session, type World } from './world.ts';

describe('a study from draft to released cohort results', () => {
  let world: World;
  let researcher: Session;
  let devices: Device[];

  beforeAll(async () => {
    // Seeded noise, so whether a borderline cell clears the threshold never varies between runs.
    let state = 5;
    world = await createWorld({ uniform: () => (state = (state * 48271) % 2147483647) / 2147483647 });
    researcher = await world.signIn(world.person('rita', [{ role: 'researcher', studyId: null }]));
    const reviewer = await world.signIn(world.person('rowan', [{ role: 'privacy_reviewer', studyId: null }]));
    await world.openStudy('coding', researcher, reviewer);
    devices = [];
    for (let index = 0; index < 10; index += 1) {
      const participant = await world.signIn(world.person(`pat${index}`, [{ role: 'participant', studyId: null }]));
      const device = await world.enrollDevice('coding', participant);
      expect(await world.consent(device)).toBe(201);
      devices.push(device);
    }
  });
  afterAll(async () => {
    await world.close();
  });

  it('stores each sealed batch once and answers a retry as a duplicate', async () => {
    const [device] = devices;
    if (!device) throw new Error('no device');
    const envelope = world.seal(device, { windows: [keyboardWindow('coding', 40)] });
    const first = await world.as(undefined, 'POST', '/api/v1/ingest', envelope);
    expect(first.statusCode).toBe(201);
    expect(first.json()).toEqual({ batchId: envelope.header.batchId, status: 'stored' });
    const again = await world.as(undefined, 'POST', '/api/v1/ingest', envelope);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ batchId: envelope.header.batchId, status: 'duplicate' });
  });

  it('keeps a cell of exactly k participants out of a release, whose noisy threshold sits well above k, and still spends the budget', async () => {
    for (const device of devices.slice(1)) {
      const response = await world.as(undefined, 'POST', '/api/v1/ingest', world.seal(device, { windows: [keyboardWindow('coding', 50)] }));
      expect(response.statusCode).toBe(201);
    }
    expect(world.aggregator.runOnce()).toMatchObject({ accepted: 10, quarantined: 0 });
    expect(world.store.aggregator.cohortResultsOfStudy('coding')).toContainEqual(expect.objectContaining({ metric: 'keyboard-activity.keyCount', participants: 10 }));
    const release = await world.as(researcher, 'POST', '/api/v1/studies/coding/releases', { reason: 'first look' });
    expect(release.statusCode).toBe(201);
    const body = release.json<{ epsilonSpent: number; releases: { cells: { metric: string }[] }[] }>();
    expect(body.epsilonSpent).toBe(1);
    expect(body.releases[0]?.cells).toEqual([]);
  });

  it('deletes participant rows older than the study retention and recomputes the cohorts without them', () => {
    expect(world.store.aggregator.cohortResultsOfStudy('coding').length).toBeGreaterThan(0);
    const later = createAggregator({ files: world.files, keyFile: world.aggregatorKeyFile, now: () => new Date(Date.now() + 91 * 86_400_000) });
    expect(later.runOnce().expired).toBe(10);
    later.close();
    expect(world.store.aggregator.cohortResultsOfStudy('coding')).toEqual([]);
  });
});
