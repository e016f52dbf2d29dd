// The calling thread's scheduler slice, read back from the kernel's own account (/proc/.../sched).
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import t from 'tap';
import { setCallingThreadSlice } from '../../src/util/thread-slice.js';

/** The main thread's slice as the kernel reports it, where it reports one (Linux 6.12 and later). */
function kernelSlice(): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${process.pid}/task/${process.pid}/sched`, 'utf8');
  } catch {
    return undefined;
  }
  const match = /^se\.slice\s*:\s*(\d+)/m.exec(text);
  return match ? Number(match[1]) : undefined;
}

const [major = 0, minor = 0] = release().split('.').map(Number);
const customSlices = process.platform === 'linux' && (major > 6 || (major === 6 && minor >= 12));

t.test('sets the slice of the calling thread, or says why not', async (t) => {
  const outcome = await setCallingThreadSlice(250_000);
  if (!customSlices) {
    t.equal(outcome.applied, false, `kernel ${release()} has no custom slices for fair threads`);
    return;
  }
  t.same(outcome.applied ? outcome.sliceNs : outcome.reason, 250_000, 'applied');
  t.equal(kernelSlice(), 250_000, 'the kernel runs the thread with that slice');
  const again = await setCallingThreadSlice(400_000);
  t.same(again, { applied: true, sliceNs: 400_000, previousNs: 250_000 }, 'reports the slice it replaced');
  t.equal(kernelSlice(), 400_000);
});

t.test("refuses a slice outside the kernel's bounds, and leaves the thread alone", async (t) => {
  const before = kernelSlice();
  const outcome = await setCallingThreadSlice(50_000);
  t.equal(outcome.applied, false);
  t.match(outcome.applied ? '' : outcome.reason, /outside the kernel's 100000-100000000/);
  t.equal(kernelSlice(), before);
});
