/**
 * Ten minutes of the same ~1 kHz real X input as agent-cost.bench.ts through the whole agent,
 * printing its RSS at the start, every minute, and at the end beside the bare uiohook-napi
 * listener's. An always-on agent whose RSS climbs has a leak, whatever the figure; this prints
 * the curve and never passes or fails on it.
 */
import { measureAgentCost, printCost } from './agent-cost.bench.ts';

const MB = 1024 * 1024;
const report = await measureAgentCost(600, 60);
console.log('RSS over ten minutes (MB):');
console.table(
  report.agent.rssOverTime.map((point, index) => ({
    'seconds in': point.at,
    'candor agent': (point.rssBytes / MB).toFixed(1),
    'bare listener': ((report.bare.rssOverTime[index]?.rssBytes ?? 0) / MB).toFixed(1),
  })),
);
printCost(report);
