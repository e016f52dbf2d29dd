// Reads tap's TAP output (one file per tap run) and prints the plain summary line CI reads:
// "N passed, N failed", summed over the runs. tap's own last line counts every assertion:
//   # { total: 12, pass: 11, fail: 1 }
// A run that ended before printing it (a crash) counts as one failure.
import { readFileSync } from 'node:fs';

let passed = 0;
let failed = 0;
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, 'utf8');
  const last = [...text.matchAll(/^# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?/gm)].at(-1);
  if (!last) {
    failed += 1;
    continue;
  }
  // Anything that did not pass (failed, skipped, todo) counts as failed: the suite allows neither.
  const total = Number(last[1]);
  const pass = Number(last[2] ?? 0);
  passed += pass;
  failed += total - pass;
}
console.log(`${passed} passed, ${failed} failed`);
