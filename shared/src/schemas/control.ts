import { z } from 'zod';
import { Slug, UtcTimestamp } from './primitives.ts';
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
  /** Signals the agent refuses on this platform, with why (e.g. no foreground-app resolver). */
  refusedSignals: z.array(z.strictObject({ signal: SignalName, reason: z.string() })),
});
export type AgentStatus = z.infer<typeof AgentStatus>;

const NoParams = z.strictObject({});
const Ok = z.strictObject({ ok: z.literal(true) });

export const CONTROL_METHODS = {
  status: { params: NoParams, result: AgentStatus },
  studies: {
    params: NoParams,
    result: z.array(z.strictObject({ studyId: Slug, version: z.int().min(1), title: z.string(), enrolled: z.boolean() })),
  },
  enroll: { params: z.strictObject({ studyId: Slug }), result: AgentStatus },
  start: { params: z.strictObject({ for: DurationText.optional() }), result: AgentStatus },
  pause: { params: z.strictObject({ for: DurationText.optional() }), result: AgentStatus },
  resume: { params: NoParams, result: AgentStatus },
  stop: { params: NoParams, result: AgentStatus },
  withdraw: { params: z.strictObject({ studyId: Slug }), result: AgentStatus },
  ping: { params: NoParams, result: Ok },
} as const;

export type ControlMethod = keyof typeof CONTROL_METHODS;
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

