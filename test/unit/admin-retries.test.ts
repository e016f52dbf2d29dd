// Admin calls at start retry what Kafka calls retriable, also after the client gave up on it itself.
import t from 'tap';
import { withRetries } from '../../src/kafka/admin.js';

t.test('a topic not known yet to the answering broker is retried', async (t) => {
  let calls = 0;
  const value = await withRetries(async () => {
    if (++calls < 3)
      throw Object.assign(new Error('This server does not host this topic-partition'), { retriable: false });
    return 'metadata';
  });
  t.equal(value, 'metadata');
  t.equal(calls, 3, 'two failures, then the answer');
});

t.test('other errors are not retried', async (t) => {
  let calls = 0;
  await t.rejects(
    withRetries(async () => {
      calls++;
      throw new Error('Topic authorization failed');
    }),
    /authorization/,
  );
  t.equal(calls, 1);
});

t.test('retries end after the attempts given', async (t) => {
  let calls = 0;
  await t.rejects(
    withRetries(async () => {
      calls++;
      throw Object.assign(new Error('leader not available'), { retriable: true });
    }, 3),
    /leader not available/,
  );
  t.equal(calls, 3);
});
