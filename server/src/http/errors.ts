/**
 * The one registry of coded errors the API answers with. Every expected failure is a
 * CandorError whose code is listed here; anything else is a bug and answers 500 without detail.
 */
import { CandorError } from '@candor/shared/errors';

export const HTTP_ERRORS = {
  validation: 400,
  'request.malformed': 400,
  'auth.required': 401,
  'auth.bad-credentials': 401,
  'auth.csrf': 403,
  'auth.forbidden': 403,
  'auth.self-grant': 403,
  'study.own-approval': 403,
  'not-found': 404,
  'study.wrong-state': 409,
  conflict: 409,
  'request.too-large': 413,
  'request.unsupported-encoding': 415,
  'request.unsupported-media-type': 415,
  'rate-limited': 429,
  'pairing.invalid-code': 400,
  'pairing.wrong-study': 409,
  'consent.invalid': 400,
  'consent.chain-broken': 409,
  'ingest.bad-signature': 401,
  'ingest.unknown-device': 403,
  'ingest.no-consent': 403,
  'ingest.study-not-open': 403,
  'ingest.wrong-recipient': 400,
  'ingest.batch-conflict': 409,
  'erasure.bad-signature': 401,
  'erasure.pending': 503,
  'release.budget-exhausted': 409,
  'aggregator.unavailable': 503,
  internal: 500,
} as const;

export type HttpErrorCode = keyof typeof HTTP_ERRORS;

export class HttpError extends CandorError {
  declare readonly code: HttpErrorCode;
  readonly statusCode: number;

  constructor(code: HttpErrorCode, message: string) {
    super(code, message);
    this.name = 'HttpError';
    this.statusCode = HTTP_ERRORS[code];
  }
}

/** The 404 for a missing object and for one the caller may not see: the same answer, so existence does not leak. */
export function notFound(): HttpError {
  return new HttpError('not-found', 'no such object');
}
