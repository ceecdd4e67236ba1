/**
 * The redaction step and the door to aggregation: context batches in, window aggregates out.
 * Raw key identities, typed text, window titles and pointer coordinates exist only inside
 * this module's call stack and private state (privacy invariant 2); what reaches
 * `aggregate/` is classes, allowlisted shortcut names, surviving tokens, timings and buckets.
 * Nothing here writes files, and the logger receives counts only.
 */
import type { Logger } from 'pino';
import { canonicalHash } from '@candor/shared/crypto';
import { CandorError } from '@candor/shared/errors';
import { RedactionPolicy } from '@candor/shared/schemas/policy';
import type { AppRef, StudyVersion } from '@candor/shared/schemas/study';
import { HISTOGRAM_EDGES, type WindowAggregate } from '@candor/shared/schemas/window';
import { parseUnknown } from '@candor/shared/validation';
import type { AppContext, ContextBatch, InputEvent, KeyEvent, PointerEvent } from '../capture/events.ts';
import { judgeContext } from '../context/filter.ts';
import { recordsOf, type RanDetectors } from '../aggregate/records.ts';
import { addTo, bucketOf, KEY_CLASS_INDEX, SliceStore } from '../aggregate/slices.ts';
import { detectorsFor, detectorVersions, type Detector } from './detect.ts';
import { KEYS, Keymap, shortcutName, type KeyboardLayout } from './keyboard.ts';
import { LineRebuilder } from './typing.ts';
import { countVocabulary } from './vocabulary.ts';

/** A gap longer than this between two key presses ends a typing burst. */
const BURST_GAP_MS = 2_000;
/** Bursts shorter than this say nothing about speed. */
const MIN_BURST_KEYS = 5;
/** A gap longer than this is absence, not a pause in typing, and an app's idle time. */
const IDLE_MS = 60_000;
/** Pointer moves further apart than this belong to different movements. */
const MOVEMENT_GAP_MS = 250;
/** Events stamped further ahead of the clock than this are refused (a broken clock would open far-future windows). */
const FUTURE_TOLERANCE_MS = 60_000;
const MODIFIER_KEYCODES = new Set([29, 3613, 56, 3640, 42, 54, 3675, 3676, 58, 69, 70]);

export type PipelineOptions = {
  /** The participant's keyboard layout (what their keys type); US QWERTY unless told. */
  layout?: KeyboardLayout;
  /** Receives counts of refused events, never their content. */
  logger?: Logger;
};

export type Pipeline = {
  /** Redacts and counts one batch of events from one foreground context. */
  accept(batch: ContextBatch): void;
  /** Every window that has ended by `now`, one record per signal the study asked for. */
  closeWindows(now: number): WindowAggregate[];
  /** Drops everything held about what was captured at or after `time` (`candor forget`). */
  discardSince(time: number): void;
};

type TypingState = { rebuilder: LineRebuilder; lastTime: number };

function matchOf(apps: readonly AppRef[], windowClass: string | null): AppRef | undefined {
  if (windowClass === null) return undefined;
  const wanted = windowClass.toLowerCase();
  return apps.find((app) => app.match.toLowerCase() === wanted);
}

/**
 * Creates the pipeline for one study version.
 * @throws ValidationError when the policy is malformed.
 * @throws CandorError `redact.policy-mismatch` when the policy is not the one the study
 * references (id, version and hash), and `redact.vocabulary-not-allowed` when the study asks
 * for typed vocabulary and the policy does not allow it.
 */
export function createPipeline(study: StudyVersion, policyInput: RedactionPolicy, clock: () => number, options: PipelineOptions = {}): Pipeline {
  const policy = parseUnknown(RedactionPolicy, policyInput, 'redaction policy');
  const policyHash = canonicalHash(policy);
  const reference = study.redactionPolicy;
  if (reference.id !== policy.id || reference.version !== policy.version || reference.hash !== policyHash) {
    throw new CandorError('redact.policy-mismatch', `the study references redaction policy ${reference.id} v${reference.version} and a different one was given`);
  }
  const wantsVocabulary = study.signals.includes('typed-vocabulary');
  if (wantsVocabulary && !policy.vocabulary.enabled) {
    throw new CandorError('redact.vocabulary-not-allowed', `redaction policy ${policy.id} v${policy.version} does not allow typed vocabulary`);
  }
  return new RedactionPipeline(study, policy, policyHash, clock, options);
}

class RedactionPipeline implements Pipeline {
  readonly #study: StudyVersion;
  readonly #policy: RedactionPolicy;
  readonly #detectors: readonly Detector[];
  readonly #ran: RanDetectors;
  readonly #clock: () => number;
  readonly #logger: Logger | undefined;
  readonly #keymap: Keymap;
  readonly #slices: SliceStore;
  readonly #shortcuts: ReadonlySet<string>;
  readonly #wantsVocabulary: boolean;
  readonly #typing = new Map<string, TypingState>();

  // Modifier state the hook's flags cannot tell: AltGr (right Alt) and Caps Lock.
  #altGrDown = false;
  #capsLock = false;
  // The last context, so a switch ends what was being typed and moved.
  #contextKey = '';
  #typingHere: TypingState | undefined;
  // Keyboard timing.
  #lastKeyTime: number | undefined;
  #burstStart = 0;
  #burstKeys = 0;
  // Pointer movement, in pixels and only until the movement ends.
  #moveX = 0;
  #moveY = 0;
  #moveStart = 0;
  #moveLast: number | undefined;
  #movePath = 0;
  #diagonal = 1;
  // App usage.
  #activityLabel: string | undefined;
  #activityTime: number | undefined;
  #refused = 0;

  constructor(study: StudyVersion, policy: RedactionPolicy, policyHash: string, clock: () => number, options: PipelineOptions) {
    this.#study = study;
    this.#policy = policy;
    this.#detectors = detectorsFor(policy.detectors);
    this.#ran = { policyHash, detectors: detectorVersions(this.#detectors) };
    this.#clock = clock;
    this.#logger = options.logger;
    this.#keymap = new Keymap(options.layout ?? 'us-qwerty');
    this.#slices = new SliceStore(study.windowMinutes);
    this.#shortcuts = new Set(study.signals.includes('shortcuts') ? study.shortcuts : []);
    this.#wantsVocabulary = study.signals.includes('typed-vocabulary') && policy.vocabulary.enabled;
  }

  accept(batch: ContextBatch): void {
    const context = batch.context;
    // Defence in depth: the daemon filters before handing batches here, and a batch the
    // context filter would drop must count for nothing even if a caller forgets.
    const verdict = judgeContext(context, this.#study.apps);
    if (!verdict.capture) {
      // Focus went somewhere we do not look: what was being typed before has ended.
      this.#leaveContext();
      return;
    }
    const label = verdict.label ?? undefined;
    const sensitive = this.#isSensitive(context);
    this.#switchContext(context, sensitive);
    const typing = this.#typingHere;
    const limit = this.#clock() + FUTURE_TOLERANCE_MS;
    const before = this.#refused;
    for (const event of batch.events) {
      if (!Number.isFinite(event.time) || event.time > limit || !this.#slices.isOpen(event.time)) {
        this.#refused += 1;
        continue;
      }
      this.#countActivity(label, event.time);
      this.#acceptEvent(event, sensitive, typing);
    }
    if (this.#refused !== before) this.#logger?.warn({ refused: this.#refused - before }, 'refused events stamped outside the open windows');
  }

  closeWindows(now: number): WindowAggregate[] {
    const windowMs = this.#study.windowMinutes * 60_000;
    const boundary = now - (now % windowMs);
    // Finish what is in progress in a window that is ending, so it is counted there.
    if (this.#lastKeyTime !== undefined && (this.#lastKeyTime < boundary || this.#lastKeyTime + BURST_GAP_MS <= now)) this.#endBurst();
    if (this.#moveLast !== undefined && (this.#moveLast < boundary || this.#moveLast + MOVEMENT_GAP_MS <= now)) this.#endMovement();
    for (const state of this.#typing.values()) if (state.lastTime < boundary) state.rebuilder.boundary(state.lastTime);
    return this.#slices.closeEnded(now).flatMap((window) => recordsOf(window, this.#study, this.#ran));
  }

  discardSince(time: number): void {
    this.#slices.discardSince(time);
    for (const state of this.#typing.values()) state.rebuilder.discard();
    this.#lastKeyTime = undefined;
    this.#burstKeys = 0;
    this.#moveLast = undefined;
    this.#movePath = 0;
    this.#activityTime = undefined;
  }

  #isSensitive(context: AppContext): boolean {
    const title = context.windowTitle?.toLowerCase();
    return title !== undefined && this.#policy.sensitiveContext.titlePhrases.some((phrase) => title.includes(phrase));
  }

  #switchContext(context: AppContext, sensitive: boolean): void {
    const key = `${context.windowClass ?? ''}\n${context.windowTitle ?? ''}`;
    if (key === this.#contextKey) return;
    this.#leaveContext();
    this.#contextKey = key;
    this.#diagonal = Math.max(1, Math.hypot(context.screen.width, context.screen.height));
    const vocabularyApp = this.#wantsVocabulary && !sensitive ? matchOf(this.#study.vocabularyApps, context.windowClass) : undefined;
    if (vocabularyApp !== undefined) this.#typingHere = this.#typingStateFor(vocabularyApp.match.toLowerCase());
  }

  #leaveContext(): void {
    this.#contextKey = '';
    this.#endMovement();
    if (this.#typingHere !== undefined) this.#typingHere.rebuilder.boundary(this.#typingHere.lastTime);
    this.#typingHere = undefined;
  }

  #typingStateFor(app: string): TypingState {
    let state = this.#typing.get(app);
    if (state === undefined) {
      const created: TypingState = {
        lastTime: 0,
        rebuilder: new LineRebuilder(this.#policy.sensitiveContext, (text, time) => {
          const slice = this.#slices.at(time);
          countVocabulary(text, this.#policy.vocabulary, this.#detectors, slice.vocabulary, slice.redactions);
        }),
      };
      this.#typing.set(app, created);
      state = created;
    }
    return state;
  }

  #acceptEvent(event: InputEvent, sensitive: boolean, typing: TypingState | undefined): void {
    switch (event.kind) {
      case 'key-down':
        this.#keyDown(event, sensitive, typing);
        return;
      case 'key-up':
        if (event.keycode === KEYS.altRight) this.#altGrDown = false;
        return;
      case 'mouse-move':
      case 'mouse-down':
      case 'mouse-up':
      case 'wheel':
        this.#pointer(event, typing);
        return;
    }
  }

  #keyDown(event: KeyEvent, sensitive: boolean, typing: TypingState | undefined): void {
    const keycode = event.keycode;
    if (keycode === KEYS.altRight) this.#altGrDown = true;
    if (keycode === KEYS.capsLock) this.#capsLock = !this.#capsLock;
    // In a sensitive context, or while a password prompt may be showing, keys count for
    // nothing: even timings and classes of a password say something about it.
    if (sensitive) return;
    const { shift, meta } = event.modifiers;
    const altGr = this.#keymap.hasAltGr && (this.#altGrDown || (event.modifiers.ctrl && event.modifiers.alt));
    const ctrl = event.modifiers.ctrl && !altGr;
    const alt = event.modifiers.alt && !altGr;
    const meaning = this.#keymap.meaningOf(keycode);
    // Modifier keys change nothing in the text on their own (the hook flags Ctrl's own press as Ctrl).
    if (typing !== undefined && !MODIFIER_KEYCODES.has(keycode)) {
      typing.lastTime = event.time;
      if (typing.rebuilder.skipping) {
        typing.rebuilder.keyDown({ keycode, char: '', dead: false, shift, ctrl, alt, meta, time: event.time });
        return;
      }
      const char = this.#keymap.characterOf(meaning, shift, this.#capsLock, altGr);
      typing.rebuilder.keyDown({ keycode, char, dead: char !== '' && !altGr && this.#keymap.deadKeys.includes(char), shift, ctrl, alt, meta, time: event.time });
    }
    const slice = this.#slices.at(event.time);
    slice.keyCount += 1;
    const keyClass = meaning.classes[shift ? 1 : 0];
    slice.keyClasses[KEY_CLASS_INDEX[keyClass]] = (slice.keyClasses[KEY_CLASS_INDEX[keyClass]] ?? 0) + 1;
    if (keyClass === 'backspace') slice.correctionCount += 1;
    if (MODIFIER_KEYCODES.has(keycode)) return;
    if ((ctrl || alt || meta) && this.#shortcuts.size > 0) {
      const name = shortcutName(meaning, ctrl, alt, shift, meta);
      if (this.#shortcuts.has(name)) addTo(slice.shortcuts, name, 1);
    }
    this.#keyTiming(event.time);
  }

  #keyTiming(time: number): void {
    const last = this.#lastKeyTime;
    if (last !== undefined && time >= last) {
      const gap = time - last;
      if (gap < IDLE_MS) {
        const pauses = this.#slices.at(time).pauses;
        const bucket = bucketOf(HISTOGRAM_EDGES.pauseMs, gap);
        pauses[bucket] = (pauses[bucket] ?? 0) + 1;
      }
      if (gap > BURST_GAP_MS) this.#endBurst();
    }
    if (this.#burstKeys === 0) this.#burstStart = time;
    this.#burstKeys += 1;
    this.#lastKeyTime = time;
  }

  #endBurst(): void {
    const last = this.#lastKeyTime;
    if (last !== undefined && this.#burstKeys >= MIN_BURST_KEYS && last > this.#burstStart) {
      const keysPerMinute = ((this.#burstKeys - 1) / (last - this.#burstStart)) * 60_000;
      const speed = this.#slices.at(last).typingSpeed;
      const bucket = bucketOf(HISTOGRAM_EDGES.typingSpeedKpm, keysPerMinute);
      speed[bucket] = (speed[bucket] ?? 0) + 1;
    }
    this.#burstKeys = 0;
    this.#lastKeyTime = undefined;
  }

  #pointer(event: PointerEvent, typing: TypingState | undefined): void {
    switch (event.kind) {
      case 'mouse-move': {
        if (!Number.isFinite(event.x) || !Number.isFinite(event.y)) return;
        const last = this.#moveLast;
        if (last !== undefined && event.time >= last && event.time - last <= MOVEMENT_GAP_MS) {
          this.#movePath += Math.hypot(event.x - this.#moveX, event.y - this.#moveY);
        } else {
          this.#endMovement();
          this.#moveStart = event.time;
        }
        this.#moveX = event.x;
        this.#moveY = event.y;
        this.#moveLast = event.time;
        return;
      }
      case 'mouse-down': {
        this.#endMovement();
        // A click moves the text cursor somewhere keys cannot tell.
        typing?.rebuilder.boundary(typing.lastTime);
        const clicks = this.#slices.at(event.time).clicks;
        // uiohook numbers buttons 1 left, 2 right, 3 middle.
        const index = event.button === 1 ? 0 : event.button === 2 ? 1 : event.button === 3 ? 2 : 3;
        clicks[index] += 1;
        return;
      }
      case 'mouse-up':
        return;
      case 'wheel':
        if (Number.isFinite(event.rotation)) this.#slices.at(event.time).scrollTicks += Math.abs(Math.trunc(event.rotation));
        return;
    }
  }

  #endMovement(): void {
    const last = this.#moveLast;
    if (last !== undefined && this.#movePath > 0) {
      const slice = this.#slices.at(last);
      const steps = this.#movePath / (this.#diagonal / 64);
      const distanceBucket = bucketOf(HISTOGRAM_EDGES.mouseDistanceSteps, steps);
      slice.distance[distanceBucket] = (slice.distance[distanceBucket] ?? 0) + 1;
      if (last > this.#moveStart) {
        const diagonalsPerSecond = this.#movePath / this.#diagonal / ((last - this.#moveStart) / 1000);
        const speedBucket = bucketOf(HISTOGRAM_EDGES.mouseSpeedDiagonalsPerSecond, diagonalsPerSecond);
        slice.speed[speedBucket] = (slice.speed[speedBucket] ?? 0) + 1;
      }
    }
    this.#moveLast = undefined;
    this.#movePath = 0;
  }

  #countActivity(label: string | undefined, time: number): void {
    const last = this.#activityTime;
    if (label !== undefined && label === this.#activityLabel && last !== undefined && time >= last && time - last <= IDLE_MS) {
      addTo(this.#slices.at(time).appMs, label, time - last);
    }
    this.#activityLabel = label;
    this.#activityTime = time;
  }
}
