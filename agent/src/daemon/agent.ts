/**
 * The agent's core: one session machine, one capture, one journal. Every command and every
 * deadline goes through `apply`, which records the transition and then makes the hook match
 * `captureAllowed` — the single place where capture is switched on or off.
 */
import type { Logger } from 'pino';
import type { z } from 'zod';
import { CandorError, errorCode } from '@candor/shared/errors';
import type { AgentStatus, CONTROL_METHODS, ControlMethod, ControlResult, SessionTransition } from '@candor/shared/schemas/control';
import type { StudyVersion } from '@candor/shared/schemas/study';
import { createCapture, type Capture } from '../capture/pipeline.ts';
import type { InputSource } from '../capture/source.ts';
import type { StudyCatalog } from '../consent/catalog.ts';
import { consentNoticeOf } from '../consent/notice.ts';
import { openConsentRecords, UNPAIRED_AGGREGATOR_KEY_ID } from '../consent/receipts.ts';
import { countContradictions } from '../pair/checkpoints.ts';
import { openPairing } from '../pair/pairing.ts';
import { parseDuration } from '../session/duration.ts';
import { openSessionJournal } from '../session/journal.ts';
import * as machine from '../session/machine.ts';
import type { Clock } from './clock.ts';
import type { Collector } from './collector.ts';

/** `status` and `studies` ask the server about new study versions at most this often… */
const STATUS_CHECK_EVERY_MS = 5_000;
/** …and answer from what the agent knows if the server has not answered within this. */
const STATUS_CHECK_WAIT_MS = 3_000;

/** A handler that waits on the network (pair, enroll in a paired study) answers with a promise. */
export type AgentHandlers = {
  [M in Exclude<ControlMethod, 'subscribe'>]: (params: z.output<(typeof CONTROL_METHODS)[M]['params']>) => ControlResult<M> | Promise<ControlResult<M>>;
};

export type Agent = {
  readonly handlers: AgentHandlers;
  status(): AgentStatus;
  /** Listens for status changes; returns a function that stops listening. */
  onStatus(listener: (status: AgentStatus) => void): () => void;
  /** Whether the enrolled study's consent still covers uploads for `studyId` (the uploader's gate). */
  mayUpload(studyId: string): boolean;
  /** Re-reads the study catalog and applies what time and new versions demand. */
  refresh(): void;
  /**
   * Asks the server which version of each paired study is current; a newer one is kept and
   * stops capture until the participant consents to it. Failures are logged, never thrown:
   * the agent goes on with what it knows. Resolves when the check is done.
   */
  checkServer(): Promise<void>;
  /** Removes the hook and releases keys; the journal keeps the state for the next start. */
  close(): void;
};

export type AgentOptions = {
  dataDir: string;
  /** The study files, offered only until the agent is paired; then the paired studies are. */
  catalog: StudyCatalog;
  source: InputSource;
  /** Where filtered batches go and what is kept of them: pipeline, store and uploader. */
  collector: Collector;
  clock: Clock;
  log: Logger;
  batchMs?: number;
};

/**
 * Opens the agent's state in `dataDir`; a session left running by a previous process is
 * stopped (a restart never resumes capture by itself). A paired agent starts uploading to its
 * server at once.
 * @throws ValidationError / CandorError when the state files there are damaged
 * (`pairing.unreadable` for the pairing record).
 */
export function createAgent({ dataDir, catalog, source, collector, clock, log, batchMs }: AgentOptions): Agent {
  const journal = openSessionJournal(dataDir);
  // Receipts are signed with the study-scoped device key the store keeps, the one that signs uploads.
  const consent = openConsentRecords(dataDir, (studyId) => collector.deviceKey(studyId));
  const pairing = openPairing({
    dataDir,
    deviceKey: (slot) => collector.deviceKey(slot),
    discardDeviceKey: (studyId) => {
      collector.discardDeviceKey(studyId);
    },
    pseudonym: (studyId) => consent.pseudonym(studyId),
    keepPseudonym: (studyId, pseudonym) => {
      consent.keepPseudonym(studyId, pseudonym);
    },
    assertMayPair: (studyId) => {
      collector.assertMayEnroll(studyId);
      assertNothingLocalFor(studyId);
    },
    now: () => clock.now(),
  });
  const target = pairing.uploadTarget();
  if (target) collector.uploadTo(target);
  const capture: Capture = createCapture({
    source,
    sink: collector.sink,
    ...(batchMs === undefined ? {} : { batchMs }),
    allowed: () => machine.captureAllowed(journal.snapshot, offered(), clock.now()),
    onGateClosed: () => {
      refresh();
    },
    onError: (error) => {
      log.error({ err: error instanceof Error ? error.name : 'unknown' }, 'capture batch failed');
    },
  });
  const listeners = new Set<(status: AgentStatus) => void>();
  let studies: StudyVersion[] = [];
  let cancelDeadline: (() => void) | null = null;
  let lastReason: string | null = null;
  let lastEmitted = '';
  let auditContradictions = countContradictions(dataDir);

  // One source of studies at a time: the files until the agent is paired, the server's after.
  const loadStudies = (): void => {
    const paired = pairing.studies();
    if (paired.length > 0) {
      studies = paired;
      return;
    }
    const { studies: latest, problems } = catalog.list();
    for (const problem of problems) log.warn({ problem }, 'study file skipped');
    studies = latest;
  };

  // Commands that wait on the network run one at a time, so an enrollment and a pairing never
  // interleave their writes to the receipt chain and the pairing record.
  let queue: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(run: () => T | Promise<T>): Promise<T> => {
    const next = queue.then(run, run);
    queue = next.catch(() => undefined);
    return next;
  };

  /**
   * A study file and the server's study may share an id and version and still differ, and
   * consent or windows are keyed by both: what the offline demo holds for a study must never
   * pass for consent to, or data of, the server's study of that name.
   * @throws CandorError `pair.local-study`.
   */
  const assertNothingLocalFor = (studyId: string): void => {
    if (pairing.study(studyId)) return;
    const { snapshot } = journal;
    const enrolled = snapshot.state !== 'not-enrolled' && snapshot.enrollment.studyId === studyId;
    if (enrolled || collector.pending().some((window) => window.studyId === studyId)) {
      throw new CandorError(
        'pair.local-study',
        `this agent holds consent or windows for ${studyId} from a study file (the offline demo), which must not mix with the server's study; run the agent with another --data-dir to pair`,
      );
    }
  };

  // One check at a time; status and studies ask again only once the last one is a few seconds old.
  let checking: Promise<void> | null = null;
  let lastCheckAt = -Infinity;
  const checkServer = (): Promise<void> => {
    if (checking) return checking;
    lastCheckAt = clock.now();
    const run = exclusive(async () => {
      // Each check keeps the server's signed audit checkpoint (docs/audit.md). It also follows a
      // rotated server key: an erasure acknowledgement signed by a key the agent has not followed
      // would be refused, and a withdrawn study asks nothing else that would lead the agent to it.
      // A failure here is logged and the study checks go on: they must not wait on it.
      try {
        const audit = await pairing.checkAuditCheckpoint();
        if (audit?.keyMoved) log.info({ event: 'server-key.followed' }, 'followed the server to its new signing key');
        if (audit?.verdict === 'truncated' || audit?.verdict === 'rewritten') {
          log.warn({ event: 'audit.contradicted', verdict: audit.verdict }, 'the server signed an audit checkpoint that contradicts one it signed before; both are kept in audit-contradictions.jsonl');
          auditContradictions = countContradictions(dataDir);
          syncCapture();
        }
      } catch (error) {
        log.warn({ event: 'audit.checkpoint-failed', code: errorCode(error) }, 'could not check the server\'s audit checkpoint');
      }
      const changed = await pairing.checkStudies((studyId) => collector.isWithdrawn(studyId));
      // The server's key may have moved along its endorsements during the check.
      const target = pairing.uploadTarget();
      if (target) collector.uploadTo(target);
      if (changed.length === 0) return;
      log.info({ event: 'study.new-version', studies: changed }, 'the server offers a new study version');
      refresh();
    })
      .catch((error: unknown) => {
        log.warn({ event: 'study.check-failed', code: errorCode(error) }, 'could not ask the server for the current study versions');
      })
      .finally(() => {
        checking = null;
      });
    checking = run;
    return run;
  };
  /**
   * Answers from what is known if the server is slow: a command must never hang on the network.
   * Asks only if the last check is a few seconds old, unless `fresh`.
   */
  const checkBriefly = async (fresh = false): Promise<void> => {
    if (!pairing.uploadTarget() || (!fresh && clock.now() - lastCheckAt < STATUS_CHECK_EVERY_MS)) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([checkServer(), new Promise<void>((resolve) => (timer = setTimeout(resolve, STATUS_CHECK_WAIT_MS)))]);
    clearTimeout(timer);
  };

  const aggregatorKeyIdOf = (studyId: string): string => pairing.study(studyId)?.aggregatorKey.keyId ?? UNPAIRED_AGGREGATOR_KEY_ID;

  const enrolledStudy = (): StudyVersion | undefined => {
    const { snapshot } = journal;
    return snapshot.state === 'not-enrolled' ? undefined : studies.find((study) => study.studyId === snapshot.enrollment.studyId);
  };

  const offered = (): machine.OfferedStudy => {
    const study = enrolledStudy();
    return study ? { studyId: study.studyId, version: study.version } : null;
  };

  const apply = (step: machine.Step): void => {
    if (step.transition) {
      journal.record(step.snapshot, step.transition, clock.now());
      lastReason = step.transition.reason;
      log.info({ from: step.transition.from, to: step.transition.to, reason: step.transition.reason }, 'session transition');
      if (step.transition.to === 'running' && step.transition.from !== 'paused') capture.resetCounts();
    }
    syncCapture();
  };

  /** The hook runs exactly when the machine allows capture; deadlines re-arm here. */
  const syncCapture = (): void => {
    const now = clock.now();
    const allowed = machine.captureAllowed(journal.snapshot, offered(), now);
    const study = enrolledStudy();
    if (allowed && study && !capture.running) {
      try {
        collector.beginCapture(study);
        capture.start(study.apps);
      } catch (error) {
        const message = error instanceof CandorError ? error.message : 'the input hook could not be installed';
        apply(machine.stop(journal.snapshot, `capture stopped: ${message}`));
        return;
      }
    } else if (!allowed && capture.running) {
      capture.stop();
    }
    if (!allowed) collector.endCapture(journal.snapshot.state === 'paused');
    cancelDeadline?.();
    cancelDeadline = null;
    const deadline = machine.nextDeadline(journal.snapshot);
    if (deadline !== null) {
      cancelDeadline = clock.schedule(deadline, () => {
        refresh();
      });
    }
    const current = status();
    const text = JSON.stringify(current);
    if (text === lastEmitted) return;
    lastEmitted = text;
    for (const listener of listeners) listener(current);
  };

  const refresh = (): void => {
    loadStudies();
    apply(machine.tick(journal.snapshot, offered(), clock.now()));
  };

  const status = (): AgentStatus => {
    const { snapshot } = journal;
    const now = clock.now();
    const enrollment = snapshot.state === 'not-enrolled' ? null : snapshot.enrollment;
    const refusal = source.foreground.unavailableReason;
    const capturing = capture.running;
    const problem = enrollment ? machine.consentProblem(enrollment, offered(), now) : null;
    const idleReason: Record<AgentStatus['state'], string> = {
      'not-enrolled': 'not enrolled in a study',
      enrolled: 'no session is running',
      running: 'the session is starting',
      paused: 'the session is paused',
      stopped: 'no session is running',
    };
    return {
      state: snapshot.state,
      study: enrollment ? { studyId: enrollment.studyId, version: enrollment.version, title: enrollment.title } : null,
      capturing,
      sessionEndsAt: snapshot.state === 'running' || snapshot.state === 'paused' ? new Date(snapshot.endsAt).toISOString() : null,
      pausedUntil: snapshot.state === 'paused' && snapshot.pausedUntil !== null ? new Date(snapshot.pausedUntil).toISOString() : null,
      reason: capturing ? null : (problem ?? (snapshot.state === 'stopped' ? lastReason : null) ?? idleReason[snapshot.state]),
      consentNeeded: problem !== null,
      refusedSignals: refusal === null ? [] : [{ signal: 'app-usage', reason: `the foreground application cannot be resolved: ${refusal}` }],
      eventsAccepted: capture.counts.accepted,
      eventsExcluded: capture.counts.excluded,
      auditContradictions,
      storage: collector.storage(),
    };
  };

  /** Every command first catches up with time and the catalog, so it acts on today's facts. */
  const command = <T>(run: () => machine.Step, answer: () => T): T => {
    refresh();
    apply(run());
    return answer();
  };

  const findStudy = (studyId: string): StudyVersion => {
    loadStudies();
    const study = studies.find((candidate) => candidate.studyId === studyId);
    if (!study) throw new CandorError('study.unknown', `no study called ${studyId} is offered; see candor studies`);
    return study;
  };

  const handlers: AgentHandlers = {
    status: async () => {
      await checkBriefly();
      refresh();
      return status();
    },
    studies: async () => {
      await checkBriefly();
      loadStudies();
      const enrolled = journal.snapshot.state === 'not-enrolled' ? null : journal.snapshot.enrollment;
      return studies.map((study) => ({
        studyId: study.studyId,
        version: study.version,
        title: study.title,
        enrolled: enrolled?.studyId === study.studyId && enrolled.version === study.version,
      }));
    },
    notice: ({ studyId }) => consentNoticeOf(findStudy(studyId)),
    pair: (params) =>
      exclusive(async () => {
        const result = await pairing.pair(params);
        const paired = pairing.uploadTarget();
        if (paired) collector.uploadTo(paired);
        log.info({ event: 'pair.done', server: result.serverUrl, studyId: result.studyId, version: result.version }, 'paired with a server');
        refresh();
        return result;
      }),
    // A paired study's consent counts only once the server has countersigned it: the receipt
    // is signed, sent, checked, and only then kept and acted on. Nothing is kept on a refusal.
    // Consent names the study's current version and sealing key, so a paired agent asks the
    // server for both first, briefly (a check that fails or is slow is logged; the server then
    // refuses a stale receipt).
    enroll: async ({ studyId, noticeHash }) => {
      if (pairing.study(studyId)) await checkBriefly(true);
      return exclusive(async () => {
        const study = findStudy(studyId);
        collector.assertMayEnroll(studyId);
        const notice = consentNoticeOf(study);
        if (notice.noticeHash !== noticeHash) {
          throw new CandorError('consent.notice-changed', `the notice for ${studyId} changed since it was shown; read it again (candor enroll ${studyId})`);
        }
        // Check the transition is legal before signing anything.
        const probe = { studyId, version: study.version, title: study.title, maxSessionMinutes: study.maxSessionMinutes, consentValidUntil: 0, receiptHash: '0'.repeat(64) };
        refresh();
        machine.enroll(journal.snapshot, probe);
        const signed = consent.sign(study, notice, 'given', clock.now(), aggregatorKeyIdOf(studyId));
        const receipt = pairing.study(studyId) ? await pairing.countersign(studyId, signed.receipt) : signed.receipt;
        // Countersigned by a key the pairing followed to: uploads check acknowledgements with it from now on.
        const target = pairing.uploadTarget();
        if (target) collector.uploadTo(target);
        return command(() => {
          machine.enroll(journal.snapshot, probe);
          const hash = consent.keep(signed, receipt);
          return machine.enroll(journal.snapshot, { ...probe, consentValidUntil: signed.validUntil, receiptHash: hash });
        }, status);
      });
    },
    start: (params) => command(() => machine.start(journal.snapshot, offered(), clock.now(), params.for === undefined ? undefined : parseDuration(params.for)), status),
    pause: (params) => command(() => machine.pause(journal.snapshot, clock.now(), params.for === undefined ? undefined : parseDuration(params.for)), status),
    resume: () => command(() => machine.resume(journal.snapshot, offered(), clock.now()), status),
    stop: () => command(() => machine.stop(journal.snapshot), status),
    // The order matters: uploads stop first, the withdrawn receipt is signed while the study's
    // device key still exists, then its keys and rows are destroyed and erasure is requested.
    // Never queued behind a command waiting on the network: an enrollment in flight then
    // finds the consent chain moved and records nothing (consent.chain-moved).
    withdraw: ({ studyId }) => {
      const answer = command(() => {
        const step = machine.withdraw(journal.snapshot, studyId);
        collector.beginWithdrawal(studyId);
        const study = studies.find((candidate) => candidate.studyId === studyId);
        if (study) consent.record(study, consentNoticeOf(study), 'withdrawn', clock.now(), aggregatorKeyIdOf(studyId));
        collector.completeWithdrawal(studyId);
        return step;
      }, status);
      // In the background: the acknowledgement must verify, so the agent follows a rotated server key now.
      if (pairing.uploadTarget()) void checkServer();
      return answer;
    },
    pending: () => collector.pending(),
    delete: ({ id }) => ({ outcome: collector.deleteWindow(id) }),
    forget: ({ last }) => {
      const since = clock.now() - parseDuration(last);
      return { ...collector.forget(since), since: new Date(since).toISOString() };
    },
    history: ({ limit }): SessionTransition[] => journal.history(limit ?? 50),
    ping: () => ({ ok: true as const }),
  };

  loadStudies();
  // A withdrawal cut off by a kill, or by a failure, after its receipt was kept leaves the
  // agent enrolled in a study it withdrew from, maybe with the study's keys and rows still
  // there and their uploads allowed again: finish it, whichever step it stopped at.
  const enrolledAtStart = journal.snapshot.state === 'not-enrolled' ? null : journal.snapshot.enrollment.studyId;
  if (enrolledAtStart !== null) {
    const lastReceipt = consent.receipts().filter((receipt) => receipt.processing[0]?.captureScope.studyId === enrolledAtStart).at(-1);
    if (lastReceipt?.event.state === 'withdrawn' && !collector.isWithdrawn(enrolledAtStart)) {
      collector.beginWithdrawal(enrolledAtStart);
      collector.completeWithdrawal(enrolledAtStart);
      log.info({ event: 'withdrawal.finished-at-start' }, 'finished a withdrawal that was cut off');
    }
    if (collector.isWithdrawn(enrolledAtStart)) apply(machine.withdraw(journal.snapshot, enrolledAtStart));
  }
  apply(machine.afterRestart(journal.snapshot));
  refresh();

  return {
    handlers,
    status,
    refresh,
    checkServer,
    mayUpload(studyId) {
      const { snapshot } = journal;
      if (snapshot.state === 'not-enrolled' || snapshot.enrollment.studyId !== studyId) return false;
      return machine.consentProblem(snapshot.enrollment, offered(), clock.now()) === null;
    },
    onStatus(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      cancelDeadline?.();
      capture.stop();
      listeners.clear();
    },
  };
}
