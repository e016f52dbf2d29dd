import t from 'tap';
import { Histogram, Registry } from 'prom-client';
import { HotPathHistogram } from '../../src/runtime/hot-path-histogram.js';

const buckets = [0.005, 0.05, 0.5, 1, 5];
const observations = [0, 0.005, 0.0051, 0.04, 0.05, 0.3, 0.5, 0.9, 1, 4.99, 5, 5.01, 120];

t.test("the exposition is prom-client's histogram's, line for line", async (t) => {
  const ours = new Registry();
  const theirs = new Registry();
  const hot = new HotPathHistogram({
    name: 'age_seconds',
    help: 'Age.',
    labelNames: ['topic'],
    buckets,
    registers: [ours],
  });
  const reference = new Histogram({
    name: 'age_seconds',
    help: 'Age.',
    labelNames: ['topic'],
    buckets,
    registers: [theirs],
  });
  for (const topic of ['a', 'b\\"quoted\n']) {
    const child = hot.labels({ topic });
    for (const value of topic === 'a' ? observations : observations.slice(3)) {
      child.observe(value);
      reference.labels({ topic }).observe(value);
    }
  }
  t.equal(await ours.metrics(), await theirs.metrics(), 'the text /metrics serves');
});

t.test('a child is made once per label values and reset empties it', async (t) => {
  const registry = new Registry();
  const hot = new HotPathHistogram({
    name: 'x_seconds',
    help: 'X.',
    labelNames: ['topic'],
    buckets,
    registers: [registry],
  });
  t.equal(hot.labels({ topic: 'a' }), hot.labels({ topic: 'a' }));
  hot.labels({ topic: 'a' }).observe(0.2);
  t.match(await registry.metrics(), /x_seconds_count\{topic="a"\} 1/);
  registry.resetMetrics();
  t.match(await registry.metrics(), /x_seconds_count\{topic="a"\} 0/);
  t.throws(
    () => new HotPathHistogram({ name: 'x_seconds', help: 'X.', labelNames: [], buckets, registers: [registry] }),
    /already been registered/,
    'a second metric of the same name is refused, as prom-client refuses it',
  );
});
