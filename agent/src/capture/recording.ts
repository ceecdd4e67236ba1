/**
 * Recorded input streams (`seeds/recordings/*.jsonl`): a header line, then context lines and
 * event lines in time order, `at` in milliseconds from the start. Every line is parsed with a
 * strict schema; a bad line is named by number, never quoted.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { CandorError } from '@candor/shared/errors';
import { parseUnknown } from '@candor/shared/validation';
import type { AppContext, InputEvent } from './events.ts';

const At = z.int().min(0);
const Coordinate = z.int().min(0).max(100_000);
const Modifier = z.enum(['shift', 'ctrl', 'alt', 'meta']);

const Header = z.strictObject({
  recording: z.literal('candor/1'),
  name: z.string().min(1).max(100),
  screen: z.strictObject({ width: z.int().min(1), height: z.int().min(1) }),
});

const Line = z.discriminatedUnion('kind', [
  z.strictObject({ at: At, kind: z.literal('context'), windowClass: z.string().min(1).max(200).nullable(), windowTitle: z.string().max(500).nullable() }),
  z.strictObject({ at: At, kind: z.enum(['key-down', 'key-up']), keycode: z.int().min(0).max(0xffff), mods: z.array(Modifier).max(4).default([]) }),
  z.strictObject({ at: At, kind: z.literal('mouse-move'), x: Coordinate, y: Coordinate }),
  z.strictObject({ at: At, kind: z.enum(['mouse-down', 'mouse-up']), x: Coordinate, y: Coordinate, button: z.int().min(1).max(8) }),
  z.strictObject({ at: At, kind: z.literal('wheel'), rotation: z.int().min(-100).max(100), direction: z.enum(['vertical', 'horizontal']) }),
]);
type Line = z.output<typeof Line>;

/** One step of a recording: a context change, or an event whose time is set when played. */
export type RecordedStep = { at: number } & ({ context: Omit<AppContext, 'screen'> } | { event: (time: number) => InputEvent });
export type Recording = { name: string; screen: AppContext['screen']; steps: RecordedStep[] };

function stepOf(line: Line): RecordedStep {
  switch (line.kind) {
    case 'context':
      return { at: line.at, context: { windowClass: line.windowClass, windowTitle: line.windowTitle } };
    case 'key-down':
    case 'key-up': {
      const modifiers = { shift: line.mods.includes('shift'), ctrl: line.mods.includes('ctrl'), alt: line.mods.includes('alt'), meta: line.mods.includes('meta') };
      return { at: line.at, event: (time) => ({ kind: line.kind, time, keycode: line.keycode, modifiers }) };
    }
    case 'mouse-move':
      return { at: line.at, event: (time) => ({ kind: 'mouse-move', time, x: line.x, y: line.y }) };
    case 'mouse-down':
    case 'mouse-up':
      return { at: line.at, event: (time) => ({ kind: line.kind, time, x: line.x, y: line.y, button: line.button }) };
    case 'wheel':
      return { at: line.at, event: (time) => ({ kind: 'wheel', time, rotation: line.rotation, direction: line.direction }) };
  }
}

/**
 * Parses a recording's text.
 * @throws ValidationError naming the first bad line, or CandorError `recording.invalid`
 * for a line that is not JSON or times that go backwards.
 */
export function parseRecording(text: string): Recording {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const json = (line: string | undefined, number: number): unknown => {
    try {
      return JSON.parse(line ?? '');
    } catch {
      throw new CandorError('recording.invalid', `line ${number} of the recording is not JSON`);
    }
  };
  const header = parseUnknown(Header, json(lines[0], 1), 'recording header');
  const steps: RecordedStep[] = [];
  lines.slice(1).forEach((line, index) => {
    const step = stepOf(parseUnknown(Line, json(line, index + 2), `recording line ${index + 2}`));
    const previous = steps.at(-1);
    if (previous && step.at < previous.at) throw new CandorError('recording.invalid', `line ${index + 2} of the recording goes back in time`);
    steps.push(step);
  });
  if (!steps.some((step) => 'event' in step)) throw new CandorError('recording.invalid', 'the recording has no events');
  return { name: header.name, screen: header.screen, steps };
}

/** @throws CandorError `recording.unreadable`, or what parseRecording throws. */
export function readRecording(path: string): Recording {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new CandorError('recording.unreadable', `cannot read the recording ${path}`);
  }
  return parseRecording(text);
}
