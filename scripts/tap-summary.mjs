// Reads tap's TAP output (a file) and prints the plain summary line CI reads:
// "N passed, N failed". tap's own last line counts every assertion:
//   # { total: 12, pass: 11, fail: 1 }
// A run that ended before printing it (a crash) counts as one failure.
import { readFileSync } from 'node:fs';

const text = readFileSync(process.argv[2], 'utf8');
const summaries = [...text.matchAll(/^# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?/gm)];
const last = summaries.at(-1);
if (!last) {
  console.log('0 passed, 1 failed');
} else {
  // Anything that did not pass (failed, skipped, todo) counts as failed: the suite allows neither.
  const total = Number(last[1]);
  const pass = Number(last[2] ?? 0);
  console.log(`${pass} passed, ${total - pass} failed`);
}
