// A graceful stop commits every task before the instance leaves the group. Had it left first (as
// it once did), the tasks' new owners could read the committed offsets before the final commits
// landed, and process those records a second time. The Kafka clients are fakes that record the
// order of what the engine does; the engine code under test is the real one.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type * as KafkaStreamsModule from '../../src/runtime/kafka-streams.js';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import { Serdes } from '../../src/serdes/index.js';
import { createLogger } from '../../src/util/logger.js';

const steps: string[] = [];
type Listener = (event: { payload: unknown }) => void;
type EachBatch = (payload: unknown) => Promise<void>;

/** The kafkajs consumer, as far as the engine uses it. */
class FakeConsumer {
  constructor(private readonly recorded = true) {}
  readonly events = { GROUP_JOIN: 'join', END_BATCH_PROCESS: 'end-batch', CRASH: 'crash', FETCH: 'fetch' };
  readonly listeners = new Map<string, Listener[]>();
  eachBatch: EachBatch | undefined;
  on(event: string, listener: Listener) {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
  }
  emit(event: string, payload: unknown) {
    for (const listener of this.listeners.get(event) ?? []) listener({ payload });
  }
  async connect() {}
  async subscribe() {}
  async run(options: { eachBatch: EachBatch }) {
    this.eachBatch = options.eachBatch;
  }
  pause() {}
  resume() {}
  seek() {}
  async stop() {
    if (this.recorded) steps.push('leave the group');
  }
  async disconnect() {
    if (this.recorded) steps.push('leave the group');
  }
}
const consumer = new FakeConsumer();

/** A kafkajs transactional producer that records the offsets each committed transaction carries. */
function recordingProducer() {
  return {
    connect: async () => undefined,
    disconnect: async () => undefined,
    transaction: async () => {
      let offsets = '';
      return {
        sendBatch: async () => [],
        sendOffsets: async ({ topics }: { topics: Array<{ partitions: Array<{ offset: string }> }> }) => {
          offsets = topics.map((topic) => topic.partitions.map((p) => p.offset).join()).join();
        },
        commit: async () => void (offsets && steps.push(`commit offset ${offsets}`)),
        abort: async () => undefined,
      };
    },
  };
}

t.test('stop: every task commits before the instance leaves the group', async (t) => {
  const { KafkaStreams } = await t.mockImport<typeof KafkaStreamsModule>('../../src/runtime/kafka-streams.js', {
    '../../src/kafka/client.js': {
      createKafka: () => ({
        admin: () => ({
          connect: async () => undefined,
          disconnect: async () => undefined,
          listTopics: async () => ['in', 'out', 'app-dead-letters'],
          fetchTopicMetadata: async ({ topics }: { topics: string[] }) => ({
            topics: topics.map((name) => ({ name, partitions: [{ partitionId: 0, leader: 1 }] })),
          }),
          fetchTopicOffsets: async () => [{ partition: 0, high: '0', low: '0' }],
          fetchOffsets: async () => [{ topic: 'in', partitions: [{ partition: 0, offset: '0' }] }],
          describeCluster: async () => ({ brokers: [{ nodeId: 1 }] }),
          describeGroups: async () => ({ groups: [] }),
          deleteGroups: async () => undefined,
        }),
        // The application's group consumer is recorded; the standby reader's is not part of this test.
        consumer: ({ groupId }: { groupId: string }) => (groupId === 'app' ? consumer : new FakeConsumer(false)),
        producer: recordingProducer,
      }),
    },
  });
  const builder = new StreamsBuilder();
  builder
    .stream('in', { keySerde: Serdes.string, valueSerde: Serdes.string })
    .to('out', { keySerde: Serdes.string, valueSerde: Serdes.string });
  const streams = new KafkaStreams(
    builder.build(),
    {
      applicationId: 'app',
      brokers: ['127.0.0.1:1'],
      stateDir: mkdtempSync(join(tmpdir(), 'uis-stop-')),
      endpoint: '127.0.0.1:1',
      commitIntervalMs: 60_000, // no commit but the final one
      // The per-task producer is the one stood in for here; exactly_once_v2's instance producer talks
      // to the broker itself (tested on it in test/integration/kafka-group-transactions.test.ts).
      processingGuarantee: 'exactly_once',
    },
    { logger: createLogger('error') },
  );
  await streams.start();
  consumer.emit('join', { memberAssignment: { in: [0] }, memberId: 'm1' });
  const deadline = Date.now() + 5000;
  while (!streams.ready && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  t.ok(streams.ready, 'the task runs');

  await consumer.eachBatch!({
    batch: {
      topic: 'in',
      partition: 0,
      messages: [{ offset: '0', timestamp: '0', key: Buffer.from('k'), value: Buffer.from('v') }],
      lastOffset: () => '0',
    },
    resolveOffset: () => undefined,
    heartbeat: async () => undefined,
    isRunning: () => true,
    isStale: () => false,
  });
  await streams.stop();
  t.same(steps, ['commit offset 1', 'leave the group'], 'the final commit, then leaving');
});
