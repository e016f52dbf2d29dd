// Kills a churn's instances when the process that started them ends, however it ends (even kill -9 or a
// test runner's timeout). Its parent writes "+<pid>" when it starts a process and "-<pid>" once that
// process has exited, one a line on this process's stdin; when stdin closes (the parent exited or is
// done), every pid still listed gets SIGCONT (it may be paused) and SIGKILL, and this process exits.
// Started detached by churn.ts, so a Ctrl-C meant for the parent's process group does not end it first.
import { createInterface } from 'node:readline';

const pids = new Set<number>();
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const pid = Number(line.slice(1));
  if (!Number.isInteger(pid) || pid <= 1) return;
  if (line.startsWith('+')) pids.add(pid);
  else if (line.startsWith('-')) pids.delete(pid);
});
lines.on('close', () => {
  for (const pid of pids) {
    for (const signal of ['SIGCONT', 'SIGKILL'] as const) {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
  }
  process.exit(0);
});
