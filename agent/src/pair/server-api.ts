/**
 * The calls a participant's agent makes to a Candor server on their behalf: redeeming a
 * pairing code, handing in a consent receipt for countersigning, and asking which version of
 * a paired study is current. Each waits at most
 * SERVER_TIMEOUT_MS, follows no redirect (one could lead to plain http or another host), and
 * turns every way the network can fail into one coded CandorError a person can act on.
 */
import { z } from 'zod';
import { fromBase64Url, keyIdOf } from '@candor/shared/crypto';
import { SignedStudyAnswer, type SignedStudyCheck } from '@candor/shared/consent';
import { ServerKeyChain, type ServerKeyEndorsement } from '@candor/shared/endorsement';
import { AuditCheckpoint } from '@candor/shared/audit-checkpoint';
import { ConsentReceipt, Pseudonym } from '@candor/shared/schemas/consent';
import { Base64Url, KeyId, Slug } from '@candor/shared/schemas/primitives';
import { StudyVersion } from '@candor/shared/schemas/study';
import { CandorError } from '@candor/shared/errors';
import { parseUnknown } from '@candor/shared/validation';
import { request, RequestFailure, type HttpAnswer } from '../net/request.ts';

/** How long one request to the server may take before the agent gives up on it (a third of NETWORK_ANSWER_MS). */
export const SERVER_TIMEOUT_MS = 15_000;

/** A server answer larger than this is not one of ours. */
const MAX_ANSWER_BYTES = 1024 * 1024;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Node reports a certificate the system does not trust with one of these codes. */
const TLS_CODES = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|ERR_TLS_|ERR_SSL_|HOSTNAME_MISMATCH$)/;

/** A public key with its id; the id must be the key's own (keyIdOf), or a server could name one key and hand over another. */
export const PublicKeyView = z
  .strictObject({ keyId: KeyId, publicKey: Base64Url.length(43) })
  .refine((view) => keyIdOf(fromBase64Url(view.publicKey)) === view.keyId, 'the key id is not the id of this key');
export type PublicKeyView = z.infer<typeof PublicKeyView>;

/** The server's answer to `POST /api/v1/devices/pair` (server/src/http/routes/devices.ts). */
export const PairAnswer = z.strictObject({
  deviceKeyId: KeyId,
  studyId: Slug,
  study: StudyVersion,
  aggregatorKey: PublicKeyView,
  serverKey: PublicKeyView,
});
export type PairAnswer = z.infer<typeof PairAnswer>;

const ErrorAnswer = z.object({ error: z.object({ code: z.string().max(64) }) });

/**
 * The server's origin, when `text` is an acceptable server URL: https, or plain http only to
 * this machine (nothing else can watch loopback traffic). No user name or password in it.
 * @throws CandorError `pair.bad-url` or `pair.insecure-url`.
 */
export function checkServerUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CandorError('pair.bad-url', 'the server address is not a URL; it looks like https://candor.example.org');
  }
  if (url.username !== '' || url.password !== '') throw new CandorError('pair.bad-url', 'the server address must not carry a user name or password');
  if (url.protocol === 'https:') return url.origin;
  if (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)) return url.origin;
  if (url.protocol === 'http:') {
    throw new CandorError('pair.insecure-url', `refusing plain http to ${url.host}: anyone on the network could read or change what is sent; use https://${url.host}`);
  }
  throw new CandorError('pair.bad-url', 'the server address must start with https://');
}

type Answer = { status: number; json: unknown };

function networkFailure(serverUrl: string, error: unknown): CandorError {
  const code = error instanceof RequestFailure ? error.code : 'unknown';
  if (code === 'timeout') {
    return new CandorError('server.timeout', `the server at ${serverUrl} did not answer within ${String(SERVER_TIMEOUT_MS / 1000)} s; nothing was changed`);
  }
  if (code === 'too-large') return new CandorError('server.protocol', `the server at ${serverUrl} sent an answer too large to be a Candor server's`);
  if (TLS_CODES.test(code)) {
    return new CandorError('server.tls', `the server at ${serverUrl} did not prove it is that server (TLS: ${code}); nothing was sent and nothing was changed`);
  }
  return new CandorError('server.unreachable', `could not reach the server at ${serverUrl} (${code}); check the address and your network; nothing was changed`);
}

/**
 * Sends one request to `path` on the server (a POST of `body` as JSON when given, else a GET).
 * @throws CandorError `server.timeout`, `server.tls`, `server.unreachable`, `server.redirect`,
 * or `server.protocol` for an answer that is not JSON or too large.
 */
async function requestJson(serverUrl: string, path: string, body?: unknown): Promise<Answer> {
  let answer: HttpAnswer;
  try {
    answer = await request(new URL(path, serverUrl), {
      method: body === undefined ? 'GET' : 'POST',
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      timeoutMs: SERVER_TIMEOUT_MS,
      maxBytes: MAX_ANSWER_BYTES,
    });
  } catch (error) {
    throw networkFailure(serverUrl, error);
  }
  if (answer.status >= 300 && answer.status < 400) {
    throw new CandorError('server.redirect', `the server at ${serverUrl} answered with a redirect (HTTP ${String(answer.status)}); Candor follows none, so give the address the server is reached at`);
  }
  try {
    return { status: answer.status, json: JSON.parse(answer.text) as unknown };
  } catch {
    throw new CandorError('server.protocol', `the server at ${serverUrl} answered with something that is not JSON (HTTP ${String(answer.status)}); is it a Candor server?`);
  }
}

function serverErrorCode(answer: Answer): string {
  const parsed = ErrorAnswer.safeParse(answer.json);
  return parsed.success ? parsed.data.error.code : 'no code';
}

function refused(serverUrl: string, answer: Answer): CandorError {
  if (answer.status === 429) return new CandorError('server.busy', 'the server asks to slow down; try again in a minute');
  return new CandorError('server.refused', `the server at ${serverUrl} refused (HTTP ${String(answer.status)}, ${serverErrorCode(answer)}); nothing was changed on this device`);
}

/**
 * The server's signed audit checkpoint (`GET /api/v1/audit/checkpoint`, public), which also names
 * the key it signs with now. Asked before a pairing code is sent: it proves the server is
 * reachable over trusted TLS, and a key other than the one the participant was given is
 * refused while the code and the device key are still unused. Its signature is the caller's to
 * check: a server can lie here.
 * @throws CandorError the `server.*` errors of the request, `server.refused`, or
 * `server.protocol` for an answer outside the contract.
 */
export async function fetchAuditCheckpoint(serverUrl: string): Promise<AuditCheckpoint> {
  const answer = await requestJson(serverUrl, '/api/v1/audit/checkpoint');
  if (answer.status !== 200) throw refused(serverUrl, answer);
  const parsed = AuditCheckpoint.safeParse(answer.json);
  if (!parsed.success) throw new CandorError('server.protocol', `the server at ${serverUrl} does not answer with a signed audit checkpoint as a Candor server does; is it one?`);
  return parsed.data;
}

/**
 * The server's chain of signing key endorsements, oldest first (`GET /api/v1/server-key/endorsements`),
 * which the caller must walk from its pinned key before trusting any key in it.
 * @throws CandorError the `server.*` errors of the request, `server.refused`, or
 * `server.protocol` for an answer outside the contract.
 */
export async function fetchServerKeyChain(serverUrl: string): Promise<ServerKeyEndorsement[]> {
  const answer = await requestJson(serverUrl, '/api/v1/server-key/endorsements');
  if (answer.status !== 200) throw refused(serverUrl, answer);
  const parsed = ServerKeyChain.safeParse(answer.json);
  if (!parsed.success) throw new CandorError('server.protocol', `the server at ${serverUrl} answered with a key chain outside the Candor contract`);
  return parsed.data.endorsements;
}

/**
 * Redeems a one-time pairing code for `devicePublicKey`.
 * @throws CandorError `pair.invalid-code` (wrong, used or expired), `pair.not-ready` (the
 * study has no sealing key yet; the code stays valid), `pair.wrong-study` (the code is for
 * another study; it stays valid), `pair.device-known`, the `server.*`
 * errors of the request, or `server.protocol` for an answer outside the contract.
 */
export async function redeemPairingCode(serverUrl: string, request: { code: string; studyId: string; devicePublicKey: string; pseudonym: string }): Promise<PairAnswer> {
  parseUnknown(Pseudonym, request.pseudonym, 'pseudonym');
  const answer = await requestJson(serverUrl, '/api/v1/devices/pair', request);
  if (answer.status === 201) {
    const parsed = PairAnswer.safeParse(answer.json);
    if (!parsed.success) throw new CandorError('server.protocol', `the server at ${serverUrl} answered the pairing outside the Candor contract; nothing was kept`);
    return parsed.data;
  }
  const code = serverErrorCode(answer);
  if (code === 'pairing.invalid-code' || (answer.status === 400 && code === 'validation')) {
    throw new CandorError('pair.invalid-code', 'the server does not accept this pairing code: it is wrong, already used, or expired (codes last 10 minutes). Ask for a new one');
  }
  if (code === 'pairing.wrong-study') {
    throw new CandorError('pair.wrong-study', `the code is for another study than ${request.studyId}; it was not used, nothing was kept on this device. Pair the study it is for, or ask for a code for ${request.studyId}`);
  }
  if (code === 'aggregator.unavailable') throw new CandorError('pair.not-ready', 'the study is not ready for devices yet; try again in a minute (the code stays valid until it expires)');
  if (code === 'conflict') throw new CandorError('pair.device-known', 'the server already has this device paired for the study; nothing was changed');
  throw refused(serverUrl, answer);
}

/**
 * Hands a participant-signed receipt to the server; resolves with the server's copy, which
 * the caller must check (countersignature, same content) before keeping it.
 * @throws CandorError `consent.refused-by-server`, `consent.chain-broken`, the `server.*` errors of the request, or
 * `server.protocol` for an answer outside the contract.
 */
export async function submitConsentReceipt(serverUrl: string, receipt: ConsentReceipt): Promise<ConsentReceipt> {
  const answer = await requestJson(serverUrl, '/api/v1/consent-receipts', { receipt });
  if (answer.status === 201) {
    const parsed = z.strictObject({ receipt: ConsentReceipt }).safeParse(answer.json);
    if (!parsed.success) throw new CandorError('server.protocol', `the server at ${serverUrl} answered the consent receipt outside the Candor contract; nothing was recorded`);
    return parsed.data.receipt;
  }
  if (serverErrorCode(answer) === 'consent.chain-broken') {
    throw new CandorError('consent.chain-broken', 'the server holds consent receipts from this device that do not end where this agent\'s chain does; nothing was recorded');
  }
  if (serverErrorCode(answer) === 'consent.invalid') {
    throw new CandorError('consent.refused-by-server', 'the server did not accept this consent (the study may have a newer version); nothing was recorded');
  }
  throw refused(serverUrl, answer);
}

/**
 * Asks which version of its study the server offers this device now, and with which sealing
 * key; resolves with the answer, whose signature and nonce the caller must check.
 * @throws CandorError the `server.*` errors of the request, `server.refused`, or
 * `server.protocol` for an answer outside the contract.
 */
export async function fetchStudyVersion(serverUrl: string, signed: SignedStudyCheck): Promise<SignedStudyAnswer> {
  const answer = await requestJson(serverUrl, '/api/v1/devices/study', signed);
  if (answer.status !== 200) throw refused(serverUrl, answer);
  const parsed = SignedStudyAnswer.safeParse(answer.json);
  if (!parsed.success) throw new CandorError('server.protocol', `the server at ${serverUrl} answered the study check outside the Candor contract`);
  return parsed.data;
}
