/**
 * Waits until the machine's CPUs are mostly idle, so that each HTTP
 * measurement starts from the same state: right after a bulk load, LevelDB
 * compactions, Kafka's log cleaner and PostgreSQL's autovacuum keep the cores
 * busy for minutes, and would land on whichever target happens to run first.
 */
import { readFileSync } from 'node:fs';

/** Busy and total CPU time (all cores, in clock ticks) since boot, from /proc/stat. */
function cpuTicks(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

export interface QuietResult {
  /** Seconds waited. */
  waitedS: number;
  /** Busy share of all CPUs over the last second measured (0..1). */
  busy: number;
  /** The machine became quiet before the time limit. */
  quiet: boolean;
}

export async function waitForQuietCpus(options: {
  /** Busy share under which a second counts as quiet. */
  busyBelow: number;
  /** Consecutive quiet seconds needed. */
  forSeconds: number;
  giveUpAfterS: number;
  progress: (message: string) => void;
}): Promise<QuietResult> {
  const started = Date.now();
  let quietSeconds = 0;
  let busy = 1;
  let last = cpuTicks();
  let nextReport = started + 30_000;
  while ((Date.now() - started) / 1000 < options.giveUpAfterS) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const now = cpuTicks();
    busy = (now.busy - last.busy) / Math.max(1, now.total - last.total);
    last = now;
    quietSeconds = busy < options.busyBelow ? quietSeconds + 1 : 0;
    if (quietSeconds >= options.forSeconds)
      return { waitedS: (Date.now() - started) / 1000, busy: round(busy), quiet: true };
    if (Date.now() >= nextReport) {
      nextReport += 30_000;
      options.progress(`  waiting for idle CPUs: ${Math.round(busy * 100)}% busy`);
    }
  }
  return { waitedS: (Date.now() - started) / 1000, busy: round(busy), quiet: false };
}

const round = (x: number) => Math.round(x * 1000) / 1000;
