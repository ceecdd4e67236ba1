import { CandorError } from '@candor/shared/errors';
import { DurationText } from '@candor/shared/schemas/control';
import { parseUnknown } from '@candor/shared/validation';

/**
 * Milliseconds in a duration as people type it (`45m`, `2h`, `1h30m`, `90s`).
 * @throws ValidationError when the text is not such a duration, or CandorError
 * `duration.zero` when it adds up to nothing.
 */
export function parseDuration(text: string): number {
  parseUnknown(DurationText, text, 'duration');
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  const [hours, minutes, seconds] = [match?.[1], match?.[2], match?.[3]].map((part) => Number(part ?? 0));
  const ms = (((hours ?? 0) * 60 + (minutes ?? 0)) * 60 + (seconds ?? 0)) * 1000;
  if (ms === 0) throw new CandorError('duration.zero', 'a duration must be longer than zero');
  return ms;
}

/** `1h30m`, `45m`, `20s`: for people, so whole minutes (rounded) once it is a minute or more. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.round(seconds / 60);
  const hours = Math.floor(minutes / 60);
  return `${hours > 0 ? `${hours}h` : ''}${minutes % 60 > 0 || hours === 0 ? `${minutes % 60}m` : ''}`;
}
