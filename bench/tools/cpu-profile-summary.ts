/**
 * Summarizes V8 CPU profiles (`--cpu-prof`, e.g. written by the instances a
 * bench starts with BENCH_CPU_PROF_DIR set): the functions with the most
 * samples, by self time and inclusive of callees, optionally within a time
 * window of the profile (seconds from its start), to look at one phase of a
 * long run.
 *
 *   node --import tsx bench/tools/cpu-profile-summary.ts [--from S] [--to S] [--top N] <file.cpuprofile>...
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const usage =
  'usage: node --import tsx bench/tools/cpu-profile-summary.ts [--from S] [--to S] [--top N] <file.cpuprofile>...';
const files: string[] = [];
let from = 0;
let to = Infinity;
let top = 25;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i]!;
  const number = () => {
    const value = Number(argv[++i]);
    if (!Number.isFinite(value) || value < 0)
      throw new Error(`${arg} needs a number of seconds (or a count)\n${usage}`);
    return value;
  };
  if (arg === '--from') from = number();
  else if (arg === '--to') to = number();
  else if (arg === '--top') top = number();
  else if (arg.startsWith('--')) throw new Error(`unknown option ${arg}\n${usage}`);
  else files.push(arg);
}
if (files.length === 0) throw new Error(usage);

const frameName = (f: CallFrame) => `${f.functionName || '(anon)'} ${basename(f.url) || ''}:${f.lineNumber}`;
const percent = (n: number, total: number) => `${((100 * n) / total).toFixed(1).padStart(5)}%`;

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);

  // Samples per node within the window (timeDeltas are microseconds since the previous sample).
  const perNode = new Map<number, number>();
  let at = 0;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    const seconds = at / 1e6;
    if (seconds >= from && seconds < to) perNode.set(id, (perNode.get(id) ?? 0) + 1);
  });
  let total = 0;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, count] of perNode) {
    total += count;
    const name = frameName(byId.get(id)!.callFrame);
    self.set(name, (self.get(name) ?? 0) + count);
    const seen = new Set<string>();
    for (let node: number | undefined = id; node !== undefined; node = parentOf.get(node)) {
      const n = frameName(byId.get(node)!.callFrame);
      if (seen.has(n)) continue;
      seen.add(n);
      inclusive.set(n, (inclusive.get(n) ?? 0) + count);
    }
  }
  if (total === 0) {
    console.log(`== ${basename(file)}: no samples between ${from} s and ${to} s`);
    continue;
  }
  const idle = [...self].filter(([n]) => n.startsWith('(idle)') || n.startsWith('(program)'));
  const window = to === Infinity ? `from ${from} s` : `${from}-${to} s`;
  console.log(
    `== ${basename(file)}: ${total} samples ${window} of ${((profile.endTime - profile.startTime) / 1e6).toFixed(0)} s, ` +
      `idle+program ${percent(
        idle.reduce((a, [, c]) => a + c, 0),
        total,
      ).trim()}`,
  );
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [name, count] of sorted(self)) console.log(`  self ${percent(count, total)}  ${name}`);
  console.log('  -- inclusive');
  for (const [name, count] of sorted(inclusive)) console.log(`  incl ${percent(count, total)}  ${name}`);
}
