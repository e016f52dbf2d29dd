// Compares what the service serves over HTTP with the oracle computed from PostgreSQL.
import pg from 'pg';
import { expectedUsers } from './oracle.js';
import { stack } from './stack.js';

export interface Mismatch {
  url: string;
  userId: string;
  expected: unknown;
  actual: unknown;
}

/** Asks every given instance for every user; returns the differences (empty = all match). */
export async function compareWithOracle(urls: string[], userIds: string[]): Promise<Mismatch[]> {
  const db = new pg.Client(stack.postgres);
  await db.connect();
  const expected = await expectedUsers(db, userIds).finally(() => db.end());
  const mismatches: Mismatch[] = [];
  for (const url of urls) {
    for (let i = 0; i < userIds.length; i += 20) {
      await Promise.all(
        userIds.slice(i, i + 20).map(async (userId) => {
          const response = await fetch(`${url}/users/${userId}`);
          const actual = response.status === 200 ? await response.json() : response.status;
          const want = expected.get(userId) ?? 404;
          if (JSON.stringify(actual) !== JSON.stringify(want)) mismatches.push({ url, userId, expected: want, actual });
        }),
      );
    }
  }
  return mismatches;
}
