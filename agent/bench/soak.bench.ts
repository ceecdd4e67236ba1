/**
 * Fifteen minutes (CANDOR_SOAK_MINUTES for a longer run) of the same ~1 kHz real X input as
 * agent-cost.bench.ts through the whole agent, run as a user runs it (`candor daemon`, the
 * bundle agent/dist/candor.js), with the study's windows at the shortest allowed (5 minutes),
 * so a window closes, is encrypted and stored every five minutes while it runs. Every minute it
 * prints the agent's RSS, V8 heap and windows stored beside the bare uiohook-napi listener's
 * RSS; at the start, at each window and at the end, the agent's heapUsed after a full GC (the
 * live objects: a leak grows it, V8 sizing its heap does not). RSS is split into anonymous
 * memory, of it V8's resident heap and the rest (malloc's arenas, SQLite, the input hook), and
 * file-backed pages (the code of node and its libraries, paged in the first time a path runs).
 * A session lasts at most the study's maxSessionMinutes (60); a longer run starts the next one
 * as a participant would, within 5 s. An always-on agent whose memory climbs has a leak,
 * whatever the figure; this prints the curves and never passes or fails on them.
 */
import { measureAgentCost, printCost } from './agent-cost.bench.ts';

const MB = 1024 * 1024;
const WINDOW_MINUTES = 5;
const MINUTES = Number(process.env['CANDOR_SOAK_MINUTES'] ?? 3 * WINDOW_MINUTES);
if (!Number.isInteger(MINUTES) || MINUTES < WINDOW_MINUTES) throw new Error(`CANDOR_SOAK_MINUTES must be a whole number of minutes, at least ${String(WINDOW_MINUTES)}`);
const mb = (bytes: number | undefined): string => (bytes === undefined ? '' : (bytes / MB).toFixed(1));

const report = await measureAgentCost(MINUTES * 60, {
  sampleEverySeconds: 60,
  heapProbe: { gcEverySeconds: WINDOW_MINUTES * 60 },
  windowMinutes: WINDOW_MINUTES,
  onSample: ({ at, rssBytes, anonBytes, fileBytes, heap }) => {
    const v8 = heap ? `, V8 heap resident ${mb(heap.heapResident)}, anonymous outside V8 ${mb(anonBytes - heap.heapResident)}` : '';
    process.stderr.write(`${String(at)} s: agent RSS ${mb(rssBytes)} MB (anonymous ${mb(anonBytes)}, file-backed ${mb(fileBytes)}${v8})\n`);
  },
});
console.log(`Memory over ${String(MINUTES)} minutes, ${String(report.windowMinutes)}-minute windows (MB):`);
console.table(
  report.agent.rssOverTime.map((point, index) => ({
    'seconds in': point.at,
    'agent RSS': mb(point.rssBytes),
    'of it anonymous': mb(point.anonBytes),
    'of it file-backed': mb(point.fileBytes),
    'V8 heap resident': mb(point.heap?.heapResident),
    'anonymous outside V8': point.heap ? mb(point.anonBytes - point.heap.heapResident) : '',
    'agent heapTotal': mb(point.heap?.heapTotal),
    'agent heapUsed': mb(point.heap?.heapUsed),
    'agent external': mb(point.heap?.external),
    'windows stored': point.windowsHeld ?? '',
    'bare listener RSS': mb(report.bare.rssOverTime[index]?.rssBytes),
    'bare listener anonymous': mb(report.bare.rssOverTime[index]?.anonBytes),
  })),
);
console.log('The agent after a full GC (live objects):');
console.table(
  report.agent.heapAfterGc.map(({ at, heap }) => ({
    'seconds in': at,
    'heapUsed MB': mb(heap.heapUsed),
    'of it compiled code MB': mb(heap.codeSpace),
    'heapTotal MB': mb(heap.heapTotal),
    'RSS MB': mb(heap.rss),
  })),
);
const first = report.agent.heapAfterGc.at(0);
const last = report.agent.heapAfterGc.at(-1);
const firstRss = report.agent.rssOverTime.at(0);
const lastRss = report.agent.rssOverTime.at(-1);
if (first && last && firstRss && lastRss) {
  console.log(
    `agent RSS ${mb(firstRss.rssBytes)} MB at the start, ${mb(lastRss.rssBytes)} MB at the end; ` +
      `heapUsed after a full GC ${mb(first.heap.heapUsed)} MB at the start, ${mb(last.heap.heapUsed)} MB at the end`,
  );
}
printCost(report);
