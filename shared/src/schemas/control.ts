import { z } from 'zod';
import { Count, HashHex, KeyId, Slug, UtcTimestamp } from './primitives.ts';
import { SignalName } from './study.ts';

/**
 * The agent's local control API: the tray app and the `candor` CLI are both clients of it.
 * One contract, method → params → result; `ControlClient` in the agent is typed from it so a
 * call of the wrong shape does not compile. Transport: newline-delimited JSON over a Unix
 * socket readable only by its owner (docs/control-api.md).
 */

/** Durations as people type them: `45m`, `2h`, `90s`, `1h30m`. Parsed by the agent. */
export const DurationText = z.string().regex(/^(\d+h)?(\d+m)?(\d+s)?$/, 'expected a duration like 45m, 2h or 1h30m').refine((text) => text !== '', 'expected a duration like 45m, 2h or 1h30m');

export const SessionState = z.enum(['not-enrolled', 'enrolled', 'running', 'paused', 'stopped']);
export type SessionState = z.infer<typeof SessionState>;

export const AgentStatus = z.strictObject({
  state: SessionState,
  study: z.strictObject({ studyId: Slug, version: z.int().min(1), title: z.string() }).nullable(),
  /** True only while the OS input hook is installed. */
  capturing: z.boolean(),
  sessionEndsAt: UtcTimestamp.nullable(),
  pausedUntil: UtcTimestamp.nullable(),
  /** Why capture is not running, in words for a person (consent expired, new study version…). */
  reason: z.string().nullable(),
  /** True when the consent kept no longer covers the study as offered (a new version, expired): capture waits for `enroll`. */
  consentNeeded: z.boolean().optional(),
  /** Signals the agent refuses on this platform, with why (e.g. no foreground-app resolver). */
  refusedSignals: z.array(z.strictObject({ signal: SignalName, reason: z.string() })),
  /** Events the context filter passed on this session, and events it dropped: counts only. */
  eventsAccepted: Count,
  eventsExcluded: Count,
  /**
   * Audit checkpoints the server signed that contradict one it signed before (a log that lost
   * or changed entries), each kept as evidence in the data dir's audit-contradictions.jsonl.
   */
  auditContradictions: Count,
  /** The encrypted store on this device: what holds its master key, and what it holds. */
  storage: z.strictObject({
    /** The OS keychain, or a key file readable only by the user, with why. */
    keyBackend: z.strictObject({ kind: z.enum(['secret-service', 'key-file']), description: z.string() }),
    windowsHeld: Count,
    /** Windows dropped without being sent, by reason. */
    dropped: z.strictObject({ budget: Count, age: Count, rejected: Count, undecryptable: Count }),
    erasuresAwaitingAck: Count,
    /** The server uploads go to, or null when none is configured (nothing leaves the device). */
    uploadsTo: z.string().nullable(),
    /** The server refuses this device's uploads (why, in words, and since when): the windows are kept and retried. */
    uploadsRefused: z.strictObject({ studyId: Slug, reason: z.string().max(200), since: UtcTimestamp }).nullable(),
  }),
});
export type AgentStatus = z.infer<typeof AgentStatus>;

/** One recorded change of session state, with its reason; never any event data. */
export const SessionTransition = z.strictObject({
  at: UtcTimestamp,
  from: SessionState,
  to: SessionState,
  studyId: Slug.nullable(),
  version: z.int().min(1).nullable(),
  reason: z.string().min(1).max(500),
});
export type SessionTransition = z.infer<typeof SessionTransition>;

/** What a participant reads before consenting; `noticeHash` names that exact text. */
export const ConsentNotice = z.strictObject({
  studyId: Slug,
  version: z.int().min(1),
  title: z.string(),
  text: z.string(),
  noticeHash: HashHex,
});
export type ConsentNotice = z.infer<typeof ConsentNotice>;

/** One window held on this device, described in words: what it would send. */
export const PendingWindow = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
  studyId: Slug,
  studyVersion: z.int().min(1),
  windowStart: UtcTimestamp,
  /** When the hold ends and the window may be uploaded. */
  dueAt: UtcTimestamp,
  /** Already handed to the uploader: it can no longer be recalled from this device. */
  leaving: z.boolean(),
  description: z.string(),
});
export type PendingWindow = z.infer<typeof PendingWindow>;

/** Crockford's base32: no I, L, O or U, so a code read aloud or copied by hand is not misread. */
const PAIRING_CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** 20 symbols of 5 bits each: 100 bits, enough that guessing within a code's 10 minutes is hopeless. */
const PAIRING_CODE_SYMBOLS = 20;
/** The random bytes formatPairingCode needs. */
export const PAIRING_CODE_BYTES = Math.ceil((PAIRING_CODE_SYMBOLS * 5) / 8);
const CANONICAL_PAIRING_CODE = new RegExp(`^[${PAIRING_CODE_ALPHABET}]{${String(PAIRING_CODE_SYMBOLS)}}$`);

/**
 * A one-time pairing code as shown to a participant: five groups of four symbols, e.g.
 * `7K3M-Q9XD-4B2R-HN8C-W1FE`. It starts with a letter or a digit, so a shell command line
 * never takes it for an option.
 * @throws RangeError when `random` holds fewer than PAIRING_CODE_BYTES bytes.
 */
export function formatPairingCode(random: Uint8Array): string {
  if (random.length < PAIRING_CODE_BYTES) throw new RangeError(`a pairing code needs ${String(PAIRING_CODE_BYTES)} random bytes`);
  let code = '';
  for (let index = 0; index < PAIRING_CODE_SYMBOLS; index += 1) {
    // The 5 bits at `bit`, read from the two bytes they may straddle.
    const bit = index * 5;
    const byte = Math.floor(bit / 8);
    const word = (random[byte] ?? 0) * 256 + (random[byte + 1] ?? 0);
    const value = Math.floor(word / 2 ** (11 - (bit % 8))) % 32;
    code += (index > 0 && index % 4 === 0 ? '-' : '') + PAIRING_CODE_ALPHABET.charAt(value);
  }
  return code;
}

/**
 * The canonical form of a pairing code as a person typed it (what the server hashes), or null
 * when it cannot be one: case does not matter, hyphens and spaces are ignored, and I or L read
 * as 1 and O as 0, as Crockford's base32 decodes them.
 */
export function canonicalPairingCode(typed: string): string | null {
  const symbols = typed.replace(/[\s-]/g, '').toUpperCase().replace(/[IL]/g, '1').replace(/O/g, '0');
  return CANONICAL_PAIRING_CODE.test(symbols) ? symbols : null;
}

/** A pairing code as typed; compare and hash only its canonicalPairingCode. */
export const PairingCode = z
  .string()
  .max(64)
  .refine((typed) => canonicalPairingCode(typed) !== null, 'expected the pairing code the server showed, five groups of four letters and digits');

/**
 * What `candor pair` asks of the agent: redeem a one-time pairing code at a Candor server for
 * the study the participant names. The agent checks the URL (https, or plain http only to
 * this machine) before anything goes on the wire.
 */
export const PairParams = z.strictObject({
  serverUrl: z.string().min(1).max(2048),
  studyId: Slug,
  code: PairingCode,
  /** The server signing key's id as the organisation published it; pairing is refused if the server's differs. */
  serverKeyId: KeyId.optional(),
});

/** What pairing kept: the server and its signing key as first seen, and the study version it offers. */
export const PairingResult = z.strictObject({
  serverUrl: z.string(),
  /** The server's signing key, pinned on first use (docs/agent.md, "Pairing"). */
  serverKeyId: KeyId,
  studyId: Slug,
  version: z.int().min(1),
  title: z.string(),
});
export type PairingResult = z.infer<typeof PairingResult>;

const NoParams = z.strictObject({});
const Ok = z.strictObject({ ok: z.literal(true) });

export const CONTROL_METHODS = {
  status: { params: NoParams, result: AgentStatus },
  /** Pairs this agent with a Candor server for one study; waits on the network. */
  pair: { params: PairParams, result: PairingResult },
  studies: {
    params: NoParams,
    result: z.array(z.strictObject({ studyId: Slug, version: z.int().min(1), title: z.string(), enrolled: z.boolean() })),
  },
  notice: { params: z.strictObject({ studyId: Slug }), result: ConsentNotice },
  /** Consent to the notice the participant was shown: a stale `noticeHash` is refused. */
  enroll: { params: z.strictObject({ studyId: Slug, noticeHash: HashHex }), result: AgentStatus },
  start: { params: z.strictObject({ for: DurationText.optional() }), result: AgentStatus },
  pause: { params: z.strictObject({ for: DurationText.optional() }), result: AgentStatus },
  resume: { params: NoParams, result: AgentStatus },
  stop: { params: NoParams, result: AgentStatus },
  withdraw: { params: z.strictObject({ studyId: Slug }), result: AgentStatus },
  /** Every window held on this device, oldest first. */
  pending: { params: NoParams, result: z.array(PendingWindow) },
  /** Deletes one held window for good; one already leaving cannot be recalled. */
  delete: {
    params: z.strictObject({ id: z.string().regex(/^[A-Za-z0-9_-]{22}$/, 'expected a window id as candor pending shows it') }),
    result: z.strictObject({ outcome: z.enum(['deleted', 'not-found', 'leaving']) }),
  },
  /** Forgets everything captured in the last `last`, in memory and on disk. */
  forget: { params: z.strictObject({ last: DurationText }), result: z.strictObject({ deleted: Count, leaving: Count, since: UtcTimestamp }) },
  history: { params: z.strictObject({ limit: z.int().min(1).max(1000).optional() }), result: z.array(SessionTransition) },
  /** Status events are pushed on this connection from now on. */
  subscribe: { params: NoParams, result: Ok },
  ping: { params: NoParams, result: Ok },
} as const;

export type ControlMethod = keyof typeof CONTROL_METHODS;

/**
 * Methods whose answer waits on the Candor server (`enroll` only for a paired study). The
 * agent gives each request to the server 15 s; a client waits this long for these methods, so
 * the agent's own error arrives before the client gives up on an answer that may still come.
 */
export const NETWORK_METHODS: ReadonlySet<ControlMethod> = new Set<ControlMethod>(['pair', 'enroll']);
export const NETWORK_ANSWER_MS = 45_000;
export type ControlParams<M extends ControlMethod> = z.input<(typeof CONTROL_METHODS)[M]['params']>;
export type ControlResult<M extends ControlMethod> = z.output<(typeof CONTROL_METHODS)[M]['result']>;

export const ControlRequest = z.strictObject({
  id: z.int().min(0),
  method: z.string().min(1).max(64),
  params: z.unknown().optional(),
});
export type ControlRequest = z.infer<typeof ControlRequest>;

export const ControlError = z.strictObject({ code: z.string().min(1).max(64), message: z.string().max(1000) });

export const ControlResponse = z.discriminatedUnion('ok', [
  z.strictObject({ id: z.int().min(0), ok: z.literal(true), result: z.unknown() }),
  z.strictObject({ id: z.int().min(0).nullable(), ok: z.literal(false), error: ControlError }),
]);
export type ControlResponse = z.infer<typeof ControlResponse>;

/** Pushed to subscribers whenever the status changes. */
export const ControlEvent = z.strictObject({ event: z.literal('status'), status: AgentStatus, at: UtcTimestamp });

