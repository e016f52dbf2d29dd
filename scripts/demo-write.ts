/**
 * The demo's read-your-writes example: renames the celebrity in PostgreSQL, takes the WAL position
 * right after the commit, and prints a curl line that reads the change back with X-Min-Position.
 *
 *   node --import tsx scripts/demo-write.ts <port>
 */
import pg from 'pg';
import { stack } from '../test/support/stack.js';

const port = process.argv[2] ?? '3000';
const userId = '1000000000001';
const db = new pg.Client(stack.postgres);
await db.connect();
try {
  const name = `Celebrity (renamed ${new Date().toISOString().slice(11, 19)})`;
  await db.query('UPDATE users SET name = $1 WHERE user_id = $2', [name, userId]);
  const { rows } = await db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  console.log(
    `  # committed: UPDATE users SET name = '${name}' WHERE user_id = ${userId}; then pg_current_wal_lsn() = ${rows[0]!.lsn}`,
  );
  console.log(
    `  curl -i -H 'X-Min-Position: ${rows[0]!.lsn}' http://127.0.0.1:${port}/users/${userId}   # read-your-writes: waits until the view has it`,
  );
} finally {
  await db.end();
}
