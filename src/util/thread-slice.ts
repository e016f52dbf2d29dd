/**
 * The scheduler slice of the calling thread (Linux 6.12 and later: sched_attr.sched_runtime of a
 * SCHED_OTHER thread). Under EEVDF a thread that wakes with a shorter slice than the running one's
 * preempts it at once; with the default slice it may wait for a busy neighbour, even a niced one,
 * to run out its own (bench/experiments/wakeup-preemption.sh, decision 0019).
 *
 * Node has no API for sched_setattr, so the call goes through koffi (a C FFI with prebuilt
 * binaries, an optional dependency). Where anything is missing the slice is left alone and the
 * outcome says why.
 */

export type SliceOutcome = { applied: true; sliceNs: number; previousNs: number } | { applied: false; reason: string };

/** The kernel's bounds for a fair thread's slice. */
export const MIN_SLICE_NS = 100_000;
export const MAX_SLICE_NS = 100_000_000;

const SYSCALLS: Partial<Record<NodeJS.Architecture, { setattr: number; getattr: number }>> = {
  x64: { setattr: 314, getattr: 315 },
  arm64: { setattr: 274, getattr: 275 },
};

// struct sched_attr (include/uapi/linux/sched/types.h), the 56-byte version.
const ATTR_SIZE = 56;
const POLICY_OFFSET = 4;
const RUNTIME_OFFSET = 24;
const SCHED_OTHER = 0;

type Syscall = (number: number, ...typedArgs: unknown[]) => number;

async function loadSyscall(): Promise<{ syscall: Syscall; errno: () => number } | string> {
  try {
    const { default: koffi } = await import('koffi');
    const libc = koffi.load('libc.so.6');
    // syscall(2) is variadic: each call passes its arguments' C types.
    return { syscall: libc.func('long syscall(long number, ...)') as Syscall, errno: () => koffi.errno() };
  } catch (error) {
    return `koffi could not call into libc (${(error as Error).message})`;
  }
}

function readAttr(syscall: Syscall, errno: () => number, number: number): Buffer | string {
  const attr = Buffer.alloc(ATTR_SIZE);
  if (syscall(number, 'int', 0, 'uint8_t *', attr, 'unsigned int', ATTR_SIZE, 'unsigned int', 0) !== 0) {
    return `sched_getattr failed (errno ${errno()})`;
  }
  return attr;
}

/** Sets the calling thread's slice to `sliceNs`, keeping its policy and nice value. */
export async function setCallingThreadSlice(sliceNs: number): Promise<SliceOutcome> {
  if (process.platform !== 'linux') return { applied: false, reason: `${process.platform} is not Linux` };
  const numbers = SYSCALLS[process.arch];
  if (!numbers) return { applied: false, reason: `no sched_setattr number known for ${process.arch}` };
  if (sliceNs < MIN_SLICE_NS || sliceNs > MAX_SLICE_NS) {
    return { applied: false, reason: `${sliceNs} ns is outside the kernel's ${MIN_SLICE_NS}-${MAX_SLICE_NS}` };
  }
  const loaded = await loadSyscall();
  if (typeof loaded === 'string') return { applied: false, reason: loaded };
  const { syscall, errno } = loaded;

  const attr = readAttr(syscall, errno, numbers.getattr);
  if (typeof attr === 'string') return { applied: false, reason: attr };
  if (attr.readUInt32LE(POLICY_OFFSET) !== SCHED_OTHER) {
    return { applied: false, reason: 'the thread is not SCHED_OTHER' };
  }
  const previousNs = Number(attr.readBigUInt64LE(RUNTIME_OFFSET));
  attr.writeBigUInt64LE(BigInt(sliceNs), RUNTIME_OFFSET);
  if (syscall(numbers.setattr, 'int', 0, 'uint8_t *', attr, 'unsigned int', 0) !== 0) {
    return { applied: false, reason: `sched_setattr failed (errno ${errno()})` };
  }
  // Kernels before 6.12 accept the call and ignore the runtime of a fair thread.
  const after = readAttr(syscall, errno, numbers.getattr);
  if (typeof after === 'string') return { applied: false, reason: after };
  const sliceNow = Number(after.readBigUInt64LE(RUNTIME_OFFSET));
  if (sliceNow !== sliceNs) {
    return { applied: false, reason: 'the kernel keeps its own slice for fair threads (needs Linux 6.12 or later)' };
  }
  return { applied: true, sliceNs, previousNs };
}
