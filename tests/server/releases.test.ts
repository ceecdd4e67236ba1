/**
 * The release route against the real server and SQLite files: which cohort cells a release shows
 * (a noisy threshold well above k, never a cell under k) and the ε ledger that never renews.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAggregatorStore } from '../../server/src/db/store.ts';
import { cellsPerParticipant, releasePlan } from '../../server/src/aggregate/cohorts.ts';
import { StudyVersion } from '../../shared/src/schemas/study.ts';
import { createWorld, SEED_STUDY, type Session, type World } from './world.ts';

type ReleasesBody = { epsilonSpent: number; lifetimeEpsilon: number; releases: { epsilon: number; cells: { metric: string; noisyTotal: number }[] }[] };

let world: World;
let researcher: Session;

beforeAll(async () => {
  // Seeded noise: the outcomes below are fixed for a given stream, never left to chance.
  let state = 3;
  world = await createWorld({ uniform: () => (state = (state * 48271) % 2147483647) / 2147483647 });
  researcher = await world.signIn(world.person('rita', [{ role: 'researcher', studyId: null }]));
  const reviewer = await world.signIn(world.person('rowan', [{ role: 'privacy_reviewer', studyId: null }]));
  await world.openStudy('wide', researcher, reviewer);
});
afterAll(async () => {
  await world.close();
});

describe('a release over cohort cells written through the aggregator store (standing in for hundreds of participants)', () => {
  const k = SEED_STUDY.k ?? 10;
  // The noise scale comes from the cells one participant can be in under the study's scope, not from the cells present.
  const { threshold, countScale } = releasePlan(k, SEED_STUDY.dp?.epsilonPerRelease ?? 1, cellsPerParticipant([StudyVersion.parse(SEED_STUDY)]));
  // Twenty noise scales past τ: released whatever the draw.
  const wide = Math.ceil(threshold + 20 * countScale);

  beforeAll(() => {
    const aggregatorStore = openAggregatorStore(world.files);
    const computedAt = new Date().toISOString();
    aggregatorStore.replaceCohortResults({
      studyId: 'wide',
      rows: [
        { studyId: 'wide', metric: 'keyboard-activity.keyCount', participants: wide, total: wide * 40, computedAt },
        { studyId: 'wide', metric: 'shortcuts.Ctrl+C', participants: k, total: k * 5, computedAt },
        { studyId: 'wide', metric: 'typed-vocabulary.hunter2', participants: k - 1, total: k - 1, computedAt },
      ],
    });
    aggregatorStore.close();
  });

  it('shows a cell far past τ with a noisy total, and neither the cell of exactly k nor the one of k − 1', async () => {
    const response = await world.as(researcher, 'POST', '/api/v1/studies/wide/releases', { reason: 'first look' });
    expect(response.statusCode).toBe(201);
    const [release] = response.json<ReleasesBody>().releases;
    expect(release?.cells.map((cell) => cell.metric)).toEqual(['keyboard-activity.keyCount']);
    expect(release?.cells[0]?.noisyTotal).not.toBe(wide * 40);
    expect(response.body).not.toContain('hunter2');
  });

  it('refuses a release that would cross the lifetime budget, and records nothing for it', async () => {
    const lifetime = SEED_STUDY.dp?.lifetimeEpsilon ?? 4;
    const perRelease = SEED_STUDY.dp?.epsilonPerRelease ?? 1;
    for (let spent = perRelease; spent + perRelease <= lifetime + 1e-9; spent += perRelease) {
      expect((await world.as(researcher, 'POST', '/api/v1/studies/wide/releases', { reason: 'another look' })).statusCode).toBe(201);
    }
    const auditBefore = world.store.lastAuditRow();
    const refused = await world.as(researcher, 'POST', '/api/v1/studies/wide/releases', { reason: 'one more' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toEqual({ error: { code: 'release.budget-exhausted', message: "this study's privacy budget is spent" } });
    expect(world.store.lastAuditRow()).toEqual(auditBefore);
    expect(world.store.epsilonSpent('wide')).toBeCloseTo(lifetime, 9);
    expect(world.store.listReleases('wide')).toHaveLength(Math.round(lifetime / perRelease));
  });
});
