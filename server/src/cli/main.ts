/**
 * `candor-server`: start the API server (and the aggregator beside it), run the aggregator,
 * add people, verify the audit log, rotate keys. Prints to the terminal; exit codes:
 * 0 done, 1 the check or action failed, 2 the command line was wrong.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { CandorError } from '@candor/shared/errors';
import { Role } from '@candor/shared/schemas/primitives';
import { assertPasswordHashingWorks, hashPassword } from '../auth/passwords.ts';
import { checkpointsIn, type AuditCheckpoint } from '@candor/shared/audit-checkpoint';
import { verifyAuditChain } from '../audit/chain.ts';
import { appendAudit } from '../audit/record.ts';
import { createAggregator } from '../aggregate/aggregator.ts';
import { openApiStore } from '../db/store.ts';
import { buildServer } from '../http/app.ts';
import { addMasterKey, addStudyKey, loadOrCreateAggregatorKeys, loadOrCreateServerKeys, rotateServerSigningKey } from '../keys/files.ts';
import { serverPaths } from './paths.ts';
import { addPerson, seedDemo } from './seed.ts';
import { randomBytes, toBase64Url } from '@candor/shared/crypto';

class UsageError extends Error {}

const USAGE = `usage:
  candor-server start [--db FILE] [--port N] [--no-aggregator] [--demo]
  candor-server aggregator [--db FILE] [--interval-ms N]
  candor-server user add --username NAME --role participant|researcher|privacy_reviewer|admin [--study ID] [--db FILE]
  candor-server audit verify [--db FILE] [--checkpoint FILE]
  candor-server keys rotate --which server|aggregator [--db FILE]
  candor-server keys rotate --which study --study ID [--db FILE]
`;

const say = (line: string) => process.stdout.write(`${line}\n`);
const complain = (line: string) => process.stderr.write(`candor-server: ${line}\n`);

function defaultDb(demo: boolean): string {
  return demo ? join(tmpdir(), `candor-demo-${process.getuid?.() ?? 0}`, 'api.db') : resolve('candor-server', 'api.db');
}

async function start(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { db: { type: 'string' }, port: { type: 'string' }, 'no-aggregator': { type: 'boolean' }, demo: { type: 'boolean' } },
    strict: true,
  });
  const port = values.port === undefined ? 8750 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be 0..65535');
  const paths = serverPaths(resolve(values.db ?? defaultDb(values.demo === true)));
  mkdirSync(resolve(paths.apiDb, '..'), { recursive: true, mode: 0o700 });
  await assertPasswordHashingWorks();
  const store = openApiStore(paths);
  if (values.demo === true) {
    const created = await seedDemo(store, new URL('../../../seeds/studies/coding-practice.v1.json', import.meta.url));
    for (const { username, password } of created) say(`demo account ${username}: password ${password}`);
    if (created.length === 0) say(`demo accounts exist in ${paths.apiDb}; their passwords were shown at the first start (delete that folder to start over)`);
  }
  let serverKeys = loadOrCreateServerKeys(paths.serverKeyFile);
  const app = await buildServer({
    store,
    serverKeys: () => serverKeys,
    rotateServerKey: () => {
      const result = rotateServerSigningKey(paths.serverKeyFile);
      serverKeys = loadOrCreateServerKeys(paths.serverKeyFile);
      return result;
    },
    // Only ever on loopback here: a deployment puts TLS in front and sets Secure cookies.
    secureCookies: false,
    logger: { level: 'info' },
  });
  // The start command supervises the aggregator: restarted after a crash, at most five times.
  const supervision = { stopping: false, restarts: 0, child: undefined as ReturnType<typeof spawn> | undefined };
  const spawnAggregator = () => {
    const child = spawn(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname, 'aggregator', '--db', paths.apiDb], { stdio: 'inherit' });
    child.once('exit', (code) => {
      if (supervision.stopping || code === 0) return;
      if (supervision.restarts >= 5) {
        complain('the aggregator keeps failing; ingest is stored but not aggregated until it is fixed');
        return;
      }
      supervision.restarts += 1;
      app.log.error({ code, restarts: supervision.restarts }, 'aggregator exited; restarting');
      setTimeout(spawnAggregator, 1000 * supervision.restarts).unref();
    });
    supervision.child = child;
  };
  if (values['no-aggregator'] !== true) spawnAggregator();
  const address = await app.listen({ host: '127.0.0.1', port });
  say(`candor-server listening on ${address}`);
  // Published beside pairing codes, it lets agents pin this key instead of trusting their first answer.
  say(`server signing key id: ${serverKeys.current.keyId} (publish it; participants pass it as candor pair --server-key=${serverKeys.current.keyId}, with the = since an id may begin with -)`);
  await new Promise<void>((done) => {
    const stop = () => {
      done();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  supervision.stopping = true;
  supervision.child?.kill('SIGTERM');
  await app.close();
  store.close();
  return 0;
}

async function runAggregator(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { db: { type: 'string' }, 'interval-ms': { type: 'string' } }, strict: true });
  const interval = values['interval-ms'] === undefined ? 500 : Number(values['interval-ms']);
  if (!Number.isInteger(interval) || interval < 10) throw new UsageError('--interval-ms must be an integer ≥ 10');
  const paths = serverPaths(resolve(values.db ?? defaultDb(false)));
  const log = pino({ name: 'aggregator' });
  // The API server creates its database; wait for it rather than racing it.
  for (let attempt = 0; !existsSync(paths.apiDb); attempt += 1) {
    if (attempt > 200) throw new CandorError('aggregator.no-api-db', `no API database at ${paths.apiDb}`);
    await sleep(50);
  }
  const aggregator = createAggregator({ files: paths, keyFile: paths.aggregatorKeyFile });
  const signal = new AbortController();
  process.once('SIGTERM', () => { signal.abort(); });
  process.once('SIGINT', () => { signal.abort(); });
  log.info('aggregator running');
  while (!signal.signal.aborted) {
    const summary = aggregator.runOnce();
    if (Object.values(summary).some((count) => count > 0)) log.info(summary, 'aggregator pass');
    await sleep(interval);
  }
  aggregator.close();
  return 0;
}

async function userAdd(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { username: { type: 'string' }, role: { type: 'string' }, study: { type: 'string' }, db: { type: 'string' } },
    strict: true,
  });
  if (values.username === undefined || values.role === undefined) throw new UsageError('user add needs --username and --role');
  const role = Role.safeParse(values.role);
  if (!role.success) throw new UsageError(`--role must be one of ${Role.options.join(', ')}`);
  const store = openApiStore(serverPaths(resolve(values.db ?? defaultDb(false))));
  try {
    if (store.findUserByUsername(values.username)) {
      complain(`a user named ${values.username} exists`);
      return 1;
    }
    const password = process.env.CANDOR_NEW_PASSWORD ?? toBase64Url(randomBytes(12));
    addPerson(store, { username: values.username, passwordHash: await hashPassword(password), role: role.data, studyId: values.study ?? null, at: new Date() });
    say(`added ${values.username} as ${role.data}${process.env.CANDOR_NEW_PASSWORD === undefined ? `; password ${password}` : ''}`);
    return 0;
  } finally {
    store.close();
  }
}

/**
 * A checkpoint as the server answers it, or an agent's file of them, one a line: its history
 * (`audit-checkpoints.jsonl`) or the two of each contradiction it saw (`audit-contradictions.jsonl`).
 * @throws CandorError `audit.bad-checkpoint-file` naming the line that is neither.
 */
function readCheckpoints(file: string): AuditCheckpoint[] {
  const text = readFileSync(file, 'utf8').trim();
  const whole = checkpointsIn(text);
  if (whole) return whole;
  return text.split('\n').flatMap((line, index) => {
    const checkpoints = checkpointsIn(line);
    if (!checkpoints) throw new CandorError('audit.bad-checkpoint-file', `${file}: ${text.includes('\n') ? `line ${String(index + 1)}` : 'the file'} is not an audit checkpoint`);
    return checkpoints;
  });
}

function auditVerify(args: string[]): number {
  const { values } = parseArgs({ args, options: { db: { type: 'string' }, checkpoint: { type: 'string' } }, strict: true });
  const paths = serverPaths(resolve(values.db ?? defaultDb(false)));
  const store = openApiStore(paths);
  try {
    const rows = store.allAuditRows();
    const checkpoints =
      values.checkpoint === undefined ? undefined : { values: readCheckpoints(values.checkpoint), publicKeys: loadOrCreateServerKeys(paths.serverKeyFile).publicKeys };
    const problems = verifyAuditChain(rows, checkpoints);
    if (problems.length === 0) {
      const seqs = checkpoints?.values.map((checkpoint) => checkpoint.checkpoint.seq) ?? [];
      const matched = seqs.length === 0 ? '' : seqs.length === 1 ? `, matches the checkpoint at entry ${String(seqs[0])}` : `, matches ${String(seqs.length)} checkpoints up to entry ${String(Math.max(...seqs))}`;
      say(`audit log intact: ${rows.length} entries${matched}`);
      return 0;
    }
    for (const problem of problems) complain(`audit entry ${problem.seq}: ${problem.problem}`);
    complain(`audit log FAILED verification: ${problems.length} problem(s)`);
    return 1;
  } finally {
    store.close();
  }
}

function keysRotate(args: string[]): number {
  const { values } = parseArgs({ args, options: { which: { type: 'string' }, study: { type: 'string' }, db: { type: 'string' } }, strict: true });
  const paths = serverPaths(resolve(values.db ?? defaultDb(false)));
  const { which, study } = values;
  if (which !== 'server' && which !== 'aggregator' && which !== 'study') throw new UsageError('--which must be server, aggregator or study');
  if ((which === 'study') !== (study !== undefined)) throw new UsageError('--study names the study whose key to rotate, with --which study only');
  if (which !== 'server' && !existsSync(paths.aggregatorKeyFile)) {
    throw new CandorError('keys.unreadable', `no aggregator key file at ${paths.aggregatorKeyFile}; the aggregator makes it when it first runs`);
  }
  if (study !== undefined && ![...loadOrCreateAggregatorKeys(paths.aggregatorKeyFile).studyKeys.values()].some((key) => key.studyId === study && !key.retired)) {
    throw new CandorError('keys.no-study-key', `${study} has no sealing key to rotate; the aggregator makes one once a version of it is approved`);
  }
  const store = openApiStore(paths);
  try {
    const at = new Date();
    store.transaction(() => {
      appendAudit(store, { actor: 'operator', action: 'keys.rotate', studyId: study ?? null, target: `${which}-key`, reason: 'rotated from the command line', outcome: 'done' }, at);
      if (which === 'server') {
        const { current } = rotateServerSigningKey(paths.serverKeyFile, at);
        say(`server signing key rotated; now ${current}, endorsed by the key it replaces (restart the server to sign with it; paired agents follow the endorsement)`);
      } else if (study === undefined) {
        const keyId = addMasterKey(paths.aggregatorKeyFile, at);
        say(`aggregator master key ${keyId} added; the aggregator re-wraps participant keys on its next pass`);
      } else {
        const { keyId } = addStudyKey(paths.aggregatorKeyFile, study, at);
        say(
          `${study} sealing key ${keyId} made; the aggregator publishes it on its next pass and keeps the old one to open what was sealed to it. ` +
            'Agents learn it from their next study check; one that sends under the old key first is refused, asks, and sends again.',
        );
      }
    });
    return 0;
  } finally {
    store.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  try {
    switch (command) {
      case 'start':
        return await start(argv.slice(1));
      case 'aggregator':
        return await runAggregator(argv.slice(1));
      case 'user':
        if (sub === 'add') return await userAdd(rest);
        break;
      case 'audit':
        if (sub === 'verify') return auditVerify(rest);
        break;
      case 'keys':
        if (sub === 'rotate') return keysRotate(rest);
        break;
      case undefined:
      default:
        break;
    }
    throw new UsageError(command === undefined ? 'no command given' : `unknown command: ${[command, sub].filter(Boolean).join(' ')}`);
  } catch (error) {
    if (error instanceof UsageError || (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))) {
      complain(error.message);
      process.stderr.write(USAGE);
      return 2;
    }
    if (error instanceof CandorError) {
      complain(error.message);
      return 1;
    }
    throw error;
  }
}

process.exitCode = await main(process.argv.slice(2));
