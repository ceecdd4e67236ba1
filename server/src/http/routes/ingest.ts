/** The agent's uploader contract (shared/src/schemas/ingest.ts), implemented exactly. */
import { PRIVACY_LIMITS } from '@candor/shared/defaults';
import { SealedEnvelope } from '@candor/shared/schemas/envelope';
import { API_PATHS, IngestAccepted, SignedErasureAck, SignedErasureRequest } from '@candor/shared/schemas/ingest';
import { acceptEnvelope } from '../../ingest/accept.ts';
import { eraseParticipant } from '../../ingest/erasure.ts';
import { defineRoute } from '../route.ts';

/** base64 of the largest allowed body plus the header and JSON framing. */
const INGEST_BODY_LIMIT = Math.ceil((PRIVACY_LIMITS.maxUploadBodyBytes * 4) / 3) + 4096;

export const INGEST_ROUTES = [
  defineRoute({
    method: 'POST',
    url: API_PATHS.ingest,
    permission: { kind: 'device', reason: 'the envelope is signed by a paired device key' },
    bodyLimit: INGEST_BODY_LIMIT,
    rateLimit: { max: 600, timeWindowMs: 60_000 },
    schema: { body: SealedEnvelope, response: { 200: IngestAccepted, 201: IngestAccepted } },
    handler: ({ services, body }) => acceptEnvelope(services.store, body, services.now()),
  }),
  defineRoute({
    method: 'POST',
    url: API_PATHS.erasure,
    permission: { kind: 'device', reason: 'the request is signed by a paired device key' },
    rateLimit: { max: 30, timeWindowMs: 60_000 },
    schema: { body: SignedErasureRequest, response: { 200: SignedErasureAck } },
    handler: async ({ services, body }) => ({
      status: 200,
      body: await eraseParticipant(services.store, body, {
        now: services.now,
        waitMs: services.erasureWaitMs,
        serverKey: () => services.serverKeys().current,
      }),
    }),
  }),
];
