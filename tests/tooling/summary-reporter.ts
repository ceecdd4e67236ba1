/**
 * Ends every test run with one plain line, `tests: N passed, N failed, N skipped`, after
 * vitest's own summary, so that CI and people read the same closing counts.
 */
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: readonly TestModule[]): void {
    const counts = { passed: 0, failed: 0, skipped: 0, pending: 0 };
    for (const testModule of testModules) {
      for (const test of testModule.children.allTests()) counts[test.result().state] += 1;
    }
    const failedModules = testModules.filter((testModule) => testModule.state() === 'failed' && testModule.children.size === 0).length;
    process.stdout.write(`\ntests: ${counts.passed} passed, ${counts.failed + failedModules} failed, ${counts.skipped + counts.pending} skipped\n`);
  }
}
