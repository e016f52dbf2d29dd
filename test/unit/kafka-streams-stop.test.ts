// A graceful stop commits every task before the instance leaves the group. Had it left first (as
// it once did), the tasks' new owners could read the committed offsets before the final commits
// landed, and process those records a second time. The Kafka client is a fake that records the
// order of what the engine does; the engine code under test is the real one.
import { mkdtempSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type * as KafkaStreamsModule from '../../src/runtime/kafka-streams.js';
import { StreamsBuilder } from '../../src/dsl/builder.js';
import type {
  ClusterAdmin,
  CommitWriter,
  GroupConsumer,
  GroupConsumerOptions,
  KafkaClient,
} from '../../src/kafka/client.js';
import { Serdes } from '../../src/serdes/index.js';
import { createLogger } from '../../src/util/logger.js';

const steps: string[] = [];

/** The application's group consumer: records leaving, and keeps the options to drive the engine. */
function recordingConsumer(recorded: boolean) {
  let options: GroupConsumerOptions | undefined;
  const consumer: GroupConsumer = {
    start: async () => undefined,
    rejoin: async () => undefined,
    restart: async () => undefined,
    stop: async () => void (recorded && steps.push('leave the group')),
    pause: () => undefined,
    resume: () => undefined,
    seek: () => undefined,
  };
  return { consumer, options: () => options!, given: (o: GroupConsumerOptions) => (options = o) };
}
const app = recordingConsumer(true);

/** A task's transactional producer that records the offsets each commit carries. */
const recordingWriter = (): CommitWriter => ({
  connect: async () => undefined,
  disconnect: async () => undefined,
  commit: async (_records, consumed) => {
    const offsets = [...consumed.offsets.values()].map((partitions) => [...partitions.values()].join()).join();
    if (offsets) steps.push(`commit offset ${offsets}`);
    return new Map();
  },
});

// Looking for hanging transactions talks to the broker itself (tested on the stack in
// test/integration/kafka-hanging-transactions.test.ts). This "broker" closes every connection
// unanswered, as an old broker does for a request it does not know: the task then goes on without.
const broker = createServer((socket) => socket.destroy());
await new Promise<void>((resolve) => broker.listen(0, '127.0.0.1', resolve));
t.teardown(() => broker.close());
const brokerPort = (broker.address() as AddressInfo).port;

const admin: ClusterAdmin = {
  connect: async () => undefined,
  disconnect: async () => undefined,
  listTopics: async () => ['in', 'out', 'app-dead-letters'],
  topicMetadata: async (topics) => topics.map((name) => ({ name, partitions: [{ partition: 0, leader: 1 }] })),
  brokers: async () => [{ nodeId: 1, host: '127.0.0.1', port: brokerPort }],
  createTopics: async () => undefined,
  highWatermarks: async () => new Map([[0, 0n]]),
  offsetsForTime: async () => new Map([[0, 0n]]),
  groupOffsets: async () => new Map([[0, 0n]]),
  describeGroup: async () => undefined,
  deleteGroups: async () => undefined,
  deleteTopics: async () => undefined,
  deleteRecords: async () => undefined,
};

t.test('stop: every task commits before the instance leaves the group', async (t) => {
  const client: KafkaClient = {
    admin: () => admin,
    // The application's group consumer is recorded; the standby reader's is not part of this test.
    groupConsumer: (options) => {
      if (options.groupId !== 'app') return recordingConsumer(false).consumer;
      app.given(options);
      return app.consumer;
    },
    taskWriter: recordingWriter,
  };
  const { KafkaStreams } = await t.mockImport<typeof KafkaStreamsModule>('../../src/runtime/kafka-streams.js', {
    '../../src/kafka/client.js': { createKafkaClient: () => client },
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
  app.options().onJoin!({ memberId: 'm1', generationId: 1, assignment: { in: [0] } });
  const deadline = Date.now() + 5000;
  while (!streams.ready && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  t.ok(streams.ready, 'the task runs');

  await app.options().eachBatch({
    topic: 'in',
    partition: 0,
    records: [{ topic: 'in', partition: 0, offset: '0', timestamp: 0, key: Buffer.from('k'), value: Buffer.from('v') }],
    fetchedOffset: 0n,
    nextOffset: 1n,
    stillValid: () => true,
    resolve: () => undefined,
    heartbeat: async () => undefined,
  });
  await streams.stop();
  t.same(steps, ['commit offset 1', 'leave the group'], 'the final commit, then leaving');
});
