/**
 * The server keeps each device's consent receipts as one chain: a receipt is stored only when
 * its `previousReceiptHash` is the hash of the last receipt stored for that device (null for
 * the first). A fork, a replay, a skipped link or another device's link is refused with
 * `consent.chain-broken` and nothing is stored; the honest chain is accepted link by link.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { receiptHash } from '@candor/shared/consent';
import { canonicalHash } from '@candor/shared/crypto';
import type { ConsentReceipt } from '@candor/shared/schemas/consent';
import { StudyVersion } from '@candor/shared/schemas/study';
import { consentReceiptFor, createWorld, type Device, type Session, type World } from './world.ts';

describe('the consent receipt chain of a device', () => {
  let world: World;
  let pat: Session;
  let device: Device;
  let neighbour: Device;
  let study: StudyVersion;
  /** The countersigned receipts the server returned, in order. */
  const chain: ConsentReceipt[] = [];

  const send = (receipt: ConsentReceipt) => world.as(undefined, 'POST', '/api/v1/consent-receipts', { receipt });
  const stored = async (): Promise<ConsentReceipt[]> => {
    const body = (await world.as(pat, 'GET', '/api/v1/me/participation')).json<{ devices: { deviceKeyId: string; receipts: ConsentReceipt[] }[] }>();
    return body.devices.find((entry) => entry.deviceKeyId === device.pair.keyId)?.receipts ?? [];
  };
  const link = (previous: string | null, state: 'given' | 'withdrawn' = 'given') => consentReceiptFor(device, study, state, undefined, undefined, previous);

  beforeAll(async () => {
    world = await createWorld();
    const researcher = await world.signIn(world.person('rita', [{ role: 'researcher', studyId: null }]));
    const reviewer = await world.signIn(world.person('rowan', [{ role: 'privacy_reviewer', studyId: null }]));
    await world.openStudy('chained', researcher, reviewer);
    pat = await world.signIn(world.person('pat', [{ role: 'participant', studyId: null }]));
    device = await world.enrollDevice('chained', pat);
    neighbour = await world.enrollDevice('chained', await world.signIn(world.person('quin', [{ role: 'participant', studyId: null }])));
    study = StudyVersion.parse(JSON.parse(world.store.findStudyVersion({ studyId: 'chained', version: 1 })?.body ?? '{}'));
  });
  afterAll(async () => {
    await world.close();
  });

  it('accepts the honest chain: null first, then the hash of each receipt the server stored', async () => {
    for (let index = 0; index < 3; index += 1) {
      const last = chain.at(-1);
      const response = await send(link(last ? receiptHash(last) : null));
      expect(response.statusCode, response.body).toBe(201);
      chain.push(response.json<{ receipt: ConsentReceipt }>().receipt);
    }
    expect(await stored()).toEqual(chain);
    expect(chain.map((receipt) => receipt.integrity.previousReceiptHash)).toEqual([null, receiptHash(chain[0] as ConsentReceipt), receiptHash(chain[1] as ConsentReceipt)]);
  });

  it.each<[string, () => ConsentReceipt]>([
    ['a fork from an earlier link', () => link(receiptHash(chain[0] as ConsentReceipt))],
    ['a second first link', () => link(null)],
    ['a replay of the last receipt', () => ({ ...(chain.at(-1) as ConsentReceipt), integrity: { ...(chain.at(-1) as ConsentReceipt).integrity, server: null } })],
    ['a link skipping one the server never stored', () => link(canonicalHash({ never: 'sent' }))],
    ['a link to the hash of the receipt as the participant signed it, not as the server stored it', () => {
      const last = chain.at(-1) as ConsentReceipt;
      return link(receiptHash({ ...last, integrity: { ...last.integrity, server: null } }));
    }],
    ['a withdrawal forking from an earlier link', () => link(receiptHash(chain[1] as ConsentReceipt), 'withdrawn')],
  ])('refuses %s with consent.chain-broken and stores nothing', async (_, receipt) => {
    const before = await stored();
    const response = await send(receipt());
    expect(response.statusCode, response.body).toBe(409);
    expect(response.json<{ error: { code: string } }>().error.code).toBe('consent.chain-broken');
    expect(await stored()).toEqual(before);
  });

  it('keeps chains apart: another device\'s chain starts at null and cannot continue this one', async () => {
    const foreign = consentReceiptFor(neighbour, study, 'given', undefined, undefined, receiptHash(chain.at(-1) as ConsentReceipt));
    expect((await send(foreign)).json<{ error: { code: string } }>().error.code).toBe('consent.chain-broken');
    expect((await send(consentReceiptFor(neighbour, study))).statusCode).toBe(201);
  });

  it('still accepts the next honest link after every refusal', async () => {
    const response = await send(link(receiptHash(chain.at(-1) as ConsentReceipt), 'withdrawn'));
    expect(response.statusCode, response.body).toBe(201);
    chain.push(response.json<{ receipt: ConsentReceipt }>().receipt);
    expect(await stored()).toEqual(chain);
  });
});
