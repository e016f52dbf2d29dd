/**
 * Update latency: a row changed in PostgreSQL until the change is visible over
 * HTTP. Each round updates a random user's description, commits, then polls
 * GET /users/:id every millisecond until the new description is served.
 *
 *   node --import tsx bench/update-latency.ts [--url http://127.0.0.1:3000] [--rounds 200]
 */
import pg from 'pg';
import { stack } from '../test/support/stack.js';
import { summarize } from './stats.js';

const args = new Map(process.argv.slice(2).map((a, i, all) => [a, all[i + 1] ?? '']));
const url = args.get('--url') || 'http://127.0.0.1:3000';
const rounds = Number(args.get('--rounds') || 200);

const db = new pg.Client(stack.postgres);
await db.connect();
const { rows } = await db.query<{ id: string }>('SELECT user_id::text AS id FROM users ORDER BY random() LIMIT $1', [
  rounds,
]);
const latencies: number[] = [];
for (const [i, { id }] of rows.entries()) {
  const marker = `bench ${Date.now()} ${i}`;
  await db.query('UPDATE users SET description = $2 WHERE user_id = $1', [id, marker]);
  const committed = performance.now();
  for (;;) {
    const response = await fetch(`${url}/users/${id}`);
    if (response.ok && ((await response.json()) as { description: string }).description === marker) break;
    if (performance.now() - committed > 30_000) throw new Error(`update of user ${id} not visible after 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  latencies.push(performance.now() - committed);
  if ((i + 1) % 50 === 0) process.stderr.write(`  ${i + 1}/${rows.length} updates\n`);
}
await db.end();
console.log(JSON.stringify({ benchmark: 'update-latency-ms', url, ...summarize(latencies) }));
