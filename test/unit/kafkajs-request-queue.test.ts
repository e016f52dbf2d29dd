// Our kafkajs patch (patches/kafkajs+2.2.4.patch): a connection's request queue checks for pending
// requests on a timer only while some are pending. Unpatched, every connection that had a response
// re-armed a 1 ms timer forever (its throttle time, in the past, made a negative delay): an idle
// engine thread woke 1,000 times a second.
import { createRequire } from 'node:module';
import t from 'tap';

/** The parts of kafkajs' (untyped, CommonJS) RequestQueue this test uses. */
interface RequestQueue {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}
type RequestQueueClass = new (options: Record<string, unknown>) => RequestQueue;

const require = createRequire(import.meta.url);
const RequestQueueClass = require('kafkajs/src/network/requestQueue/index.js') as RequestQueueClass;
const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const queue = () =>
  new RequestQueueClass({
    maxInFlightRequests: 1,
    requestTimeout: 30_000,
    enforceRequestTimeout: false,
    clientId: 'test',
    broker: '127.0.0.1:9092',
    logger: silent,
  });

t.test('nothing pending: no timer, whatever the throttle time', async (t) => {
  const q = queue();
  q.checkPendingRequests(); // as after every response
  t.equal(q.throttleCheckTimeoutId, null, 'never throttled');
  q.throttledUntil = Date.now() - 60_000;
  q.checkPendingRequests();
  t.equal(q.throttleCheckTimeoutId, null, 'a throttle that ended long ago');
});

t.test('a pending request while throttled is still checked when the throttle ends', async (t) => {
  const q = queue();
  q.throttledUntil = Date.now() + 50;
  q.pending.push({});
  q.scheduleCheckPendingRequests();
  t.not(q.throttleCheckTimeoutId, null, 'a check is scheduled');
  clearTimeout(q.throttleCheckTimeoutId!);
});
